import { QstashError, type Client } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver, type Received } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

/**
 * Schedules (SPEC §2.4) through the official SDK and raw HTTP. Crons use the seconds extension (`*\/1 * * * * *`)
 * so ticks come every second; the tick tests run concurrently, each with its own receiver.
 */

const EVERY_SECOND = "*/1 * * * * *";

let sluice: TestSluice;
let client: Client;
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  quietSdkErrors();
  sluice = await startSluice();
  client = sluice.client();
});
afterAll(async () => {
  await sluice?.close();
  for (const r of receivers) await r.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const msgId = (r: Received): string => r.headers["upstash-message-id"] as string;
let seq = 0;
const unique = (prefix: string): string => `${prefix}-${Date.now().toString(36)}-${seq++}`;

async function receiver(): Promise<TestReceiver> {
  const r = await TestReceiver.start();
  receivers.push(r);
  return r;
}

async function rejectsWith(p: Promise<unknown>, status: number): Promise<QstashError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(QstashError);
  expect((err as QstashError).status).toBe(status);
  return err as QstashError;
}

async function jsonError(res: Response, status: number, match?: RegExp): Promise<string> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/application\/json/);
  const body = JSON.parse(text) as { error: string };
  expect(typeof body.error).toBe("string");
  if (match) expect(body.error).toMatch(match);
  return body.error;
}

