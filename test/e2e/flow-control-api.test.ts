import { QstashError } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { publishMany, sleep, Tracker, uniqueKey } from "./flow-support.js";

/** The flow-control API (SPEC §2.9): info, pause/resume, pin/unpin, resetRate, reset, list, isolation, bad input. */

let sluice: TestSluice;
const receivers: TestReceiver[] = [];
const receiver = async (): Promise<TestReceiver> => {
  const r = await TestReceiver.start();
  receivers.push(r);
  return r;
};

beforeAll(async () => {
  quietSdkErrors();
  sluice = await startSluice();
});
afterAll(async () => {
  for (const r of receivers) await r.close();
  await sluice.close();
});

const nowSec = (): number => Math.floor(Date.now() / 1000);

/** A key with `n` messages whose deliveries are held `holdMs` each, so it stays known while a test runs. */
async function busyKey(prefix: string, n: number, fc: { parallelism?: number; rate?: number; period?: number }, holdMs = 400) {
  const dest = await receiver();
  const t = new Tracker([dest]);
  t.reply = () => ({ status: 200, delayMs: holdMs });
  const key = uniqueKey(prefix);
  const ids = await publishMany(sluice.client(), n, (i) => dest.url(`/${prefix}/${i}`), { key, ...fc });
  return { dest, t, key, ids };
}

/** Expects a rejected SDK call with this status. */
async function rejectsWith(p: Promise<unknown>, status: number): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(QstashError);
  expect((err as QstashError).status).toBe(status);
}

/** Expects a JSON `{error}` reply with this status. */
async function jsonError(res: Response, status: number, match?: RegExp): Promise<string> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/application\/json/);
  const body = (await res.json()) as { error: string };
  expect(typeof body.error).toBe("string");
  if (match) expect(body.error).toMatch(match);
  return body.error;
}

