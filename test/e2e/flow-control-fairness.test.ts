import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { sleep, Tracker, uniqueKey } from "./flow-support.js";

/** A key with a huge backlog must not delay other keys' (or key-less) messages (SPEC §4, dispatcher round-robin). */

let sluice: TestSluice;
let dest: TestReceiver;
let t: Tracker;

beforeAll(async () => {
  sluice = await startSluice();
  dest = await TestReceiver.start();
  t = new Tracker([dest], (req) => req.path.split("/")[1]);
  t.reply = (req) => (req.path.startsWith("/backlog/") ? { status: 200, delayMs: 100 } : { status: 200 });
});
afterAll(async () => {
  await dest.close();
  await sluice.close();
});

/** Publishes one message and returns how long it took from the publish call to its arrival. */
async function latencyOf(group: string, flowControl?: { key: string; parallelism: number }): Promise<number> {
  const before = Date.now();
  const n = t.of(group).length;
  await sluice.client().publish({ url: dest.url(`/${group}/${n}`), body: "x", ...(flowControl ? { flowControl } : {}) });
  const arrival = await eventually(() => t.of(group)[n], 5000, 2);
  return arrival.at - before;
}

describe("fairness", () => {
  it("a single message arrives within tens of ms while another key has a backlog of 10,000", async () => {
    const client = sluice.client();
    // Baselines without any backlog (the first publish of each kind also warms up connections).
    await latencyOf("warm");
    const baseFree = await latencyOf("free");
    const baseKey = await latencyOf("other", { key: uniqueKey("fair-other"), parallelism: 1 });

    const big = uniqueKey("fair-big");
    for (let b = 0; b < 20; b++) {
      const replies = await client.batchJSON(
        Array.from({ length: 500 }, (_, i) => ({
          url: dest.url(`/backlog/${b * 500 + i}`),
          body: { i },
          flowControl: { key: big, parallelism: 10 },
        })),
      );
      expect(replies).toHaveLength(500);
    }
    await t.waitFor(15);
    await sleep(50);

    const free = await latencyOf("free");
    const otherKey = await latencyOf("other", { key: uniqueKey("fair-other"), parallelism: 1 });
    // The same key-less message once more, right behind the first.
    const free2 = await latencyOf("free");

    // The backlog was really there, and still running at its limit, when the single messages went through.
    const info = await client.flowControl.get(big);
    expect(info.waitListSize).toBeGreaterThan(9000);
    expect(info.parallelismCount).toBeLessThanOrEqual(10);
    expect(t.max("backlog")).toBe(10);

    // Behind the backlog they would wait ~100 s (10,000 × 100 ms / 10); generous slack for a loaded machine.
    for (const [name, ms, base] of [
      ["free", free, baseFree],
      ["free again", free2, baseFree],
      ["other key", otherKey, baseKey],
    ] as const) {
      expect(ms, `${name}: ${ms} ms (baseline ${base} ms)`).toBeLessThan(100);
    }

    const { cancelled } = await client.messages.cancel({ filter: { flowControlKey: big } });
    expect(cancelled).toBeGreaterThan(9000);
  }, 30_000);
});