/** Raw schedule JSON (the SDK type lacks a few fields, e.g. `callerIp`). */
async function getRaw(id: string, user = 0): Promise<Record<string, unknown>> {
  const res = await sluice.api("GET", `/v2/schedules/${id}`, { token: sluice.token(user) });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

/** A log entry as the server sends it (the SDK's `Log` type lists only some of the fields). */
interface RawLog {
  messageId: string;
  state: string;
  url: string;
  scheduleId?: string;
  queueName?: string;
  endpointName?: string;
  maxRetries?: number;
}

async function logsOf(filter: Parameters<Client["logs"]>[0]): Promise<RawLog[]> {
  const { logs } = await client.logs(filter);
  return logs as unknown as RawLog[];
}

/** No request arrives at `dest` for `ms`; returns how many had arrived. */
async function quietFor(dest: TestReceiver, ms: number): Promise<number> {
  const before = dest.requests.length;
  await sleep(ms);
  expect(dest.requests.length, `deliveries while the schedule should be silent`).toBe(before);
  return before;
}

describe.concurrent("schedule ticks", () => {
  it("create returns an id; each tick delivers the schedule's body, method, forwarded headers and Upstash-Schedule-Id", async ({ expect }) => {
    const dest = await receiver();
    const { scheduleId } = await client.schedules.create({
      destination: dest.url("/tick?q=1&r=two"),
      cron: EVERY_SECOND,
      body: "tick-body",
      method: "PUT",
      headers: { X: "y", "Content-Type": "text/plain" },
      retries: 2,
    });
    expect(scheduleId).toMatch(/^scd_/);
    const reqs = (await dest.waitFor(3, 6000)).slice(0, 3);
    for (const r of reqs) {
      expect(r.method).toBe("PUT");
      expect(r.path).toBe("/tick?q=1&r=two");
      expect(r.body.toString()).toBe("tick-body");
      expect(r.headers["x"]).toBe("y");
      expect(r.headers["content-type"]).toBe("text/plain");
      expect(r.headers["upstash-schedule-id"]).toBe(scheduleId);
      expect(r.headers["upstash-retried"]).toBe("0");
      expect(r.headers["upstash-topic-name"]).toBeUndefined();
      // Schedule-only headers are not passed on.
      expect(r.headers["upstash-cron"]).toBeUndefined();
      expect(r.headers["cron"]).toBeUndefined();
    }
    // A distinct message per tick, one second apart.
    expect(new Set(reqs.map(msgId)).size).toBe(3);
    for (let i = 1; i < 3; i++) expect(reqs[i].at - reqs[i - 1].at).toBeGreaterThan(300);
    // Each produced message carries the schedule's retries.
    const logs = await logsOf({ filter: { messageId: msgId(reqs[0]) } });
    expect(logs.length).toBeGreaterThan(0);
    for (const l of logs) {
      expect(l.scheduleId).toBe(scheduleId);
      expect(l.maxRetries).toBe(2);
    }
    await client.schedules.delete(scheduleId);
  });

  it("a failing tick is retried per the schedule's retries, then FAILs into the DLQ; logs and DLQ filter by scheduleId", async ({ expect }) => {
    const dest = await receiver();
    dest.respond = () => ({ status: 500, body: "boom" });
    const { scheduleId } = await client.schedules.create({
      destination: dest.url("/fails"),
      cron: EVERY_SECOND,
      body: "will fail",
      retries: 1,
      retryDelay: "50",
    });
    const other = await client.schedules.create({ destination: dest.url("/other"), cron: EVERY_SECOND, body: "other", retries: 0 });
    // Two attempts of the first tick's message (retried 0 then 1), then FAIL.
    const first = await eventually(() => {
      const mine = dest.at("/fails");
      const id = mine.length ? msgId(mine[0]) : undefined;
      const attempts = mine.filter((r) => msgId(r) === id);
      return attempts.length === 2 ? attempts : undefined;
    }, 5000);
    expect(first.map((r) => r.headers["upstash-retried"])).toEqual(["0", "1"]);
    expect(first[0].headers["upstash-schedule-id"]).toBe(scheduleId);
    await client.schedules.pause({ schedule: scheduleId });
    // Created a moment after the first, the other may tick a second later (its first second may have gone by).
    await eventually(() => (dest.at("/other").length ? true : undefined), 5000);
    await client.schedules.pause({ schedule: other.scheduleId });

    // The last tick's message ends as FAIL in lastScheduleStates.
    const states = await eventually(async () => {
      const s = await client.schedules.get(scheduleId);
      const values = Object.values(s.lastScheduleStates ?? {});
      return values.length === 1 && values[0] === "FAIL" ? s.lastScheduleStates : undefined;
    }, 5000);
    const lastId = Object.keys(states!)[0];
    expect(dest.at("/fails").map(msgId)).toContain(lastId);

    const { messages } = await eventually(async () => {
      const r = await client.dlq.listMessages({ filter: { scheduleId } });
      return r.messages.some((m) => m.messageId === lastId) ? r : undefined;
    }, 5000);
    expect(messages.length).toBeGreaterThanOrEqual(1);
    for (const m of messages) {
      expect(m.scheduleId).toBe(scheduleId);
      expect(m.url).toBe(dest.url("/fails"));
      expect(m.responseStatus).toBe(500);
      expect(m.maxRetries).toBe(1);
    }
    const otherDlq = await eventually(async () => {
      const r = await client.dlq.listMessages({ filter: { scheduleId: other.scheduleId } });
      return r.messages.length ? r.messages : undefined;
    });
    for (const m of otherDlq) expect(m.scheduleId).toBe(other.scheduleId);

    const logs = await logsOf({ filter: { scheduleId } });
    expect(logs.length).toBeGreaterThan(0);
    for (const l of logs) expect(l.scheduleId).toBe(scheduleId);
    const ofFirst = logs.filter((l) => l.messageId === msgId(first[0])).map((l) => l.state);
    expect(ofFirst).toContain("CREATED");
    expect(ofFirst).toContain("FAILED");
    expect(logs.some((l) => l.url === dest.url("/other"))).toBe(false);

    await client.schedules.delete(scheduleId);
    await client.schedules.delete(other.scheduleId);
  });

  it("get shows the schedule; lastScheduleStates goes IN_PROGRESS → SUCCESS for the last tick", async ({ expect }) => {
    const dest = await receiver();
    dest.respond = () => ({ status: 200, delayMs: 600 });
    const before = Date.now();
    const { scheduleId } = await client.schedules.create({
      destination: dest.url("/shape"),
      cron: "*/2 * * * * *",
      body: JSON.stringify({ hello: "world" }),
      headers: { X: "y" },
      retries: 4,
      timeout: 10,
      label: "nightly",
    });
    const fresh = await client.schedules.get(scheduleId);
    expect(fresh).toMatchObject({
      scheduleId,
      cron: "*/2 * * * * *",
      destination: dest.url("/shape"),
      method: "POST",
      body: '{"hello":"world"}',
      retries: 4,
      isPaused: false,
      callerIP: "127.0.0.1",
      labels: ["nightly"],
    });
    expect(fresh.header).toMatchObject({ X: ["y"], "Content-Type": ["application/json"] });
    expect(fresh.createdAt).toBeGreaterThanOrEqual(before - 5);
    expect(fresh.createdAt).toBeLessThanOrEqual(Date.now());
    expect(fresh.nextScheduleTime! % 2000).toBe(0);
    expect(fresh.nextScheduleTime!).toBeGreaterThan(before - 1000);
    expect(fresh.nextScheduleTime!).toBeLessThanOrEqual(Date.now() + 2000);
    expect(fresh.lastScheduleTime).toBeUndefined();
    expect(fresh.lastScheduleStates).toBeUndefined();
    const raw = await getRaw(scheduleId);
    expect(raw.callerIp).toBe("127.0.0.1");
    expect(raw.timeout).toBe(10);

    // The first tick is delivered and held by the receiver: in progress.
    const [r] = await dest.waitFor(1, 4000);
    const during = await client.schedules.get(scheduleId);
    expect(during.lastScheduleStates).toEqual({ [msgId(r)]: "IN_PROGRESS" });
    expect(during.lastScheduleTime).toBe(fresh.nextScheduleTime);
    expect(during.lastScheduleTime!).toBeLessThanOrEqual(r.at);
    expect(during.nextScheduleTime).toBe(during.lastScheduleTime! + 2000);
    // Once answered: success (before the next tick replaces it).
    const after = await eventually(async () => {
      const s = await client.schedules.get(scheduleId);
      return s.lastScheduleTime === during.lastScheduleTime && s.lastScheduleStates?.[msgId(r)] === "SUCCESS" ? s : undefined;
    }, 1300);
    expect(Object.keys(after.lastScheduleStates!)).toEqual([msgId(r)]);

    // list shows the same shape.
    const listed = (await client.schedules.list()).find((s) => s.scheduleId === scheduleId);
    expect(listed).toMatchObject({ scheduleId, cron: "*/2 * * * * *", destination: dest.url("/shape"), retries: 4, isPaused: false });
    await client.schedules.delete(scheduleId);
  });

  it("create with a scheduleId uses it; creating it again replaces the schedule in place", async ({ expect }) => {
    const dest = await receiver();
    const id = unique("my_sched.v1");
    const res = await client.schedules.create({ destination: dest.url("/v1"), cron: EVERY_SECOND, body: "v1", scheduleId: id });
    expect(res.scheduleId).toBe(id);
    await eventually(() => dest.at("/v1").length >= 1, 3000);
    const original = await client.schedules.get(id);

    const again = await client.schedules.create({
      destination: dest.url("/v2"),
      cron: "*/2 * * * * *",
      body: "v2",
      method: "PATCH",
      scheduleId: id,
    });
    const replacedAt = Date.now();
    expect(again.scheduleId).toBe(id);
    const replaced = await client.schedules.get(id);
    expect(replaced).toMatchObject({ scheduleId: id, cron: "*/2 * * * * *", destination: dest.url("/v2"), body: "v2", method: "PATCH" });
    expect(replaced.createdAt).toBe(original.createdAt);
    expect(replaced.nextScheduleTime! % 2000).toBe(0);
    expect((await client.schedules.list()).filter((s) => s.scheduleId === id)).toHaveLength(1);

    const v2 = await eventually(() => (dest.at("/v2").length >= 2 ? dest.at("/v2") : undefined), 6000);
    for (const r of v2) {
      expect(r.method).toBe("PATCH");
      expect(r.body.toString()).toBe("v2");
      expect(r.headers["upstash-schedule-id"]).toBe(id);
      // Even seconds now (a tick fires a few ms after its second starts).
      expect(r.at % 2000, `arrived at ${r.at}`).toBeLessThan(1000);
    }
    // The old definition stopped (at most one tick already committed when it was replaced).
    expect(dest.at("/v1").filter((r) => r.at > replacedAt + 200)).toHaveLength(0);
    await client.schedules.delete(id);
  });

  it("pause (PATCH) stops ticks and sets isPaused; resume restarts them", async ({ expect }) => {
    const dest = await receiver();
    const { scheduleId } = await client.schedules.create({ destination: dest.url("/pause"), cron: EVERY_SECOND, body: "p" });
    await dest.waitFor(1, 3000);
    await client.schedules.pause({ schedule: scheduleId });
    const paused = await client.schedules.get(scheduleId);
    expect(paused.isPaused).toBe(true);
    expect(paused.nextScheduleTime).toBeUndefined();
    expect((await client.schedules.list()).find((s) => s.scheduleId === scheduleId)?.isPaused).toBe(true);
    await sleep(400); // a tick committed just before the pause may still be in flight
    const n = await quietFor(dest, 2500);
    // Pausing twice is fine.
    await client.schedules.pause({ schedule: scheduleId });

    await client.schedules.resume({ schedule: scheduleId });
    const resumed = await client.schedules.get(scheduleId);
    expect(resumed.isPaused).toBe(false);
    expect(resumed.nextScheduleTime!).toBeGreaterThan(Date.now() - 100);
    await dest.waitFor(n + 2, 4000);
    for (const r of dest.requests) expect(r.headers["upstash-schedule-id"]).toBe(scheduleId);
    // Ticks missed while paused are not made up: one per second after the resume, not a burst.
    const afterResume = dest.requests.slice(n);
    expect(afterResume[1].at - afterResume[0].at).toBeGreaterThan(300);
    await client.schedules.delete(scheduleId);
  });

  it("POST /pause and /resume work as well", async ({ expect }) => {
    const dest = await receiver();
    const { scheduleId } = await client.schedules.create({ destination: dest.url("/post-pause"), cron: EVERY_SECOND, body: "pp" });
    await dest.waitFor(1, 3000);
    const p = await sluice.api("POST", `/v2/schedules/${scheduleId}/pause`);
    expect(p.status).toBe(200);
    expect(p.headers.get("content-type")).toMatch(/application\/json/);
    expect((await client.schedules.get(scheduleId)).isPaused).toBe(true);
    await sleep(400);
    const n = await quietFor(dest, 2500);
    const r = await sluice.api("POST", `/v2/schedules/${scheduleId}/resume`);
    expect(r.status).toBe(200);
    expect((await client.schedules.get(scheduleId)).isPaused).toBe(false);
    await dest.waitFor(n + 1, 3000);
    await client.schedules.delete(scheduleId);
  });

  it("delete stops ticks; the schedule is gone from get and list", async ({ expect }) => {
    const dest = await receiver();
    const { scheduleId } = await client.schedules.create({ destination: dest.url("/delete"), cron: EVERY_SECOND, body: "d" });
    await dest.waitFor(1, 3000);
    await client.schedules.delete(scheduleId);
    await rejectsWith(client.schedules.get(scheduleId), 404);
    expect((await client.schedules.list()).some((s) => s.scheduleId === scheduleId)).toBe(false);
    await sleep(400);
    await quietFor(dest, 2500);
    await jsonError(await sluice.api("DELETE", `/v2/schedules/${scheduleId}`), 404, new RegExp(scheduleId));
    await jsonError(await sluice.api("PATCH", `/v2/schedules/${scheduleId}/resume`), 404);
  });

  it("a schedule to a URL group fans each tick out to every endpoint with Upstash-Topic-Name", async ({ expect }) => {
    const [a, b] = [await receiver(), await receiver()];
    const group = unique("sched-group");
    await client.urlGroups.addEndpoints({ name: group, endpoints: [{ url: a.url("/a") }, { url: b.url("/b"), name: "bee" }] });
    const { scheduleId } = await client.schedules.create({ destination: group, cron: EVERY_SECOND, body: "fan" });
    await Promise.all([a.waitFor(2, 4000), b.waitFor(2, 4000)]);
    await client.schedules.pause({ schedule: scheduleId });
    for (const r of [...a.requests, ...b.requests]) {
      expect(r.headers["upstash-topic-name"]).toBe(group);
      expect(r.headers["upstash-schedule-id"]).toBe(scheduleId);
      expect(r.body.toString()).toBe("fan");
    }
    // One message per endpoint per tick: distinct ids.
    const ids = [...a.requests, ...b.requests].map(msgId);
    expect(new Set(ids).size).toBe(ids.length);
    const s = await client.schedules.get(scheduleId);
    expect(s.destination).toBe(group);
    expect(Object.keys(s.lastScheduleStates ?? {})).toHaveLength(2);
    const logs = await logsOf({ filter: { scheduleId, urlGroup: group } });
    expect(logs.some((l) => l.endpointName === "bee")).toBe(true);
    await client.schedules.delete(scheduleId);
  });

  it("Upstash-Queue-Name puts the ticks into that queue, which then exists", async ({ expect }) => {
    const dest = await receiver();
    const queueName = unique("sched-q");
    const { scheduleId } = await client.schedules.create({ destination: dest.url("/queued"), cron: EVERY_SECOND, body: "q", queueName });
    expect((await client.queue().list()).map((q) => q.name)).toContain(queueName);
    expect((await client.schedules.get(scheduleId)).queueName).toBe(queueName);
    const [r] = await dest.waitFor(1, 3000);
    expect(r.headers["upstash-schedule-id"]).toBe(scheduleId);
    await client.schedules.pause({ schedule: scheduleId });
    const logs = await logsOf({ filter: { queueName } });
    const mine = logs.filter((l) => l.messageId === msgId(r));
    expect(mine.length).toBeGreaterThan(0);
    for (const l of mine) {
      expect(l.queueName).toBe(queueName);
      expect(l.scheduleId).toBe(scheduleId);
    }
    await client.schedules.delete(scheduleId);
  });

  it("delay on a schedule delays each produced message; messages can be cancelled by scheduleId", async ({ expect }) => {
    const dest = await receiver();
    const { scheduleId } = await client.schedules.create({ destination: dest.url("/delayed"), cron: EVERY_SECOND, body: "late", delay: 2 });
    expect((await client.schedules.get(scheduleId)).delay).toBe(2);
    // The first tick's message exists at once but is due two seconds later.
    const firstId = await eventually(async () => Object.keys((await client.schedules.get(scheduleId)).lastScheduleStates ?? {})[0], 3000, 50);
    const pending = await client.messages.get(firstId);
    expect(pending.scheduleId).toBe(scheduleId);
    expect(pending.notBefore! - pending.createdAt).toBe(2000);
    const [first] = await dest.waitFor(1, 4000);
    expect(msgId(first)).toBe(firstId);
    expect(first.at).toBeGreaterThanOrEqual(pending.createdAt + 2000 - 5);
    await client.schedules.pause({ schedule: scheduleId });
    // The ticks fired since are still waiting; cancelling by scheduleId removes them all, and nothing else.
    const { cancelled } = await client.messages.cancel({ filter: { scheduleId } });
    expect(cancelled).toBeGreaterThanOrEqual(1);
    const seen = dest.requests.length;
    await sleep(2200);
    expect(dest.requests.length).toBe(seen);
    await client.schedules.delete(scheduleId);
  });

  it("flow-control headers on a schedule apply to every produced message", async ({ expect }) => {
    const dest = await receiver();
    const HOLD = 1300;
    dest.respond = () => ({ status: 200, delayMs: HOLD });
    const key = unique("sched-fc");
    const { scheduleId } = await client.schedules.create({
      destination: dest.url("/fc"),
      cron: EVERY_SECOND,
      body: "fc",
      flowControl: { key, parallelism: 1 },
    });
    const s = await client.schedules.get(scheduleId);
    expect(s).toMatchObject({ flowControlKey: key, parallelism: 1 });
    // Ticks come every second but each delivery is held longer: one at a time, so they queue up behind the key.
    const reqs = await dest.waitFor(3, 6000);
    await client.schedules.pause({ schedule: scheduleId });
    for (let i = 1; i < 3; i++) expect(reqs[i].at - reqs[i - 1].at).toBeGreaterThanOrEqual(HOLD - 10);
    const info = await client.flowControl.get(key);
    expect(info.parallelismMax).toBe(1);
    expect(info.parallelismCount).toBeLessThanOrEqual(1);
    const logs = await logsOf({ filter: { flowControlKey: key } });
    expect(logs.length).toBeGreaterThan(0);
    for (const l of logs) expect(l.scheduleId).toBe(scheduleId);
    await client.messages.cancel({ filter: { scheduleId } });
    await client.schedules.delete(scheduleId);
  });
});

describe("schedule isolation and bad input", () => {
  it("another user can neither see nor touch a schedule (404)", async () => {
    const dest = await receiver();
    const { scheduleId } = await client.schedules.create({ destination: dest.url("/mine"), cron: "0 0 1 1 *", body: "x" });
    const intruder = sluice.client(1);
    await rejectsWith(intruder.schedules.get(scheduleId), 404);
    await rejectsWith(intruder.schedules.delete(scheduleId), 404);
    await rejectsWith(intruder.schedules.pause({ schedule: scheduleId }), 404);
    await rejectsWith(intruder.schedules.resume({ schedule: scheduleId }), 404);
    for (const [method, path] of [
      ["POST", `/v2/schedules/${scheduleId}/pause`],
      ["POST", `/v2/schedules/${scheduleId}/resume`],
    ]) {
      await jsonError(await sluice.api(method, path, { token: sluice.token(1) }), 404);
    }
    expect((await intruder.schedules.list()).some((s) => s.scheduleId === scheduleId)).toBe(false);
    // Same id chosen by user 1 is a different schedule.
    const theirs = await intruder.schedules.create({ destination: dest.url("/theirs"), cron: "0 0 1 1 *", body: "y", scheduleId });
    expect(theirs.scheduleId).toBe(scheduleId);
    expect((await intruder.schedules.get(scheduleId)).destination).toBe(dest.url("/theirs"));
    const mine = await client.schedules.get(scheduleId);
    expect(mine).toMatchObject({ destination: dest.url("/mine"), isPaused: false, body: "x" });
    await intruder.schedules.delete(scheduleId);
    expect((await client.schedules.get(scheduleId)).destination).toBe(dest.url("/mine"));
    await client.schedules.delete(scheduleId);
  });

  it("unknown schedule → 404 JSON", async () => {
    await rejectsWith(client.schedules.get("no-such-schedule"), 404);
    await jsonError(await sluice.api("GET", "/v2/schedules/no-such-schedule"), 404, /no-such-schedule/);
    await jsonError(await sluice.api("PATCH", "/v2/schedules/no-such-schedule/pause"), 404);
  });

  it("bad input → 400 JSON naming the problem, and nothing is created", async () => {
    const dest = await receiver();
    const url = dest.url("/bad");
    const before = (await client.schedules.list()).length;
    const post = (destination: string, headers: Record<string, string>) =>
      sluice.api("POST", `/v2/schedules/${destination}`, { body: "b", headers: { "Content-Type": "text/plain", ...headers } });
    await jsonError(await post(url, {}), 400, /Upstash-Cron is required/);
    await jsonError(await post(url, { "Upstash-Cron": "" }), 400, /Upstash-Cron is required/);
    await jsonError(await post(url, { "Upstash-Cron": "61 * * * *" }), 400, /minute 61 is out of range/);
    await jsonError(await post(url, { "Upstash-Cron": "* * * *" }), 400, /expected 5 fields/);
    await jsonError(await post(url, { "Upstash-Cron": "* * * * * * *" }), 400, /expected 5 fields/);
    await jsonError(await post(url, { "Upstash-Cron": "*/0 * * * *" }), 400, /stepping/);
    await jsonError(await post(url, { "Upstash-Cron": "CRON_TZ=Mars/Base 0 0 * * *" }), 400, /invalid time zone "Mars\/Base"/);
    await jsonError(await post(url, { "Upstash-Cron": "CRON_TZ=Europe/Berlin" }), 400, /time zone prefix/);
    await jsonError(await post(url, { "Upstash-Cron": "* * * * *", "Upstash-Schedule-Id": "bad/id!" }), 400, /Upstash-Schedule-Id/);
    await jsonError(await post(url, { "Upstash-Cron": "* * * * *", "Upstash-Schedule-Id": "sp ace" }), 400, /Upstash-Schedule-Id/);
    await jsonError(await post(url, { "Upstash-Cron": "* * * * *", "Upstash-Retries": "many" }), 400, /Upstash-Retries/);
    await jsonError(await post(url, { "Upstash-Cron": "* * * * *", "Upstash-Method": "FETCH" }), 400, /Upstash-Method/);
    await jsonError(await post(url, { "Upstash-Cron": "* * * * *", "Upstash-Delay": "soon" }), 400, /Upstash-Delay/);
    await jsonError(await post(url, { "Upstash-Cron": "* * * * *", "Upstash-Queue-Name": "bad queue!" }), 400, /Upstash-Queue-Name/);
    await jsonError(await post("not a url!", { "Upstash-Cron": "* * * * *" }), 400, /destination/);
    await jsonError(await post("ftp://example.com/x", { "Upstash-Cron": "* * * * *" }), 400, /destination/);
    await jsonError(await post(unique("no-such-group"), { "Upstash-Cron": "* * * * *" }), 404, /no-such-group/);
    // The SDK surfaces them as QstashError with the status.
    await rejectsWith(client.schedules.create({ destination: url, cron: "not a cron" }), 400);
    await rejectsWith(client.schedules.create({ destination: url, cron: "* * * * *", scheduleId: "no/slash" }), 400);
    expect((await client.schedules.list()).length).toBe(before);
  });

  it("a rejected schedule with Upstash-Queue-Name leaves no queue behind", async () => {
    const dest = await receiver();
    const queues = [unique("leak-a"), unique("leak-b"), unique("leak-c")];
    const post = (destination: string, headers: Record<string, string>) =>
      sluice.api("POST", `/v2/schedules/${destination}`, { body: "b", headers: { "Upstash-Cron": "* * * * *", ...headers } });
    await jsonError(await post(dest.url("/x"), { "Upstash-Queue-Name": queues[0], "Upstash-Retries": "many" }), 400, /Upstash-Retries/);
    await jsonError(await post(dest.url("/x"), { "Upstash-Queue-Name": queues[1], "Upstash-Schedule-Id": "bad id" }), 400, /Upstash-Schedule-Id/);
    await jsonError(await post(unique("missing-group"), { "Upstash-Queue-Name": queues[2] }), 404);
    const names = (await client.queue().list()).map((q) => q.name);
    for (const q of queues) expect(names).not.toContain(q);
  });
});
