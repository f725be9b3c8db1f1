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
  /** The processes whose attempts in flight at `atMs` may be delivered again. */
  faulted: { pid: number; atMs: number }[];
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
  const { faulted } = await fault(cluster);
  await sleep(Math.max(0, began + LOAD_MS - Date.now()));
  await load.stop();
  await receiver.waitForIds(load.ids(), 30_000);
  // Late redeliveries, if any, have time to show before the count.
  await sleep(1000);
  await auditMixedLoad(cluster, receiver, load, faulted);
}

/** How long after `fromMs` a node other than `old` leads. */
async function takeover(c: Cluster, old: ClusterNode, fromMs: number, timeoutMs: number): Promise<{ leader: ClusterNode; ms: number }> {
  const leader = await eventually(async () => {
    const now = await c.leader(timeoutMs);
    return now !== old && now;
  }, timeoutMs, 50);
  return { leader, ms: Date.now() - fromMs };
}

describe("a three-node cluster under load keeps its promises", () => {
  it("when the leader is killed with kill -9", async () => {
    await underLoad(async (c) => {
      const leader = await c.leader();
      const atMs = Date.now();
      await c.kill(leader);
      // Its lease runs out, then another node claims the lead: about the lease and a second.
      const { ms } = await takeover(c, leader, atMs, LEASE_MS * 4);
      expect(ms).toBeLessThan(LEASE_MS + 2500);
      return { faulted: [{ pid: leader.pid, atMs }] };
    });
  });

  it("when a node that does not lead is killed with kill -9", async () => {
    await underLoad(async (c) => {
      const leader = await c.leader();
      const victim = c.other(leader);
      const atMs = Date.now();
      await c.kill(victim);
      await sleep(LEASE_MS + 1000);
      // The leader is untouched by it.
      expect(await c.leader()).toBe(leader);
      return { faulted: [{ pid: victim.pid, atMs }] };
    });
  });

  it("when the leader is frozen (SIGSTOP) for twice its lease, then continued", async () => {
    await underLoad(async (c) => {
      const leader = await c.leader();
      const atMs = Date.now();
      c.freeze(leader);
      await takeover(c, leader, atMs, LEASE_MS * 4);
      await sleep(Math.max(0, atMs + 2 * LEASE_MS - Date.now()));
      c.thaw(leader);
      // On waking it finds its lease gone and starts again as a new node, in the same process and port.
      await eventually(() => /lost its lease/.test(leader.output()), 10_000, 50);
      const again = await eventually(async () => {
        const r = await c.readiness(leader);
        return r.status === 200 && r;
      }, 10_000, 50);
      expect(again.leader).toBe(false);
      return { faulted: [{ pid: leader.pid, atMs }] };
    });
  });

  it("when the listener connections of the leader and of another node are terminated", async () => {
    await underLoad(async (c) => {
      const leader = await c.leader();
      const other = c.other(leader);
      const atMs = Date.now();
      expect(await c.cutListener(leader)).toBe(1);
      expect(await c.cutListener(other)).toBe(1);
      // The nodes keep their leases: no takeover.
      await sleep(LEASE_MS);
      expect(await c.leader()).toBe(leader);
      return { faulted: [leader, other].map((n) => ({ pid: n.pid, atMs })) };
    });
  });
});
