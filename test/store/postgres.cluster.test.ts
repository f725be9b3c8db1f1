import { afterAll, describe, expect, it } from "vitest";
import { PgStore } from "../../src/store/postgres/pg-store.js";
import type { ClusterMembership, ClusterNews } from "../../src/store/cluster.js";
import { isCancelAsked, isFencedOut } from "../../src/store/store-errors.js";
import type { FlowWindow } from "../../src/store/store.js";
import { dropSchema, schemaUrl } from "../helpers/postgres.js";
import { MAX_ENTRIES_PER_KIND } from "../../src/store/postgres/news.js";
import { event, message, schedule as storedScheduleOf } from "./contract.js";

/**
 * The PostgreSQL store as a node of a cluster: two stores on one schema stand for two nodes. What the fences and
 * leases promise is checked here against the real database; the same promises under real processes and faults are
 * in test/cluster/.
 */

const made: string[] = [];
const opened: { store: PgStore; member: ClusterMembership }[] = [];
afterAll(async () => {
  for (const o of opened) {
    await o.member.close();
    await o.store.close();
  }
  for (const url of made) await dropSchema(url);
});

const LEASE_MS = 1000;

async function node(url: string, nodeId: string): Promise<{ store: PgStore; member: ClusterMembership }> {
  const store = await PgStore.open(url);
  const member = store.joinCluster(nodeId, { leaseMs: LEASE_MS, info: { test: true } });
  await member.register();
  const o = { store, member };
  opened.push(o);
  return o;
}

function freshSchema(): string {
  const url = schemaUrl();
  made.push(url);
  return url;
}

