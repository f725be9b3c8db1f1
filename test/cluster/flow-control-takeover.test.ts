import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, TOKEN, type ClusterNode } from "../helpers/cluster.js";
import { CountingReceiver } from "../helpers/counting-receiver.js";
import { eventually, gate } from "../helpers/receiver.js";

/**
 * A flow-control key with messages waiting, asked on the node that takes over when the leader is killed (kill -9),
 * again and again from before it leads until well after: the new leader's lanes are empty until its due loader has
 * read the key's messages, and in that time it answers from the store, never "not found" (src/http/routes/
 * flow-control.ts). Two nodes on the harness's 2 s lease. Neither key has stored settings, so only its messages
 * make it known: one has an attempt in flight on A when A dies, the other only messages waiting for its next rate
 * window (before this change, the first read 0 waiting on B just after it began to lead, the second 404).
 */

const KEY = "takeover-key";
/** A key whose waiting messages wait for the next rate window: none in flight, so nothing else makes it known. */
const RATED = "takeover-rated";
/** How long the key is asked after B leads: past its first due loads on a loaded box. */
const AFTER_LEAD_MS = 3000;

let cluster: Cluster;
let receiver: CountingReceiver;
let a: ClusterNode;
let b: ClusterNode;
const held = gate();

beforeAll(async () => {
  cluster = await Cluster.start(1);
  a = await cluster.leader();
  b = await cluster.add();
  receiver = await CountingReceiver.start(() => cluster.pids());
  receiver.hold = (d) => (d.group === "takeover" ? held.wait : 0);
}, 60_000);
afterAll(async () => {
  held.open();
  await cluster?.close();
  await receiver?.close();
});

interface Answer {
  at: number;
  status: number;
  body: any;
}

async function ask(node: ClusterNode, path: string): Promise<Answer> {
  const res = await cluster.api(node, "GET", path, { timeoutMs: 5000 });
  return { at: Date.now(), status: res.status, body: await res.json() };
}

/** Four messages to `/group/0…3` through `node`, with the flow-control headers given. */
async function publishFour(node: ClusterNode, group: string, headers: Record<string, string>): Promise<void> {
  for (let i = 0; i < 4; i++) {
    const res = await cluster.api(node, "POST", `/v2/publish/${receiver.url(`/${group}/${i}`)}`, {
      body: "x",
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "text/plain", ...headers },
    });
    expect(res.status, await res.text()).toBe(200);
  }
}

describe("a flow-control key asked on the node that takes over", () => {
  it("is found, with its counts, at every point before and after the new leader leads", async () => {
    const flow = { "Upstash-Flow-Control-Key": KEY, "Upstash-Flow-Control-Value": "parallelism=1", "Upstash-Retries": "3" };
    await publishFour(a, "takeover", flow);
    const rated = { "Upstash-Flow-Control-Key": RATED, "Upstash-Flow-Control-Value": "rate=1,period=60s" };
    await publishFour(a, "rated", rated);
    await eventually(() => receiver.deliveries.filter((d) => d.group === "takeover").length === 1 && receiver.deliveries.some((d) => d.group === "rated"), 10_000);
    // The rate window is saved within a second: B continues it rather than letting another message through.
    await new Promise((resolve) => setTimeout(resolve, 1300));
    expect(await ask(a, `/v2/flowControl/${RATED}`)).toMatchObject({ status: 200, body: { parallelismCount: 0, waitListSize: 3 } });
    expect(await ask(a, `/v2/flowControl/${KEY}`)).toMatchObject({ status: 200, body: { parallelismCount: 1, waitListSize: 3 } });

    await cluster.kill(a);
    const keyAnswers: Answer[] = [];
    const ratedAnswers: Answer[] = [];
    const listAnswers: Answer[] = [];
    let ledAt: number | undefined;
    // Bounded: the lease (2 s) runs out, B takes over, and is asked AFTER_LEAD_MS more; 20 s at most.
    const end = Date.now() + 20_000;
    while (Date.now() < end && (ledAt === undefined || Date.now() < ledAt + AFTER_LEAD_MS)) {
      const [key, ratedKey, list, ready] = await Promise.all([
        ask(b, `/v2/flowControl/${KEY}`),
        ask(b, `/v2/flowControl/${RATED}`),
        ask(b, "/v2/flowControl"),
        cluster.readiness(b),
      ]);
      keyAnswers.push(key);
      ratedAnswers.push(ratedKey);
      listAnswers.push(list);
      if (ledAt === undefined && ready.leader === true) ledAt = Date.now();
    }
    expect(ledAt, "B never led").toBeDefined();
    const afterLead = keyAnswers.filter((k) => k.at >= ledAt!);
    expect(afterLead.length).toBeGreaterThan(5);

    for (const k of keyAnswers) {
      expect(k.status, JSON.stringify(k.body)).toBe(200);
      expect(k.body.flowControlKey).toBe(KEY);
      // A's attempt is in flight, or back among the waiting once taken over (or waiting out its retry delay).
      expect(k.body.parallelismCount + k.body.waitListSize).toBeGreaterThanOrEqual(3);
      expect(k.body.parallelismCount + k.body.waitListSize).toBeLessThanOrEqual(4);
    }
    for (const k of ratedAnswers) {
      expect(k.status, JSON.stringify(k.body)).toBe(200);
      expect(k.body.flowControlKey).toBe(RATED);
      // Three wait for the next window (two, should a loaded box have kept B from the saved window).
      expect(k.body.parallelismCount + k.body.waitListSize).toBeGreaterThanOrEqual(2);
      expect(k.body.parallelismCount + k.body.waitListSize).toBeLessThanOrEqual(3);
    }
    for (const l of listAnswers) {
      expect(l.status, JSON.stringify(l.body)).toBe(200);
      expect(l.body.map((k: { flowControlKey: string }) => k.flowControlKey)).toEqual([KEY, RATED]);
    }

    // Settled: B delivers the key one at a time, as the messages asked.
    const settled = await eventually(async () => {
      const k = await ask(b, `/v2/flowControl/${KEY}`);
      return k.body.parallelismCount === 1 && k.body.waitListSize === 3 ? k : undefined;
    }, 15_000, 100);
    expect(settled.body).toMatchObject({ flowControlKey: KEY, parallelismMax: 1, isPaused: false });
  }, 60_000);
});