describe("info", () => {
  it("get returns the SDK's FlowControlInfo shape with the key's live numbers", async () => {
    const { t, key } = await busyKey("info", 5, { parallelism: 2, rate: 10, period: 2 });
    await t.waitFor(2);
    const info = await sluice.client().flowControl.get(key);
    expect(Object.keys(info).sort()).toEqual(
      [
        "flowControlKey",
        "waitListSize",
        "parallelismMax",
        "parallelismCount",
        "rateMax",
        "rateCount",
        "ratePeriod",
        "ratePeriodStart",
        "isPaused",
        "isPinnedParallelism",
        "isPinnedRate",
      ].sort(),
    );
    expect(info).toMatchObject({
      flowControlKey: key,
      waitListSize: 3,
      parallelismMax: 2,
      parallelismCount: 2,
      rateMax: 10,
      rateCount: 2,
      ratePeriod: 2,
      isPaused: false,
      isPinnedParallelism: false,
      isPinnedRate: false,
    });
    // Unix seconds, not ms.
    expect(Math.abs(info.ratePeriodStart - nowSec())).toBeLessThanOrEqual(3);
  });

  it("an unknown key is a 404 to get; every action sets the key up in advance instead (the vendor's 200)", async () => {
    const client = sluice.client();
    const key = uniqueKey("nobody");
    await rejectsWith(client.flowControl.get(key), 404);
    await jsonError(await sluice.api("GET", `/v2/flowControl/${key}`), 404, new RegExp(key));
    await client.flowControl.resetRate(key);
    await client.flowControl.pin(key, { parallelism: 1 });
    await client.flowControl.unpin(key, { parallelism: true });
    await client.flowControl.pause(key);
    expect(await client.flowControl.get(key)).toMatchObject({ flowControlKey: key, isPaused: true, isPinnedParallelism: false, waitListSize: 0 });
    await client.flowControl.resume(key);
    expect((await sluice.api("POST", `/v2/flowControl/${key}/reset`)).status).toBe(200);
    // A name a message could not use is refused, and nothing is set up.
    await jsonError(await sluice.api("POST", "/v2/flowControl/bad%20key/pause"), 400, /flow-control key/);
    const listed = (await (await sluice.api("GET", "/v2/flowControl")).json()) as { flowControlKey: string }[];
    expect(listed.map((k) => k.flowControlKey)).toContain(key);
    expect(listed.map((k) => k.flowControlKey)).not.toContain("bad key");
  });

  it("GET /v2/flowControl lists the user's keys, filtered by a search substring", async () => {
    const tag = uniqueKey("lst");
    const client = sluice.client();
    const dest = await receiver();
    const t = new Tracker([dest]);
    t.reply = () => ({ status: 200, delayMs: 500 });
    for (const name of ["alpha", "beta", "alphabet"]) {
      await client.publish({ url: dest.url(`/${name}`), body: "x", flowControl: { key: `${tag}-${name}`, parallelism: 1 } });
    }
    await t.waitFor(3);
    const all = (await (await sluice.api("GET", "/v2/flowControl")).json()) as { flowControlKey: string }[];
    const mine = all.map((i) => i.flowControlKey).filter((k) => k.startsWith(tag));
    expect(mine.sort()).toEqual([`${tag}-alpha`, `${tag}-alphabet`, `${tag}-beta`]);
    const res = await sluice.api("GET", `/v2/flowControl?search=${encodeURIComponent(`${tag}-alpha`)}`);
    expect(res.status).toBe(200);
    const found = (await res.json()) as { flowControlKey: string; parallelismCount: number }[];
    expect(found.map((i) => i.flowControlKey).sort()).toEqual([`${tag}-alpha`, `${tag}-alphabet`]);
    expect(found[0].parallelismCount).toBe(1);
    const none = (await (await sluice.api("GET", `/v2/flowControl?search=${tag}-zzz`)).json()) as unknown[];
    expect(none).toEqual([]);
    // Another user does not see them.
    const other = (await (await sluice.api("GET", `/v2/flowControl?search=${tag}`, { token: sluice.token(1) })).json()) as unknown[];
    expect(other).toEqual([]);
  });

  it("getGlobalParallelism has the SDK shape", async () => {
    const g = await sluice.client().flowControl.getGlobalParallelism();
    expect(g).toEqual({ parallelismMax: expect.any(Number), parallelismCount: expect.any(Number) });
    expect(g.parallelismMax).toBeGreaterThan(0);
    const raw = (await (await sluice.api("GET", "/v2/globalParallelism")).json()) as Record<string, unknown>;
    expect(Object.keys(raw).sort()).toEqual(["parallelismCount", "parallelismMax"]);
  });
});

describe("pause and resume", () => {
  it("nothing is delivered while paused, the waitlist grows, and resume delivers it", async () => {
    const { dest, t, key } = await busyKey("pause", 1, { parallelism: 2 }, 200);
    const client = sluice.client();
    await t.waitFor(1);
    await client.flowControl.pause(key);
    expect((await client.flowControl.get(key)).isPaused).toBe(true);
    await publishMany(client, 5, (i) => dest.url(`/pause/later/${i}`), { key, parallelism: 2 });
    await sleep(500);
    expect(t.arrivals).toHaveLength(1);
    const paused = await client.flowControl.get(key);
    expect(paused).toMatchObject({ isPaused: true, waitListSize: 5, parallelismCount: 0 });
    const resumedAt = Date.now();
    await client.flowControl.resume(key);
    expect((await client.flowControl.get(key)).isPaused).toBe(false);
    await t.waitFor(6, 3000);
    expect(t.arrivals[1].at - resumedAt).toBeLessThan(150);
    expect(t.max()).toBe(2);
  });

  it("pause keeps the rate count; resume and pause are idempotent", async () => {
    const { t, key } = await busyKey("pause-rate", 3, { rate: 10, period: 2 }, 300);
    const client = sluice.client();
    await t.waitFor(3);
    await client.flowControl.pause(key);
    await client.flowControl.pause(key);
    expect(await client.flowControl.get(key)).toMatchObject({ isPaused: true, rateCount: 3 });
    await client.flowControl.resume(key);
    await client.flowControl.resume(key);
    expect((await client.flowControl.get(key)).isPaused).toBe(false);
  });
});

