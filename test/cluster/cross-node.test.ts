import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, type ClusterNode } from "../helpers/cluster.js";
import { CountingReceiver } from "../helpers/counting-receiver.js";
import { eventually, gate } from "../helpers/receiver.js";
import { createdMs } from "./audit.js";
import { sleep } from "./mixed-load.js";

/** Every API works from every node: what one node is asked, another one (or the leader) carries out. */

let cluster: Cluster;
let receiver: CountingReceiver;
let leader: ClusterNode;
/** Two nodes that do not lead. */
let b: ClusterNode;
let c: ClusterNode;

beforeAll(async () => {
  cluster = await Cluster.start(3);
  receiver = await CountingReceiver.start(() => cluster.pids());
  leader = await cluster.leader();
  b = cluster.other(leader);
  c = cluster.other(leader, b);
}, 60_000);
afterAll(async () => {
  await cluster?.close();
  await receiver?.close();
});

async function publish(node: ClusterNode, path: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await cluster.api(node, "POST", `/v2/publish/${receiver.url(path)}`, { body: path, headers: { "Content-Type": "text/plain", ...headers } });
  return (await json<{ messageId: string }>(Promise.resolve(res))).messageId;
}

async function json<T>(res: Promise<Response>, status = 200): Promise<T> {
  const r = await res;
  const body = await r.text();
  expect(r.status, body).toBe(status);
  return JSON.parse(body) as T;
}

/** The states the logs of `node` show for a message, oldest first. */
async function states(node: ClusterNode, messageId: string): Promise<string[]> {
  const { logs } = await json<{ logs: { state: string }[] }>(cluster.api(node, "GET", `/v2/logs?messageId=${messageId}&order=earliestFirst`));
  return logs.map((l) => l.state);
}

