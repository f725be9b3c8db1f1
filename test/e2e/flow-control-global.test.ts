import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { publishMany, sleep, Tracker, uniqueKey } from "./flow-support.js";

/** Global parallelism (a per-user cap across keys, queues and free messages) and fairness under it (SPEC §2.9, §4). */

// A fresh server per test: a backlog left by one test must not take the next one's slots under the cap.
let sluice: TestSluice;
let receivers: TestReceiver[] = [];
const receiver = async (): Promise<TestReceiver> => {
  const r = await TestReceiver.start();
  receivers.push(r);
  return r;
};

beforeEach(async () => {
  sluice = await startSluice({ globalParallelism: 4 });
});
afterEach(async () => {
  for (const r of receivers) await r.close();
  receivers = [];
  await sluice.close();
});

describe("global parallelism 4", () => {
  it("a user never has more than 4 deliveries in flight across keys and free messages, and reaches 4", async () => {
    const dest = await receiver();
    const t = new Tracker([dest]);
    t.reply = () => ({ status: 200, delayMs: 150 });
    const client = sluice.client();
    const [ka, kb] = [uniqueKey("g-a"), uniqueKey("g-b")];
    await Promise.all([
      publishMany(client, 6, (i) => dest.url(`/a/${i}`), { key: ka, parallelism: 3 }),
      publishMany(client, 6, (i) => dest.url(`/b/${i}`), { key: kb, parallelism: 3 }),
      client.batchJSON(Array.from({ length: 6 }, (_, i) => ({ url: dest.url(`/free/${i}`), body: { i } }))),
    ]);
    await t.waitFor(2);
    const busy = await client.flowControl.getGlobalParallelism();
    expect(busy.parallelismMax).toBe(4);
    expect(busy.parallelismCount).toBeGreaterThan(0);
    expect(busy.parallelismCount).toBeLessThanOrEqual(4);
    await t.waitFor(18, 5000);
    expect(t.max()).toBe(4);
    expect(t.arrivals.filter((a) => a.inFlight === 4).length).toBeGreaterThanOrEqual(3);
    const idle = await eventually(async () => {
      const g = await client.flowControl.getGlobalParallelism();
      return g.parallelismCount === 0 && g;
    }, 2000);
    expect(idle).toEqual({ parallelismMax: 4, parallelismCount: 0 });
  });

  it("the cap is per user: another user's free message does not wait behind a capped user's backlog", async () => {
    const dest = await receiver();
    const t = new Tracker([dest], (req) => req.path.split("/")[1]);
    t.reply = () => ({ status: 200, delayMs: 200 });
    // User 0: 24 free messages, 4 at a time → a backlog of ~1.2 s.
    await sluice.client(0).batchJSON(Array.from({ length: 24 }, (_, i) => ({ url: dest.url(`/u0/${i}`), body: { i } })));
    await t.waitFor(4);
    await sleep(20);
    const before = Date.now();
    await sluice.client(1).batchJSON(Array.from({ length: 4 }, (_, i) => ({ url: dest.url(`/u1/${i}`), body: { i } })));
    await eventually(() => t.of("u1").length === 4, 3000, 5);
    // Behind user 0's backlog they would wait ~1 s.
    for (const a of t.of("u1")) expect(a.at - before).toBeLessThan(250);
    // Both users ran at their own cap at the same time.
    expect(t.max("u1")).toBe(4);
    await t.waitFor(28, 5000);
    expect(t.max("u0")).toBe(4);
  });

  it("round-robin under the cap: a single message of another key gets the next free slot, not the end of the backlog", async () => {
    const dest = await receiver();
    const t = new Tracker([dest], (req) => req.path.split("/")[1]);
    t.reply = () => ({ status: 200, delayMs: 100 });
    const client = sluice.client();
    const busy = uniqueKey("rr-busy");
    // 60 messages, 4 at a time (the user's cap, below the key's parallelism) → ~1.5 s of backlog.
    await publishMany(client, 60, (i) => dest.url(`/busy/${i}`), { key: busy, parallelism: 10 });
    await t.waitFor(4);
    await sleep(20);
    const before = Date.now();
    await client.publish({ url: dest.url("/other/0"), body: "x", flowControl: { key: uniqueKey("rr-other"), parallelism: 1 } });
    await client.publish({ url: dest.url("/free/0"), body: "x" });
    await eventually(() => t.of("other").length + t.of("free").length === 2, 3000, 5);
    // Each waits for a slot or two to free (a slot frees every ~25 ms), not for 60 messages (~1.5 s).
    expect(t.of("other")[0].at - before).toBeLessThan(400);
    expect(t.of("free")[0].at - before).toBeLessThan(400);
    await t.waitFor(62, 5000);
    expect(t.max()).toBe(4);
  });
});
