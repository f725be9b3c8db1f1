import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { bursts, maxInWindow, publishMany, sleep, Tracker, uniqueKey } from "./flow-support.js";

/** Flow-control limits as measured at real destinations (SPEC §4, DECISIONS #14). */

let sluice: TestSluice;
const receivers: TestReceiver[] = [];
const receiver = async (): Promise<TestReceiver> => {
  const r = await TestReceiver.start();
  receivers.push(r);
  return r;
};

beforeAll(async () => {
  sluice = await startSluice();
});
afterAll(async () => {
  for (const r of receivers) await r.close();
  await sluice.close();
});

describe("parallelism", () => {
  it("never exceeds parallelism, and reaches it with a backlog", async () => {
    const dest = await receiver();
    const t = new Tracker([dest]);
    t.reply = () => ({ status: 200, delayMs: 150 });
    const key = uniqueKey("par");
    const started = Date.now();
    const ids = await publishMany(sluice.client(), 30, (i) => dest.url(`/p/${i}`), { key, parallelism: 3 });
    await t.waitFor(30, 8000);
    const elapsed = Date.now() - started;
    expect(t.max()).toBe(3);
    // Reached in every round, not touched once: each of the 10 rounds of 3 ran at full parallelism.
    expect(t.arrivals.filter((a) => a.inFlight === 3).length).toBeGreaterThanOrEqual(9);
    expect(new Set(t.arrivals.map((a) => a.id))).toEqual(new Set(ids));
    // 10 rounds of 150 ms: the backlog drains at full parallelism, not one by one (30 × 150 ms).
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(2600);
  });

  it("applies per key across different destination URLs", async () => {
    const a = await receiver();
    const b = await receiver();
    const t = new Tracker([a, b], (req) => (req.path.startsWith("/a/") ? "a" : "b"));
    t.reply = () => ({ status: 200, delayMs: 150 });
    const key = uniqueKey("urls");
    await publishMany(sluice.client(), 12, (i) => (i % 2 ? a.url(`/a/${i}`) : b.url(`/b/${i}`)), { key, parallelism: 2 });
    await t.waitFor(12, 8000);
    expect(t.of("a")).toHaveLength(6);
    expect(t.of("b")).toHaveLength(6);
    // The limit is shared by both destinations, not 2 each.
    expect(t.max()).toBe(2);
  });

  it("two keys are independent: each is limited on its own and both run at once", async () => {
    const dest = await receiver();
    const t = new Tracker([dest], (req) => req.path.split("/")[1]);
    t.reply = () => ({ status: 200, delayMs: 200 });
    const client = sluice.client();
    const [ka, kb] = [uniqueKey("ind-a"), uniqueKey("ind-b")];
    await Promise.all([
      publishMany(client, 4, (i) => dest.url(`/a/${i}`), { key: ka, parallelism: 1 }),
      publishMany(client, 4, (i) => dest.url(`/b/${i}`), { key: kb, parallelism: 1 }),
    ]);
    await t.waitFor(8, 5000);
    expect(t.max("a")).toBe(1);
    expect(t.max("b")).toBe(1);
    expect(t.max()).toBe(2);
  });

  it("the same key name of two users is two independent keys", async () => {
    const dest = await receiver();
    const t = new Tracker([dest], (req) => req.path.split("/")[1]);
    t.reply = () => ({ status: 200, delayMs: 300 });
    const key = uniqueKey("shared-name");
    await publishMany(sluice.client(0), 5, (i) => dest.url(`/u0/${i}`), { key, parallelism: 1 });
    await t.waitFor(1);
    const before = Date.now();
    await sluice.client(1).publish({ url: dest.url("/u1/0"), body: "x", flowControl: { key, parallelism: 1 } });
    await eventually(() => t.of("u1").length === 1, 3000, 5);
    // User 1's message did not wait for user 0's busy key (which is full for another ~1.2 s).
    expect(t.of("u1")[0].at - before).toBeLessThan(150);
    const own = await sluice.client(1).flowControl.get(key);
    expect(own.waitListSize).toBe(0);
    const other = await sluice.client(0).flowControl.get(key);
    expect(other.waitListSize).toBeGreaterThan(0);
    await t.waitFor(6, 5000);
    expect(t.max("u0")).toBe(1);
  });

  it("retries stay under their key's parallelism", async () => {
    const dest = await receiver();
    const t = new Tracker([dest]);
    // Every message fails twice, then succeeds; retryDelay 0 puts the retries straight back in line.
    t.reply = (req) => ({ status: req.headers["upstash-retried"] === "2" ? 200 : 500, delayMs: 100 });
    const key = uniqueKey("retry");
    const ids = await publishMany(sluice.client(), 6, (i) => dest.url(`/r/${i}`), { key, parallelism: 2 }, { retries: 3, retryDelay: "0" });
    await t.waitFor(18, 8000);
    await sleep(150);
    expect(t.arrivals).toHaveLength(18);
    expect(t.max()).toBe(2);
    for (const id of ids) expect(t.counts().get(id)).toBe(3);
  });
});