describe("across the nodes of a cluster", () => {
  it("a message published on one node is delivered by it, and read and logged on another", async () => {
    const id = await publish(b, "/read/now");
    await eventually(() => receiver.of("read").length === 1, 5000);
    // A plain message due now is delivered by the node that accepted it, not handed to the leader.
    expect(receiver.of("read")[0].pid).toBe(b.pid);
    await eventually(async () => (await states(c, id)).includes("DELIVERED"), 5000);

    const later = await publish(b, "/read/later", { "Upstash-Delay": "60s" });
    const got = await json<{ messageId: string; url: string }>(cluster.api(c, "GET", `/v2/messages/${later}`));
    expect(got).toMatchObject({ messageId: later, url: receiver.url("/read/later") });
    expect(await json<{ cancelled: number }>(cluster.api(leader, "DELETE", `/v2/messages/${later}`))).toEqual({ cancelled: 1 });
    expect((await cluster.api(b, "GET", `/v2/messages/${later}`)).status).toBe(404);
  });

  it("a cancel asked on one node ends an attempt in flight on another: the failed attempt is not retried", async () => {
    const held = gate();
    receiver.hold = (d) => (d.group === "cancel" ? held.wait : 0);
    // Without the cancel this answer would be retried.
    receiver.status = (d) => (d.group === "cancel" ? 500 : 200);
    const id = await publish(b, "/cancel/1", { "Upstash-Retries": "3", "Upstash-Retry-Delay": "100" });
    await eventually(() => receiver.of("cancel").length === 1, 5000);
    expect(receiver.of("cancel")[0].pid).toBe(b.pid);

    expect(await json<{ cancelled: number }>(cluster.api(c, "DELETE", `/v2/messages/${id}`))).toEqual({ cancelled: 1 });
    held.open();
    await eventually(async () => (await states(leader, id)).includes("CANCELLED"), 5000).catch(async (err) => {
      throw new Error(`${(err as Error).message}; states: ${(await states(leader, id)).join(", ")}; deliveries: ${receiver.of("cancel").length}`);
    });
    await sleep(1000);
    expect(receiver.of("cancel")).toHaveLength(1);
    receiver.hold = () => 0;
    receiver.status = () => 200;
  });

  it("pausing a flow key on a node that does not lead stops the leader's deliveries of it; resuming on a third restarts them", async () => {
    receiver.hold = (d) => (d.group === "paused" ? 150 : 0);
    const flow = { "Upstash-Flow-Control-Key": "pk", "Upstash-Flow-Control-Value": "parallelism=1" };
    const ids: string[] = [];
    for (let i = 0; i < 15; i++) ids.push(await publish(cluster.nodes[i % 3], `/paused/${i}`, flow));
    await eventually(() => receiver.of("paused").length >= 2, 5000);

    await json(cluster.api(b, "POST", "/v2/flowControl/pk/pause"));
    // The attempt in flight at the pause ends; nothing starts after it.
    await sleep(400);
    const atPause = receiver.of("paused").length;
    await sleep(1500);
    expect(receiver.of("paused")).toHaveLength(atPause);
    expect(atPause).toBeLessThan(ids.length);
    expect(await json(cluster.api(leader, "GET", "/v2/flowControl/pk"))).toMatchObject({ isPaused: true, waitListSize: ids.length - atPause });

    await json(cluster.api(c, "POST", "/v2/flowControl/pk/resume"));
    await receiver.waitForIds(ids, 10_000);
    expect(receiver.maxConcurrent("paused")).toBe(1);
    expect(receiver.duplicates("paused")).toBe(0);
    receiver.hold = () => 0;
  });

  it("a schedule created on a node that does not lead ticks once per tick", async () => {
    const created = await json<{ scheduleId: string }>(
      cluster.api(c, "POST", `/v2/schedules/${receiver.url("/sched")}`, { body: "tick", headers: { "Upstash-Cron": "* * * * * *" } }),
    );
    await sleep(4500);
    await json(cluster.api(b, "DELETE", `/v2/schedules/${created.scheduleId}`));
    await sleep(1200);
    const deliveries = receiver.of("sched");
    await sleep(1500);
    // Deleted on another node: no tick after it.
    expect(receiver.of("sched")).toHaveLength(deliveries.length);
    const ticks = deliveries.map((d) => Math.floor(createdMs(d.id) / 1000));
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    expect(ticks.length).toBeLessThanOrEqual(6);
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(receiver.duplicates("sched")).toBe(0);
  });

  it("a DLQ retry asked on two nodes at the same moment makes one new message", async () => {
    // Set before the publish: its delivery may arrive before the publish's answer does.
    let failed: string | undefined;
    receiver.status = (d) => {
      if (d.path === "/dlq/1") failed ??= d.id;
      return d.id === failed ? 500 : 200;
    };
    const original = await publish(b, "/dlq/1", { "Upstash-Retries": "0" });
    const entry = await eventually(async () => {
      const { messages } = await json<{ messages: { dlqId: string; messageId: string }[] }>(cluster.api(c, "GET", "/v2/dlq"));
      return messages.find((m) => m.messageId === original);
    }, 5000);

    const answers = await Promise.all([b, c].map((n) => cluster.api(n, "POST", `/v2/dlq/retry/${entry.dlqId}`)));
    const made = await Promise.all(answers.filter((r) => r.status === 201).map(async (r) => ((await r.json()) as { messageId: string }).messageId));
    expect(failed).toBe(original);
    expect(made).toHaveLength(1);
    expect(answers.map((r) => r.status).sort()).toEqual([201, 404]);
    await eventually(() => receiver.of("dlq").some((d) => d.id === made[0]), 5000);
    await sleep(1000);
    expect(new Set(receiver.of("dlq").map((d) => d.id))).toEqual(new Set([original, made[0]]));
    const { messages } = await json<{ messages: { messageId: string }[] }>(cluster.api(leader, "GET", "/v2/dlq"));
    expect(messages.find((m) => m.messageId === original)).toBeUndefined();
    receiver.status = () => 200;
  });
});