describe("cancel", () => {
  it("cancelling a waiting message takes it off the waitlist and out of the key's limits", async () => {
    const { dest, t, key } = await busyKey("cancel", 1, { parallelism: 1 }, 300);
    const client = sluice.client();
    await t.waitFor(1);
    await client.flowControl.pause(key);
    await publishMany(client, 2, (i) => dest.url(`/cancel/low-${i}`), { key, parallelism: 1 });
    const [high] = await publishMany(client, 1, () => dest.url("/cancel/high"), { key, parallelism: 4 });
    expect(await client.flowControl.get(key)).toMatchObject({ waitListSize: 3, parallelismMax: 4 });
    expect(await client.messages.cancel(high)).toEqual({ cancelled: 1 });
    expect(await client.flowControl.get(key)).toMatchObject({ waitListSize: 2, parallelismMax: 1 });
    await client.flowControl.resume(key);
    await t.waitFor(3, 3000);
    await sleep(100);
    expect(t.arrivals.map((a) => a.path)).not.toContain("/cancel/high");
    expect(t.max()).toBe(1);
  });
});

describe("pin and unpin", () => {
  it("pin sets the limits (SDK test: 3, 20, 120), flags them pinned and resets the rate count", async () => {
    const { t, key } = await busyKey("pin", 4, { parallelism: 5, rate: 10, period: 1 }, 400);
    const client = sluice.client();
    await t.waitFor(4);
    expect((await client.flowControl.get(key)).rateCount).toBe(4);
    const before = nowSec();
    await client.flowControl.pin(key, { parallelism: 3, rate: 20, period: 120 });
    const info = await client.flowControl.get(key);
    expect(info).toMatchObject({
      parallelismMax: 3,
      rateMax: 20,
      ratePeriod: 120,
      rateCount: 0,
      isPinnedParallelism: true,
      isPinnedRate: true,
    });
    expect(info.ratePeriodStart).toBeGreaterThanOrEqual(before);
    await client.flowControl.unpin(key, { parallelism: true, rate: true });
  });

  it("while pinned, the incoming messages' values are ignored (seen on concurrency)", async () => {
    const { dest, t, key } = await busyKey("pin-conc", 1, { parallelism: 5 }, 300);
    const client = sluice.client();
    await t.waitFor(1);
    await client.flowControl.pin(key, { parallelism: 1 });
    t.reply = () => ({ status: 200, delayMs: 100 });
    await publishMany(client, 6, (i) => dest.url(`/pin-conc/more/${i}`), { key, parallelism: 5 });
    expect((await client.flowControl.get(key)).parallelismMax).toBe(1);
    await t.waitFor(7, 3000);
    expect(t.max()).toBe(1);
  });

  it("unpin one dimension; the unpinned value stays until a message with a different value arrives", async () => {
    // The first message (parallelism 4) stays in flight for the whole test.
    const { dest, t, key } = await busyKey("unpin", 1, { parallelism: 4, rate: 50 }, 1500);
    const client = sluice.client();
    await t.waitFor(1);
    await client.flowControl.pin(key, { parallelism: 1, rate: 7, period: 2 });
    t.reply = () => ({ status: 200, delayMs: 150 });
    // Messages with the same value as the pin: they do not end the held value after the unpin.
    await publishMany(client, 6, (i) => dest.url(`/unpin/a/${i}`), { key, parallelism: 1, rate: 50 });

    await client.flowControl.unpin(key, { parallelism: true });
    let info = await client.flowControl.get(key);
    expect(info).toMatchObject({ isPinnedParallelism: false, isPinnedRate: true, parallelismMax: 1, rateMax: 7, ratePeriod: 2 });
    // The first message (parallelism 4) is still counted, yet the unpinned value 1 stays in force.
    await sleep(200);
    expect(t.arrivals).toHaveLength(1);

    // Unpin with neither flag changes nothing.
    await client.flowControl.unpin(key, {});
    expect(await client.flowControl.get(key)).toMatchObject({ isPinnedParallelism: false, isPinnedRate: true, parallelismMax: 1 });

    // A message with a different parallelism ends the held value: the highest waiting/in-flight value (4) applies.
    await client.publish({ url: dest.url("/unpin/b/0"), body: "x", flowControl: { key, parallelism: 3, rate: 50 } });
    info = await client.flowControl.get(key);
    expect(info.parallelismMax).toBe(4);
    expect(info.rateMax).toBe(7);
    await eventually(() => t.max() >= 3 && true, 3000, 5);
    await client.flowControl.unpin(key, { rate: true });
    expect(await client.flowControl.get(key)).toMatchObject({ isPinnedParallelism: false, isPinnedRate: false });
    await t.waitFor(8, 3000);
    expect(t.max()).toBeLessThanOrEqual(4);
  });

  it("invalid pin and unpin values are a 400 with a JSON error", async () => {
    const { t, key } = await busyKey("pin-bad", 1, { parallelism: 1 }, 400);
    await t.waitFor(1);
    for (const q of ["", "?parallelism=0", "?parallelism=abc", "?parallelism=1.5", "?rate=-1", "?period=0", "?period=1m", `?period=${8 * 86_400}`]) {
      await jsonError(await sluice.api("POST", `/v2/flowControl/${key}/pin${q}`), 400);
    }
    await jsonError(await sluice.api("POST", `/v2/flowControl/${key}/unpin?parallelism=yes`), 400, /parallelism/);
    await rejectsWith(sluice.client().flowControl.pin(key, { parallelism: 0 }), 400);
    // Nothing was changed by the refused calls.
    expect(await sluice.client().flowControl.get(key)).toMatchObject({ isPinnedParallelism: false, isPinnedRate: false, parallelismMax: 1 });
  });
});

