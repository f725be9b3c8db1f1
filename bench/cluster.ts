import type { ChildProcess } from "node:child_process";
import { request } from "undici";
import { backendCpu } from "./backend-cpu.js";
import { followerQueues, followerSchedules } from "./follower-changes.js";
import { commitCounts, commitsPerMessage } from "./commit-counts.js";
import { now, pacedPublishes } from "./paced.js";

/**
 * The cluster scenarios (PostgreSQL only): 1, 2 and 3 Sluice processes on one schema, publishes spread round-robin
 * over them, delivered to the bench's receiver. For each size: batch and single throughput end to end, latency at a
 * fixed rate, and CPU per delivered message of each node and of the PostgreSQL server processes that serve them
 * (found by their clients' ports, so other users of the same server are not counted). With two nodes or more, also
 * what schedules and queues created through a node that does not lead cost the leader (follower-changes.ts).
 *
 * BENCH_CLUSTER_NODES (1,2,3) picks the sizes; BENCH_CLUSTER_BATCH_N (30000), BENCH_CLUSTER_SINGLE_N (10000),
 * BENCH_LATENCY_S (10), BENCH_CLUSTER_SCHEDULES and BENCH_CLUSTER_QUEUES (3000 each) scale the runs.
 */

export interface Node {
  child: ChildProcess;
  url: string;
}

/** What the runner lends the scenarios: its receiver, its clients and its meters. */
export interface BenchKit {
  /** The database the nodes share. */
  database: string;
  /** The bench user's API token. */
  token: string;
  /** Starts one Sluice process on the store named by `key` (one schema per key). */
  start(key: string): Promise<Node>;
  stop(node: Node, signal?: NodeJS.Signals): Promise<void>;
  recv: { arrivals: Map<string, number>; waitFor(n: number, timeoutMs: number): Promise<void> };
  dest: string;
  report(line: string): void;
  publish(base: string, dest: string): Promise<string>;
  batch(base: string, items: { destination: string; body?: string }[]): Promise<string[]>;
  pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void>;
  cpuSeconds(pid: number): number;
  summary(latencies: number[]): string;
  env(name: string, dflt: number): number;
}


export async function clusterScenarios(kit: BenchKit): Promise<void> {
  const sizes = (process.env.BENCH_CLUSTER_NODES ?? "1,2,3").split(",").map(Number);
  for (const size of sizes) {
    const nodes: Node[] = [];
    try {
      for (let i = 0; i < size; i++) nodes.push(await kit.start(`cluster-${size}`));
      await untilOneLeads(nodes);
      await measure(kit, nodes);
    } finally {
      for (const node of nodes) await kit.stop(node);
    }
  }
}

/** Waits (30 s at most) until every node holds its lease and one of them leads. */
async function untilOneLeads(nodes: Node[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const states = await Promise.all(
      nodes.map(async (n) => {
        const res = await request(`${n.url}/health/ready`);
        return (await res.body.json().catch(() => ({}))) as { status?: string; leader?: boolean };
      }),
    );
    if (states.every((s) => s.status === "ready") && states.filter((s) => s.leader).length === 1) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no node of ${nodes.length} leads after 30 s`);
}

async function measure(kit: BenchKit, nodes: Node[]): Promise<void> {
  const size = `cluster ${nodes.length}:`.padEnd(11);
  /** CPU per delivered message since the meter was made, of each node and of PostgreSQL, and the commits made. */
  const pids = nodes.map((node) => node.child.pid!);
  const cpuMeter = async (): Promise<(n: number) => Promise<string>> => {
    const commitsAt = await Promise.all(nodes.map((node) => commitCounts(node.url)));
    const at = pids.map((pid) => kit.cpuSeconds(pid));
    const backends = await backendCpu(kit, pids);
    const perMsg = (seconds: number, n: number): string => `${((seconds / n) * 1e6).toFixed(0)}`;
    return async (n) => {
      const used = pids.map((pid, i) => kit.cpuSeconds(pid) - at[i]);
      const each = used.length > 1 ? ` (${used.map((s) => perMsg(s, n)).join(" + ")})` : "";
      const server = await backendCpu(kit, pids, backends);
      const commits = commitsPerMessage(commitsAt, await Promise.all(nodes.map((node) => commitCounts(node.url))), n);
      return `CPU/msg µs: Sluice ${perMsg(used.reduce((a, b) => a + b, 0), n)}${each}, PostgreSQL ${perMsg(server.usedSince, n)}; ${commits}`;
    };
  };
  const nodeFor = (i: number): string => nodes[i % nodes.length].url;

  const batchN = Math.ceil(kit.env("BENCH_CLUSTER_BATCH_N", 30_000) / 100) * 100;
  let base = kit.recv.arrivals.size;
  let cpu = await cpuMeter();
  let t0 = now();
  await kit.pool(batchN / 100, 8, async (b) => {
    await kit.batch(nodeFor(b), Array.from({ length: 100 }, () => ({ destination: kit.dest, body: "x" })));
  });
  await kit.recv.waitFor(base + batchN, 300_000);
  kit.report(`${size}batch   ${batchN} msgs, end-to-end ${((batchN / (now() - t0)) * 1000).toFixed(0)} msg/s delivered, ${await cpu(batchN)}`);

  const singleN = kit.env("BENCH_CLUSTER_SINGLE_N", 10_000);
  base = kit.recv.arrivals.size;
  cpu = await cpuMeter();
  t0 = now();
  await kit.pool(singleN, 64, async (i) => {
    await kit.publish(nodeFor(i), kit.dest);
  });
  await kit.recv.waitFor(base + singleN, 300_000);
  kit.report(`${size}single  ${singleN} msgs, 64 clients, end-to-end ${((singleN / (now() - t0)) * 1000).toFixed(0)} msg/s delivered, ${await cpu(singleN)}`);

  const rate = 1000;
  const seconds = kit.env("BENCH_LATENCY_S", 10);
  await paced(kit, nodeFor, 2 * rate, rate);
  cpu = await cpuMeter();
  const sent = await paced(kit, nodeFor, seconds * rate, rate);
  const lat = [...sent].map(([id, t]) => (kit.recv.arrivals.get(id) ?? NaN) - t).filter((x) => !Number.isNaN(x));
  kit.report(`${size}latency ${rate} msg/s for ${seconds} s, publish → delivery ${kit.summary(lat)}, lost ${sent.size - lat.length}, ${await cpu(sent.size)}`);

  if (nodes.length > 1) {
    await followerSchedules(kit, nodes, size);
    await followerQueues(kit, nodes, size);
  }
}

/** Single publishes at `rate` per second, spread over the nodes; the time each was sent, by message id. */
function paced(kit: BenchKit, nodeFor: (i: number) => string, count: number, rate: number): Promise<Map<string, number>> {
  // The last deliveries land within a few hundred ms; 2 s covers a slow one without counting it lost.
  return pacedPublishes((i) => kit.publish(nodeFor(i), kit.dest), count, rate, 2000);
}