const start = (id: string) => ({ op: "updateMessage" as const, id, expectState: "pending" as const, state: "active" as const, retried: 0, dueMs: 0 });
const finish = (id: string, owner: string | null) => ({ op: "updateMessage" as const, id, expectState: "active" as const, state: "delivered" as const, retried: 1, dueMs: 0, finishedMs: 9, owner });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("PostgreSQL store in a cluster", () => {
  it("one node leads at a time; only the leader's starts apply, and a start after a takeover does not", async () => {
    const url = freshSchema();
    const a = await node(url, "node-a");
    const b = await node(url, "node-b");
    const ha = await a.member.heartbeat(undefined);
    const hb = await b.member.heartbeat(undefined);
    expect(ha).toEqual({ alive: true, leaderEpoch: 1 });
    expect(hb).toEqual({ alive: true, leaderEpoch: undefined });
    await a.store.commit([{ op: "insertMessage", message: message({ id: "m1" }) }, { op: "insertMessage", message: message({ id: "m2" }) }]);
    // The follower's start is refused (not leading), the leader's applies.
    expect((await b.store.commit([start("m1")]))[0].applied).toBe(false);
    expect((await a.store.commit([start("m1")]))[0].applied).toBe(true);
    expect((await a.store.getMessage("u1", "m1"))?.nodeId).toBe("node-a");
    // a stops renewing while b goes on: once both of a's leases pass, b takes the leadership (epoch 2), not before,
    // and a's starts stop applying.
    let claimed: number | undefined;
    const silentSince = Date.now();
    for (let i = 0; i < 12 && claimed === undefined; i++) {
      await sleep(LEASE_MS / 4);
      claimed = (await b.member.heartbeat(undefined)).leaderEpoch;
    }
    expect(claimed).toBe(2);
    expect(Date.now() - silentSince).toBeGreaterThanOrEqual(LEASE_MS - 50);
    expect((await a.store.commit([start("m2")]))[0].applied).toBe(false);
    expect((await b.store.commit([start("m2")]))[0].applied).toBe(true);
    // a's lease had passed: it can never renew it again.
    expect(await a.member.heartbeat(1)).toEqual({ alive: false });
  });

  it("an outcome is refused, with everything committed with it, unless the message is still in flight on its node", async () => {
    const url = freshSchema();
    const a = await node(url, "node-a");
    expect((await a.member.heartbeat(undefined)).leaderEpoch).toBe(1);
    await a.store.commit([{ op: "insertMessage", message: message({ id: "m1", state: "active" }) }]);
    expect((await a.store.getMessage("u1", "m1"))?.nodeId).toBe("node-a");
    // Another node's outcome for it fails the whole commit, its DLQ entry included.
    const err = await a.store
      .commit([finish("m1", "node-gone"), { op: "insertDlq", entry: { dlqId: "d1", userId: "u1", messageId: "m1", createdMs: 9 } }])
      .catch((e: unknown) => e);
    expect(isFencedOut(err)).toBe(true);
    expect(await a.store.getDlq("u1", "d1")).toBeUndefined();
    expect((await a.store.getMessage("u1", "m1"))?.state).toBe("active");
    expect((await a.store.commit([finish("m1", "node-a")]))[0].applied).toBe(true);
    expect((await a.store.getMessage("u1", "m1"))?.state).toBe("delivered");
  });

  it("lists as orphans only the active messages of nodes whose lease has passed", async () => {
    const url = freshSchema();
    const a = await node(url, "node-a");
    const b = await node(url, "node-b");
    await a.store.commit([{ op: "insertMessage", message: message({ id: "on-a", state: "active" }) }]);
    await b.store.commit([{ op: "insertMessage", message: message({ id: "on-b", state: "active" }) }]);
    expect(await a.store.listActive()).toEqual([]);
    // b falls silent; a keeps renewing.
    for (let i = 0; i < 6; i++) {
      await sleep(LEASE_MS / 4);
      expect((await a.member.heartbeat(undefined)).alive).toBe(true);
    }
    const orphans = await a.store.listActive();
    expect(orphans.map((m) => [m.id, m.nodeId])).toEqual([["on-b", "node-b"]]);
  });

  it("tells the other nodes what a commit stored and changed, once per commit, and not the node itself", async () => {
    const url = freshSchema();
    const a = await node(url, "node-a");
    const b = await node(url, "node-b");
    const heardByA: ClusterNews[] = [];
    const heardByB: ClusterNews[] = [];
    await a.member.listen((n) => heardByA.push(n), () => undefined);
    await b.member.listen((n) => heardByB.push(n), () => undefined);
    const now = Date.now();
    await a.store.commit([
      { op: "insertMessage", message: message({ id: "soon", dueMs: now + 1000 }) },
      { op: "insertMessage", message: message({ id: "much-later", dueMs: now + 3_600_000 }) },
      { op: "insertMessage", message: message({ id: "running", state: "active" }) },
      { op: "putQueue", queue: { userId: "u1", name: "q", parallelism: 2, paused: false, createdAtMs: 1, updatedAtMs: 1 } },
    ]);
    await a.store.commit([{ op: "requestCancel", userId: "u1", id: "running", events: [event("running", "CANCEL_REQUESTED", 2)] }]);
    for (let i = 0; i < 50 && heardByB.length < 2; i++) await sleep(20);
    expect(heardByB).toEqual([
      { from: "node-a", due: [["soon", now + 1000]], cancels: [], changed: [], entries: { queues: [["u1", "q"]] }, leaderReleased: false },
      { from: "node-a", due: [], cancels: ["running"], changed: [], entries: {}, leaderReleased: false },
    ]);
    expect(heardByA).toEqual([]);
    expect(await b.member.cancelsRequested(["running", "soon"])).toEqual(["running"]);
  });

  it("names the schedules, URL groups and queues a commit changed, and asks for a whole read of a kind it changed too many of", async () => {
    const url = freshSchema();
    const a = await node(url, "node-a");
    const b = await node(url, "node-b");
    const heard: ClusterNews[] = [];
    await b.member.listen((n) => heard.push(n), () => undefined);
    const schedule = (id: string) => ({ op: "putSchedule" as const, schedule: storedScheduleOf({ id }) });
    const group = { userId: "u1", name: "g1", createdAtMs: 1, updatedAtMs: 1, endpoints: [{ url: "http://127.0.0.1:1/x" }] };
    await a.store.commit([schedule("s1"), schedule("s2"), schedule("s1"), { op: "putUrlGroup", group, expectUpdatedAtMs: null }]);
    await a.store.commit([{ op: "deleteSchedule", userId: "u1", id: "s2" }, { op: "deleteUrlGroup", userId: "u1", name: "g1" }, { op: "deleteQueue", userId: "u1", name: "q1" }]);
    await a.store.commit(Array.from({ length: MAX_ENTRIES_PER_KIND + 1 }, (_, i) => schedule(`many-${i}`)));
    for (let i = 0; i < 50 && heard.length < 3; i++) await sleep(20);
    expect(heard.map((n) => [n.changed, n.entries])).toEqual([
      [[], { schedules: [["u1", "s1"], ["u1", "s2"]], urlGroups: [["u1", "g1"]] }],
      [[], { schedules: [["u1", "s2"]], urlGroups: [["u1", "g1"]], queues: [["u1", "q1"]] }],
      [["schedules"], {}],
    ]);
  });

  it("a node that leaves lets the leadership go at once", async () => {
    const url = freshSchema();
    const a = await node(url, "node-a");
    const b = await node(url, "node-b");
    const heard: ClusterNews[] = [];
    await b.member.listen((n) => heard.push(n), () => undefined);
    expect((await a.member.heartbeat(undefined)).leaderEpoch).toBe(1);
    expect((await b.member.heartbeat(undefined)).leaderEpoch).toBeUndefined();
    await a.member.leave(1);
    for (let i = 0; i < 50 && heard.length < 1; i++) await sleep(20);
    expect(heard.map((n) => n.leaderReleased)).toEqual([true]);
    expect((await b.member.heartbeat(undefined)).leaderEpoch).toBe(2);
  });

  it("an outcome other than a delivery of a message asked to cancel elsewhere is refused, so it is written as the cancel", async () => {
    const url = freshSchema();
    const a = await node(url, "node-a");
    await a.store.commit([
      { op: "insertMessage", message: message({ id: "r1", state: "active" }) },
      { op: "insertMessage", message: message({ id: "d1", state: "active" }) },
    ]);
    const ask = (id: string) => ({ op: "requestCancel" as const, userId: "u1", id, events: [event(id, "CANCEL_REQUESTED", 3)] });
    await a.store.commit([ask("r1"), ask("d1")]);
    const retry = { ...finish("r1", "node-a"), state: "pending" as const, finishedMs: undefined };
    // Alone, and merged with another move in one statement.
    expect(isCancelAsked(await a.store.commit([retry]).catch((e: unknown) => e))).toBe(true);
    expect(isCancelAsked(await a.store.commit([retry, finish("d1", "node-a")]).catch((e: unknown) => e))).toBe(true);
    expect((await a.store.getMessage("u1", "d1"))?.state).toBe("active");
    // A delivery stands (the cancel came too late), and the cancel itself is written.
    expect((await a.store.commit([finish("d1", "node-a"), { ...finish("r1", "node-a"), state: "cancelled" as const }])).map((r) => r.applied)).toEqual([true, true]);
    expect((await a.store.getMessage("u1", "r1"))?.state).toBe("cancelled");
  });

  it("a queue message starts only when no older one of its queue due by then is still pending", async () => {
    const url = freshSchema();
    const a = await node(url, "node-a");
    expect((await a.member.heartbeat(undefined)).leaderEpoch).toBe(1);
    await a.store.commit([
      { op: "insertMessage", message: message({ id: "q1", queueName: "q", dueMs: 5 }) },
      { op: "insertMessage", message: message({ id: "q2", queueName: "q", dueMs: 5 }) },
      { op: "insertMessage", message: message({ id: "q3", queueName: "q", dueMs: 5 }) },
      { op: "insertMessage", message: message({ id: "late", queueName: "q", dueMs: 9_000 }) },
      { op: "insertMessage", message: message({ id: "q9", queueName: "q", dueMs: 6 }) },
    ]);
    const startAt = (id: string, dueMs: number) => ({ ...start(id), dueMs });
    expect((await a.store.commit([startAt("q2", 5)]))[0].applied).toBe(false);
    // Several in one statement: the older ones this wave starts do not count.
    expect((await a.store.commit([startAt("q1", 5), startAt("q2", 5)])).map((r) => r.applied)).toEqual([true, true]);
    expect((await a.store.commit([startAt("q9", 6)]))[0].applied).toBe(false);
    expect((await a.store.commit([startAt("q3", 5)]))[0].applied).toBe(true);
    // An older message due later (a retry waiting) does not hold a newer one back.
    expect((await a.store.commit([startAt("q9", 6)]))[0].applied).toBe(true);
  });

  // Only the leader counts starts, so only its rate windows are saved: a leader that lost its lease (frozen past it,
  // still believing it leads) must not overwrite the windows of the leader that took over.
  it("saves the leader's windows only: a follower's, and a zombie leader's after a takeover, are not applied", async () => {
    const url = freshSchema();
    const a = await node(url, "node-a");
    const b = await node(url, "node-b");
    expect((await a.member.heartbeat(undefined)).leaderEpoch).toBe(1);
    expect((await b.member.heartbeat(undefined)).leaderEpoch).toBeUndefined();

    expect(await a.store.commit([{ op: "putFlowWindows", windows: flowWindows(10, 1) }])).toEqual([{ applied: true }]);
    expect(await b.store.commit([{ op: "putFlowWindows", windows: flowWindows(20, 5) }])).toEqual([{ applied: false }]);
    expect(await b.store.listFlowWindows()).toEqual(flowWindows(10, 1));

    // a goes silent (it still believes it leads in epoch 1); b takes over once a's leases have passed.
    let claimed: number | undefined;
    for (let i = 0; i < 16 && claimed === undefined; i++) {
      await sleep(LEASE_MS / 4);
      claimed = (await b.member.heartbeat(undefined)).leaderEpoch;
    }
    expect(claimed).toBe(2);
    expect(await b.store.commit([{ op: "putFlowWindows", windows: flowWindows(30, 2) }])).toEqual([{ applied: true }]);
    // The zombie's write, alone or with other ops in one commit, leaves b's windows and the rest of the commit.
    expect(await a.store.commit([{ op: "putFlowWindows", windows: flowWindows(40, 9) }])).toEqual([{ applied: false }]);
    expect(await a.store.commit([
      { op: "putFlowSettings", userId: "u1", key: "k1", settings: { paused: true } },
      { op: "putFlowWindows", windows: flowWindows(50, 9) },
    ])).toEqual([{ applied: true }, { applied: false }]);
    expect((await b.store.listFlowWindows()).sort((x, y) => x.key.localeCompare(y.key))).toEqual(flowWindows(30, 2));
    expect(await b.store.listFlowSettings()).toEqual([{ userId: "u1", key: "k1", settings: { paused: true } }]);
  });
});

const flowWindows = (startMs: number, count: number): FlowWindow[] => [
  { userId: "u1", key: "k1", startMs, count },
  { userId: "u1", key: "k2", startMs, count: count + 1 },
];