describe("resetRate and reset", () => {
  it("resetRate zeroes the count and opens a new window: a rate-limited backlog continues at once", async () => {
    const { t, key } = await busyKey("reset-rate", 6, { rate: 2, period: 2 }, 0);
    const client = sluice.client();
    await t.waitFor(2);
    await sleep(100);
    expect(t.arrivals).toHaveLength(2);
    expect(await client.flowControl.get(key)).toMatchObject({ rateCount: 2, waitListSize: 4 });
    const resetAt = Date.now();
    await client.flowControl.resetRate(key);
    await t.waitFor(4, 1000);
    // Started right after the reset, not at the end of the 2 s window.
    expect(t.arrivals[2].at - resetAt).toBeLessThan(150);
    expect(t.arrivals[3].at - resetAt).toBeLessThan(150);
    const info = await client.flowControl.get(key);
    expect(info.rateCount).toBe(2);
    expect(info.ratePeriodStart).toBeGreaterThanOrEqual(Math.floor(resetAt / 1000));
    await sleep(200);
    expect(t.arrivals).toHaveLength(4);
    await client.messages.cancel({ filter: { flowControlKey: key } });
  });

  it("resetRate on a paused key zeroes the count (SDK test)", async () => {
    const { t, key } = await busyKey("reset-paused", 3, { rate: 10 }, 300);
    const client = sluice.client();
    await t.waitFor(3);
    await client.flowControl.pause(key);
    await client.flowControl.resetRate(key);
    expect(await client.flowControl.get(key)).toMatchObject({ rateCount: 0, isPaused: true });
    await client.flowControl.resume(key);
  });

  it("/reset resumes and unpins, and the messages' own values rule again", async () => {
    const { dest, t, key } = await busyKey("reset", 1, { parallelism: 3 }, 300);
    const client = sluice.client();
    await t.waitFor(1);
    await client.flowControl.pin(key, { parallelism: 1, rate: 1, period: 5 });
    await client.flowControl.pause(key);
    t.reply = () => ({ status: 200, delayMs: 200 });
    await publishMany(client, 6, (i) => dest.url(`/reset/more/${i}`), { key, parallelism: 3 });
    await sleep(350);
    expect(t.arrivals).toHaveLength(1);
    const res = await sluice.api("POST", `/v2/flowControl/${key}/reset`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ isPaused: false, isPinnedParallelism: false, isPinnedRate: false, parallelismMax: 3, rateMax: 0 });
    await t.waitFor(7, 3000);
    expect(t.max()).toBe(3);
  });
});