describe("rate", () => {
  it("never starts more than rate per period, and drains a backlog at the full rate (1 s period)", async () => {
    const dest = await receiver();
    const t = new Tracker([dest]);
    t.reply = () => ({ status: 200 });
    const key = uniqueKey("rate1");
    await publishMany(sluice.client(), 15, (i) => dest.url(`/r/${i}`), { key, rate: 5, period: 1 });
    await t.waitFor(15, 6000);
    const times = t.arrivals.map((a) => a.at);
    // Windows are fixed (SPEC §4): one burst of exactly `rate` starts per window, three windows for 15.
    const b = bursts(times, 500);
    expect(b.map((x) => x.length)).toEqual([5, 5, 5]);
    expect(b[1][0] - b[0][0]).toBeGreaterThanOrEqual(700);
    expect(b[2][0] - b[1][0]).toBeGreaterThanOrEqual(700);
    // On an idle machine each burst lands within a few ms: any stretch a bit shorter than the period holds ≤ 5.
    if (b.every((x) => x[x.length - 1] - x[0] < 40)) expect(maxInWindow(times, 950)).toBe(5);
    // Drained at the full rate: about 2 s, not much longer.
    const span = times[times.length - 1] - times[0];
    expect(span).toBeGreaterThanOrEqual(1800);
    expect(span).toBeLessThan(2700);
  });

  it("with a 2 s period", async () => {
    const dest = await receiver();
    const t = new Tracker([dest]);
    t.reply = () => ({ status: 200 });
    const key = uniqueKey("rate2");
    await publishMany(sluice.client(), 6, (i) => dest.url(`/r/${i}`), { key, rate: 3, period: "2s" });
    await t.waitFor(6, 6000);
    const times = t.arrivals.map((a) => a.at);
    const b = bursts(times, 1000);
    expect(b.map((x) => x.length)).toEqual([3, 3]);
    expect(b[1][0] - b[0][0]).toBeGreaterThanOrEqual(1700);
    expect(times[5] - times[0]).toBeLessThan(2700);
  });

  it("a window that already counted its starts still counts them after the key drained", async () => {
    const dest = await receiver();
    const t = new Tracker([dest]);
    t.reply = () => ({ status: 200 });
    const key = uniqueKey("rate-drain");
    const client = sluice.client();
    await publishMany(client, 2, (i) => dest.url(`/first/${i}`), { key, rate: 2, period: 2 });
    await t.waitFor(2);
    await sleep(50); // both delivered: nothing waits or is in flight for the key any more
    const info = await client.flowControl.get(key);
    expect(info.rateCount).toBe(2);
    expect(info.waitListSize).toBe(0);
    await publishMany(client, 2, (i) => dest.url(`/second/${i}`), { key, rate: 2, period: 2 });
    await t.waitFor(4, 5000);
    // The second pair waits for the next window instead of starting a fresh one.
    expect(t.arrivals[2].at - t.arrivals[0].at).toBeGreaterThanOrEqual(1700);
    expect(bursts(t.arrivals.map((a) => a.at), 1000).map((x) => x.length)).toEqual([2, 2]);
  });

  it("rate and parallelism apply together", async () => {
    const dest = await receiver();
    const t = new Tracker([dest]);
    t.reply = () => ({ status: 200, delayMs: 100 });
    const key = uniqueKey("both");
    await publishMany(sluice.client(), 8, (i) => dest.url(`/b/${i}`), { key, parallelism: 2, rate: 4, period: 1 });
    await t.waitFor(8, 6000);
    expect(t.max()).toBe(2);
    const times = t.arrivals.map((a) => a.at);
    // Two at a time, four per window: two rounds of two in each of two windows.
    expect(bursts(times, 500).map((x) => x.length)).toEqual([4, 4]);
    expect(times[7] - times[0]).toBeGreaterThanOrEqual(800);
    expect(times[7] - times[0]).toBeLessThan(1700);
  });
});

