import { afterAll, describe, expect, it } from "vitest";
import { PgStore } from "../../src/store/postgres/pg-store.js";
import { isFencedOut } from "../../src/store/store-errors.js";
import type { ClusterMembership } from "../../src/store/cluster.js";
import type { WriteOp } from "../../src/store/store.js";
import { dropSchema, schemaUrl } from "../helpers/postgres.js";
import { event, message } from "./contract.js";

/**
 * The fences of a cluster member's commits, for one op alone and for many merged into one statement: starts only by
 * the leader of the current epoch (recording the node), outcomes only on the node that ran the attempt.
 */

const made: string[] = [];
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  for (const url of made) await dropSchema(url);
});

/** A node on the schema of `url`, registered; it leads if it claims the leadership first. */
async function node(url: string, nodeId: string): Promise<{ store: PgStore; membership: ClusterMembership; epoch: number | undefined }> {
  const store = await PgStore.open(url);
  const membership = store.joinCluster(nodeId, { leaseMs: 30_000, info: {} });
  closers.push(() => store.close(), () => membership.close());
  await membership.register();
  const beat = await membership.heartbeat(undefined);
  return { store, membership, epoch: beat.leaderEpoch };
}

async function twoNodes() {
  const url = schemaUrl();
  made.push(url);
  const leader = await node(url, "node-a");
  const other = await node(url, "node-b");
  return { leader, other };
}

const start = (id: string): WriteOp => ({ op: "updateMessage", id, expectState: "pending", state: "active", retried: 0, dueMs: 1, events: [event(id, "ACTIVE", 2)] });
const outcome = (id: string, owner: string | null): WriteOp => ({
  op: "updateMessage", id, expectState: "active", state: "delivered", retried: 1, dueMs: 1, finishedMs: 3, owner, events: [event(id, "DELIVERED", 3)],
});
const logOf = async (s: PgStore) => (await s.listEvents("u1", {}, { count: 100, asc: true })).items.map((e) => `${e.messageId}:${e.state}`);

describe("PostgreSQL cluster commits", () => {
  it("only the leader starts attempts, alone or many in one commit, and each start records the node", async () => {
    const { leader, other } = await twoNodes();
    expect(leader.epoch).toBeTypeOf("number");
    expect(other.epoch).toBeUndefined();
    const ids = ["m1", "m2", "m3", "m4"];
    await leader.store.commit(ids.map((id) => ({ op: "insertMessage", message: message({ id }) })));

    expect(await other.store.commit([start("m1")])).toEqual([{ applied: false }]);
    expect(await other.store.commit([start("m2"), start("m3")])).toEqual([{ applied: false }, { applied: false }]);
    expect(await logOf(leader.store)).toEqual([]);

    expect(await leader.store.commit([start("m1")])).toEqual([{ applied: true }]);
    expect(await leader.store.commit([start("m2"), start("m3"), start("m1")])).toEqual([{ applied: true }, { applied: true }, { applied: false }]);
    const got = await leader.store.getMessagesById(ids);
    expect(got.map((m) => [m.id, m.state, m.nodeId])).toEqual([
      ["m1", "active", "node-a"],
      ["m2", "active", "node-a"],
      ["m3", "active", "node-a"],
      ["m4", "pending", undefined],
    ]);
    expect(await logOf(leader.store)).toEqual(["m1:ACTIVE", "m2:ACTIVE", "m3:ACTIVE"]);
  });

  it("outcomes apply on the node that ran the attempt; one taken over refuses the whole commit with the fenced-out error", async () => {
    const { leader, other } = await twoNodes();
    // Messages inserted active are in flight on the node that stored them.
    await leader.store.commit(["a1", "a2", "a3", "a4"].map((id) => ({ op: "insertMessage", message: message({ id, state: "active" }) })));
    await other.store.commit([{ op: "insertMessage", message: message({ id: "b1", state: "active" }) }]);
    expect((await leader.store.getMessage("u1", "b1"))!.nodeId).toBe("node-b");

    expect(await leader.store.commit([outcome("a1", "node-a")])).toEqual([{ applied: true }]);
    expect(await leader.store.commit([outcome("a2", "node-a"), outcome("a3", "node-a")])).toEqual([{ applied: true }, { applied: true }]);

    for (const ops of [[outcome("b1", "node-a")], [outcome("a4", "node-a"), outcome("b1", "node-a")]]) {
      const err = await leader.store.commit([{ op: "insertDlq", entry: { dlqId: "d1", userId: "u1", messageId: "a4", createdMs: 1 } }, ...ops]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isFencedOut(err)).toBe(true);
    }
    const states = (await leader.store.getMessagesById(["a1", "a2", "a3", "a4", "b1"])).map((m) => [m.id, m.state, m.nodeId]);
    expect(states).toEqual([
      ["a1", "delivered", undefined],
      ["a2", "delivered", undefined],
      ["a3", "delivered", undefined],
      ["a4", "active", "node-a"],
      ["b1", "active", "node-b"],
    ]);
    expect(await leader.store.getDlq("u1", "d1")).toBeUndefined();
    expect(await logOf(leader.store)).toEqual(["a1:DELIVERED", "a2:DELIVERED", "a3:DELIVERED"]);
    // The node that ran it finishes it.
    expect(await other.store.commit([outcome("b1", "node-b")])).toEqual([{ applied: true }]);
  });
});