describe("isolation between users", () => {
  it("another user can neither see nor steer a key: their actions set up a key of their own, the owner's is untouched", async () => {
    const { t, key } = await busyKey("iso", 3, { parallelism: 1 }, 300);
    await t.waitFor(1);
    const other = sluice.client(1);
    await rejectsWith(other.flowControl.get(key), 404);
    await other.flowControl.pin(key, { parallelism: 5 });
    await other.flowControl.pause(key);
    await other.flowControl.resetRate(key);
    expect(await other.flowControl.get(key)).toMatchObject({ isPaused: true, isPinnedParallelism: true, parallelismMax: 5, waitListSize: 0 });
    expect(await sluice.client(0).flowControl.get(key)).toMatchObject({
      isPaused: false,
      isPinnedParallelism: false,
      parallelismMax: 1,
    });
    await t.waitFor(3, 3000);
    expect(t.max()).toBe(1);
  });
});

describe("bad flow-control headers at publish", () => {
  const cases: [string, Record<string, string>][] = [
    ["value with letters", { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "parallelism=abc" }],
    ["negative parallelism", { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "parallelism=-1" }],
    ["fractional parallelism", { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "parallelism=1.5" }],
    ["rate zero", { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "rate=0" }],
    ["empty rate", { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "rate=" }],
    ["no equals sign", { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "parallelism 3" }],
    ["unknown part beside a good one", { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "parallelism=2, burst=4" }],
    ["bad period unit", { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "rate=5, period=1x" }],
    ["period below a second", { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "rate=5, period=0s" }],
    ["period over a week", { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "rate=5, period=8d" }],
    ["only commas", { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": ", ," }],
    ["key without value", { "Upstash-Flow-Control-Key": "k" }],
    ["key with an empty value", { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "" }],
    ["value without key", { "Upstash-Flow-Control-Value": "rate=1" }],
  ];
  for (const [name, headers] of cases) {
    it(`${name} → 400 JSON`, async () => {
      const res = await sluice.api("POST", "/v2/publish/http://127.0.0.1:9/x", { body: "x", headers });
      await jsonError(res, 400, /Upstash-Flow-Control/);
    });
  }

  it("lenient forms are accepted: no spaces, any order, any case, deprecated ratePerSecond", async () => {
    const dest = await receiver();
    const t = new Tracker([dest]);
    t.reply = () => ({ status: 200 });
    const key = uniqueKey("lenient");
    for (const value of ["rate=10,parallelism=15", "Parallelism=3 , Rate=4 , Period=2s", "ratePerSecond=5", "period=1m, rate=2"]) {
      const res = await sluice.api("POST", `/v2/publish/${dest.url("/ok")}`, {
        body: "x",
        headers: { "Upstash-Flow-Control-Key": key, "Upstash-Flow-Control-Value": value },
      });
      expect(res.status, value).toBe(200);
    }
    await t.waitFor(3, 3000);
  });

  it("a bad item in a batch fails alone", async () => {
    const dest = await receiver();
    const res = await sluice.api("POST", "/v2/batch", {
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify([
        { destination: dest.url("/good"), headers: { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "parallelism=1" }, body: "a" },
        { destination: dest.url("/bad"), headers: { "Upstash-Flow-Control-Key": "k", "Upstash-Flow-Control-Value": "parallelism=x" }, body: "b" },
      ]),
    });
    expect(res.status).toBe(200);
    const out = (await res.json()) as Record<string, string>[];
    expect(out[0].messageId).toMatch(/^msg_/);
    expect(out[1].error).toMatch(/Upstash-Flow-Control-Value/);
    await dest.waitFor(1);
  });
});
