import { afterAll, describe, expect, it } from "vitest";
import type { ClusterMembership } from "../../src/store/cluster.js";
import { PgStore } from "../../src/store/postgres/pg-store.js";
import type { FlowWindow } from "../../src/store/store.js";
import { dropSchema, schemaUrl } from "../helpers/postgres.js";

/**
 * Rate windows in a cluster: only the leader counts starts, so only its windows are saved, and a leader that lost
 * its lease (a zombie: frozen past it, still believing it leads) cannot overwrite the windows of the leader that
 * took over. Two stores on one schema stand for two nodes.
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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function node(url: string, nodeId: string): Promise<{ store: PgStore; member: ClusterMembership }> {
  const store = await PgStore.open(url);
  const member = store.joinCluster(nodeId, { leaseMs: LEASE_MS, info: {} });
  await member.register();
  const o = { store, member };
  opened.push(o);
  return o;
}

const windows = (startMs: number, count: number): FlowWindow[] => [
  { userId: "u1", key: "k1", startMs, count },
  { userId: "u1", key: "k2", startMs, count: count + 1 },
];

describe("PostgreSQL store in a cluster: rate windows", () => {
  it("saves the leader's windows only: a follower's, and a zombie leader's after a takeover, are not applied", async () => {
    const url = schemaUrl();
    made.push(url);
    const a = await node(url, "node-a");
    const b = await node(url, "node-b");
    expect((await a.member.heartbeat(undefined)).leaderEpoch).toBe(1);
    expect((await b.member.heartbeat(undefined)).leaderEpoch).toBeUndefined();

    expect(await a.store.commit([{ op: "putFlowWindows", windows: windows(10, 1) }])).toEqual([{ applied: true }]);
    expect(await b.store.commit([{ op: "putFlowWindows", windows: windows(20, 5) }])).toEqual([{ applied: false }]);
    expect(await b.store.listFlowWindows()).toEqual(windows(10, 1));

    // a goes silent (it still believes it leads in epoch 1); b takes over once a's leases have passed.
    let claimed: number | undefined;
    for (let i = 0; i < 16 && claimed === undefined; i++) {
      await sleep(LEASE_MS / 4);
      claimed = (await b.member.heartbeat(undefined)).leaderEpoch;
    }
    expect(claimed).toBe(2);
    expect(await b.store.commit([{ op: "putFlowWindows", windows: windows(30, 2) }])).toEqual([{ applied: true }]);
    // The zombie's write, alone or with other ops in one commit, leaves b's windows and the rest of the commit.
    expect(await a.store.commit([{ op: "putFlowWindows", windows: windows(40, 9) }])).toEqual([{ applied: false }]);
    expect(await a.store.commit([
      { op: "putFlowSettings", userId: "u1", key: "k1", settings: { paused: true } },
      { op: "putFlowWindows", windows: windows(50, 9) },
    ])).toEqual([{ applied: true }, { applied: false }]);
    expect((await b.store.listFlowWindows()).sort((x, y) => x.key.localeCompare(y.key))).toEqual(windows(30, 2));
    expect(await b.store.listFlowSettings()).toEqual([{ userId: "u1", key: "k1", settings: { paused: true } }]);
  });
});
