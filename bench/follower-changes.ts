import { request } from "undici";
import { backendCpu } from "./backend-cpu.js";
import type { BenchKit, Node } from "./cluster.js";
import { now } from "./paced.js";

/** Never due within a bench: the schedules are created, not fired. */
const YEARLY = "0 0 1 1 *";

/** The leader and a node that does not lead. */
async function leaderAndFollower(nodes: Node[]): Promise<{ leader: Node; follower: Node }> {
  const leads = await Promise.all(
    nodes.map(async (n) => ((await (await request(`${n.url}/health/ready`)).body.json()) as { leader?: boolean }).leader === true),
  );
  const leader = nodes[leads.indexOf(true)];
  const follower = nodes[leads.indexOf(false)];
  if (!leader || !follower) throw new Error("these scenarios need a leader and a node that does not lead");
  return { leader, follower };
}

/** What the leader and its PostgreSQL backends use from now on, as a line's end. */
async function leaderMeter(kit: BenchKit, leader: Node): Promise<() => Promise<string>> {
  const pid = leader.child.pid!;
  const cpu = kit.cpuSeconds(pid);
  const postgres = await backendCpu(kit, [pid]);
  return async () => {
    const used = kit.cpuSeconds(pid) - cpu;
    const pgUsed = (await backendCpu(kit, [pid], postgres)).usedSince;
    return `the leader's CPU ${(used * 1000).toFixed(0)} ms, its PostgreSQL backends' ${(pgUsed * 1000).toFixed(0)} ms`;
  };
}

/**
 * Schedules created through a node that does not lead, `BENCH_CLUSTER_SCHEDULES` (3000) of them by 16 clients:
 * how long creating them takes, and what following them costs the leader (its CPU, from the first create until it
 * serves the last one) and PostgreSQL. Each create's commit tells the leader which schedule changed; a leader that
 * read every schedule again for each would use time growing with the number it holds.
 */
export async function followerSchedules(kit: BenchKit, nodes: Node[], label: string): Promise<void> {
  const { leader, follower } = await leaderAndFollower(nodes);
  const count = kit.env("BENCH_CLUSTER_SCHEDULES", 3000);
  const meter = await leaderMeter(kit, leader);
  const t0 = now();
  let lastId = "";
  await kit.pool(count, 16, async (i) => {
    const res = await request(`${follower.url}/v2/schedules/${kit.dest}`, {
      method: "POST",
      headers: { authorization: `Bearer ${kit.token}`, "upstash-cron": YEARLY, "upstash-schedule-id": `bench-${i}` },
      body: "tick",
    });
    if (res.statusCode !== 200) throw new Error(`schedule create answered ${res.statusCode}: ${await res.body.text()}`);
    await res.body.dump();
    lastId = `bench-${i}`;
  });
  const createdMs = now() - t0;
  // The leader has followed once it serves the last one created (news arrives in commit order).
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await request(`${leader.url}/v2/schedules/${lastId}`, { headers: { authorization: `Bearer ${kit.token}` } });
    await res.body.dump();
    if (res.statusCode === 200) break;
    if (Date.now() > deadline) throw new Error(`the leader did not follow schedule ${lastId} within 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const followedMs = now() - t0;
  kit.report(
    `${label}schedules ${count} created through a node that does not lead in ${(createdMs / 1000).toFixed(1)} s, followed by the leader ` +
      `after ${(followedMs / 1000).toFixed(1)} s; ${await meter()}`,
  );
}

/**
 * `BENCH_CLUSTER_QUEUES` (3000) messages, each enqueued to a queue of its own through a node that does not lead (the
 * first enqueue creates the queue): how long until all are delivered (the leader dispatches queue messages), and
 * what the leader and PostgreSQL used meanwhile. Each queue's creation tells the other nodes which queue it was.
 */
export async function followerQueues(kit: BenchKit, nodes: Node[], label: string): Promise<void> {
  const { leader, follower } = await leaderAndFollower(nodes);
  const count = kit.env("BENCH_CLUSTER_QUEUES", 3000);
  const base = kit.recv.arrivals.size;
  const meter = await leaderMeter(kit, leader);
  const t0 = now();
  await kit.pool(count, 16, async (i) => {
    const res = await request(`${follower.url}/v2/enqueue/bench-q-${i}/${kit.dest}`, {
      method: "POST",
      headers: { authorization: `Bearer ${kit.token}`, "content-type": "text/plain" },
      body: "x",
    });
    if (res.statusCode !== 200) throw new Error(`enqueue answered ${res.statusCode}: ${await res.body.text()}`);
    await res.body.dump();
  });
  await kit.recv.waitFor(base + count, 120_000);
  kit.report(
    `${label}queues    ${count} messages, each to a new queue, enqueued through a node that does not lead: delivered in ` +
      `${((now() - t0) / 1000).toFixed(1)} s; ${await meter()}`,
  );
}
