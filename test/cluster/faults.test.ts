import { afterEach, describe, expect, it } from "vitest";
import { Cluster, LEASE_MS, type ClusterNode } from "../helpers/cluster.js";
import { CountingReceiver } from "../helpers/counting-receiver.js";
import { eventually } from "../helpers/receiver.js";
import { auditMixedLoad } from "./audit.js";
import { MixedLoad, sleep } from "./mixed-load.js";

/**
 * Three nodes on one PostgreSQL under a mixed load spread over all of them, while one node is faulted; the
 * receiver then audits the promises of issue 10 (see audit.ts). Each case has a cluster of its own.
 */

const FAULT_AFTER_MS = 3000;
const LOAD_MS = 9000;

let cluster: Cluster | undefined;
let receiver: CountingReceiver | undefined;
afterEach(async () => {
  await cluster?.close();
  await receiver?.close();
  cluster = receiver = undefined;
});

interface Fault {
  /** The attempts the faulted nodes had in flight at the fault (the store's count): the most that may arrive twice. */
  inFlight: number;
}

/** Runs the load on a fresh three-node cluster, applies `fault` after 3 s, and audits once everything has arrived. */
async function underLoad(fault: (cluster: Cluster) => Promise<Fault>): Promise<void> {
  cluster = await Cluster.start(3);
  const c = cluster;
  receiver = await CountingReceiver.start(() => c.pids());
  const load = new MixedLoad(cluster, receiver);
  const began = Date.now();
  await load.start();
  await sleep(FAULT_AFTER_MS);
  const { inFlight } = await fault(cluster);
  await sleep(Math.max(0, began + LOAD_MS - Date.now()));
  await load.stop();
  const stoppedAt = Date.now();
  await receiver.waitForIds(load.ids(), 30_000);
  const drainedMs = Date.now() - stoppedAt;
  // Late redeliveries, if any, have time to show before the count.
  await sleep(1000);
  console.log(
    `${expect.getState().currentTestName}: ${load.summary()}; all delivered ${drainedMs} ms after the load stopped; ` +
      `${receiver.duplicates()} duplicates, ${inFlight} attempts in flight on the faulted nodes`,
  );
  await auditMixedLoad(cluster, receiver, load, inFlight);
}

/** How long after `fromMs` a node other than `old` (dead or frozen, so not asked) leads. */
async function takeover(c: Cluster, old: ClusterNode, fromMs: number, timeoutMs: number): Promise<{ leader: ClusterNode; ms: number }> {
  const leader = await c.leader(timeoutMs);
  expect(leader).not.toBe(old);
  return { leader, ms: Date.now() - fromMs };
}

describe("a three-node cluster under load keeps its promises", () => {
  it("when the leader is killed with kill -9", async () => {
    await underLoad(async (c) => {
      const leader = await c.leader();
      const id = await c.nodeId(leader);
      const atMs = Date.now();
      await c.kill(leader);
      const inFlight = await c.attemptsInFlight(id);
      // Its lease runs out, then another node claims the lead: about the lease and a second.
      const { ms } = await takeover(c, leader, atMs, LEASE_MS * 4);
      console.log(`new leader ${ms} ms after the kill`);
      expect(ms).toBeLessThan(LEASE_MS + 2500);
      return { inFlight };
    });
  });

  it("when a node that does not lead is killed with kill -9", async () => {
    await underLoad(async (c) => {
      const leader = await c.leader();
      const victim = c.other(leader);
      const id = await c.nodeId(victim);
      await c.kill(victim);
      const inFlight = await c.attemptsInFlight(id);
      await sleep(LEASE_MS + 1000);
      // The leader is untouched by it.
      expect(await c.leader()).toBe(leader);
      return { inFlight };
    });
  });

  it("when the leader is frozen (SIGSTOP) for twice its lease, then continued", async () => {
    await underLoad(async (c) => {
      const leader = await c.leader();
      const id = await c.nodeId(leader);
      const atMs = Date.now();
      c.freeze(leader);
      const inFlight = await c.attemptsInFlight(id);
      const { ms } = await takeover(c, leader, atMs, LEASE_MS * 4);
      console.log(`new leader ${ms} ms after the freeze`);
      await sleep(Math.max(0, atMs + 2 * LEASE_MS - Date.now()));
      c.thaw(leader);
      // On waking it finds its lease gone and starts again as a new node, in the same process and port.
      await eventually(() => /lost its lease/.test(leader.output()), 10_000, 50);
      const again = await eventually(async () => {
        const r = await c.readiness(leader);
        return r.status === 200 && r;
      }, 10_000, 50);
      expect(again.leader).toBe(false);
      expect(again.node).not.toBe(id);
      return { inFlight };
    });
  });

  it("when the listener connections of the leader and of another node are terminated", async () => {
    await underLoad(async (c) => {
      const leader = await c.leader();
      const other = c.other(leader);
      const ids = [await c.nodeId(leader), await c.nodeId(other)];
      expect(await c.cutListener(leader)).toBe(1);
      expect(await c.cutListener(other)).toBe(1);
      // The nodes keep their leases: no takeover, so nothing is retried as interrupted.
      await sleep(LEASE_MS);
      expect(await c.leader()).toBe(leader);
      expect(await c.nodeId(leader)).toBe(ids[0]);
      expect(await c.nodeId(other)).toBe(ids[1]);
      return { inFlight: 0 };
    });
  });
});