describe("configuration changes (DECISIONS #14)", () => {
  it("a waiting message with a higher value raises the limit for the key's backlog", async () => {
    const dest = await receiver();
    const t = new Tracker([dest], (req) => req.path.split("/")[1]);
    t.reply = () => ({ status: 200, delayMs: 300 });
    const key = uniqueKey("raise");
    const client = sluice.client();
    await publishMany(client, 5, (i) => dest.url(`/low/${i}`), { key, parallelism: 1 });
    await t.waitFor(1);
    expect(await client.flowControl.get(key)).toMatchObject({ parallelismMax: 1, parallelismCount: 1, waitListSize: 4 });
    await client.publish({ url: dest.url("/high/0"), body: "x", flowControl: { key, parallelism: 3 } });
    // It raised the limit at once: two more of the backlog started beside the first.
    expect(await client.flowControl.get(key)).toMatchObject({ parallelismMax: 3, parallelismCount: 3, waitListSize: 3 });
    await t.waitFor(6, 5000);
    // The backlog of parallelism=1 messages ran three at a time while the parallelism=3 one waited.
    expect(t.max()).toBe(3);
  });

  it("the limit falls back once the message with the higher value has finished", async () => {
    const dest = await receiver();
    const t = new Tracker([dest], (req) => req.path.split("/")[1]);
    // The parallelism=3 message finishes well before the others, so nothing else can start while it runs.
    t.reply = (req) => ({ status: 200, delayMs: req.path.startsWith("/high") ? 100 : 300 });
    const key = uniqueKey("fall");
    const client = sluice.client();
    await client.publish({ url: dest.url("/high/0"), body: "x", flowControl: { key, parallelism: 3 } });
    await publishMany(client, 5, (i) => dest.url(`/low/${i}`), { key, parallelism: 1 });
    await t.waitFor(6, 5000);
    // Two parallelism=1 messages ran beside the parallelism=3 one …
    expect(t.max()).toBe(3);
    expect(t.arrivals.slice(0, 3).map((a) => a.inFlight)).toEqual([1, 2, 3]);
    // … and after it finished the rest went one at a time.
    const highEnd = t.of("high")[0].at + 100;
    const later = t.arrivals.slice(3);
    for (const a of later) {
      expect(a.at).toBeGreaterThanOrEqual(highEnd);
      expect(a.inFlight).toBe(1);
    }
    expect(later[2].at - later[0].at).toBeGreaterThanOrEqual(550);
    expect((await client.flowControl.get(key)).parallelismMax).toBe(1);
  });

  it("once the key drains, the newest message's values rule (seen on a paused key)", async () => {
    const dest = await receiver();
    const t = new Tracker([dest]);
    t.reply = () => ({ status: 200, delayMs: 300 });
    const key = uniqueKey("newest");
    const client = sluice.client();
    await client.publish({ url: dest.url("/old"), body: "x", flowControl: { key, parallelism: 5, rate: 10, period: 1 } });
    await client.publish({ url: dest.url("/new"), body: "x", flowControl: { key, parallelism: 2, rate: 3, period: 2 } });
    const during = await client.flowControl.get(key);
    expect(during).toMatchObject({ parallelismMax: 5, rateMax: 10, ratePeriod: 1 });
    await client.flowControl.pause(key); // keeps the key known after its messages are gone
    await t.waitFor(2);
    const after = await eventually(async () => {
      const info = await client.flowControl.get(key);
      return info.parallelismCount === 0 && info.waitListSize === 0 && info;
    }, 3000);
    expect(after).toMatchObject({ parallelismMax: 2, rateMax: 3, ratePeriod: 2, isPaused: true });
    await client.flowControl.resume(key);
  });
});
