import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, QstashError } from "@upstash/qstash";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

/** Where Sluice follows the vendor's contract (OpenAPI and SDK) on the calls that used to differ (docs/compatibility.md). */

let sluice: TestSluice;
let receiver: TestReceiver;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  receiver = await TestReceiver.start();
  receiver.respond = (r) => (r.path.startsWith("/fail") ? { status: r.path.includes("404") ? 404 : 500 } : { status: 200 });
  sluice = await startSluice();
});
afterAll(async () => {
  await sluice?.close();
  await receiver?.close();
});

async function errorOf(p: Promise<unknown>): Promise<QstashError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(QstashError);
  return err as QstashError;
}

async function jsonError(res: Response, status: number): Promise<string> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: string };
  expect(typeof body.error).toBe("string");
  return body.error;
}

describe("tokens", () => {
  it("a missing token is a 401 whose JSON error says what to set; the SDK shows it as its message", async () => {
    const err = await errorOf(new Client({ baseUrl: sluice.url, token: "" }).publishJSON({ url: receiver.url("/x"), body: {} }));
    expect(err.status).toBe(401);
    expect(JSON.parse(err.message).error).toMatch(/^missing token: send Authorization: Bearer <token> \(the SDKs read it from QSTASH_TOKEN\)/);
    const raw = await sluice.api("GET", "/v2/queues", { token: null });
    expect(raw.headers.get("www-authenticate")).toBe("Bearer");
    expect(await jsonError(raw, 401)).toMatch(/qstash_token/);
    // Another scheme is no token either.
    expect(await jsonError(await sluice.api("GET", "/v2/queues", { token: null, headers: { authorization: "Basic abc" } }), 401)).toMatch(/^missing token/);
    expect(await jsonError(await sluice.api("GET", "/v2/queues", { token: "nope" }), 401)).toBe("invalid token");
    expect(receiver.at("/x")).toHaveLength(0);
  });
});

describe("filters: several values per filter (repeated or comma-separated), OR within, AND across", () => {
  const commaUrl = () => receiver.url("/a?ids=1,2");
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const c = sluice.client();
    // Held for an hour, so they stay cancellable; each has its own label, destination and key.
    ids.a = (await c.publishJSON({ url: commaUrl(), body: 1, delay: 3600, label: "fa", flowControl: { key: "fk-a", parallelism: 1 } })).messageId;
    ids.b = (await c.publishJSON({ url: receiver.url("/b"), body: 2, delay: 3600, label: "fb", flowControl: { key: "fk-b", parallelism: 1 } })).messageId;
    ids.c = (await c.publishJSON({ url: receiver.url("/c"), body: 3, delay: 3600, label: "fc" })).messageId;
  });

  async function logged(query: string): Promise<string[]> {
    const res = await sluice.api("GET", `/v2/logs?${query}`);
    expect(res.status).toBe(200);
    const { logs } = (await res.json()) as { logs: { messageId: string }[] };
    return [...new Set(logs.map((l) => l.messageId))].filter((id) => Object.values(ids).includes(id)).sort();
  }
  const sorted = (...names: string[]) => names.map((n) => ids[n]).sort();
  const q = encodeURIComponent;

  it("logs (SDK and raw): label, url (commas inside a URL kept), flowControlKey, callerIp / callerIP, state", async () => {
    const sdk = await sluice.client().logs({ filter: { label: ["fa", "fb"] } });
    expect([...new Set(sdk.logs.map((l) => l.messageId))].sort()).toEqual(sorted("a", "b"));
    expect(await logged("label=fa,fb")).toEqual(sorted("a", "b"));
    expect(await logged("label=fa&label=fc")).toEqual(sorted("a", "c"));
    expect(await logged(`label=fa,fb&url=${q(receiver.url("/b"))}`)).toEqual(sorted("b"));
    expect(await logged(`url=${q(commaUrl())}`)).toEqual(sorted("a"));
    expect(await logged(`url=${q(`${commaUrl()},${receiver.url("/c")}`)}`)).toEqual(sorted("a", "c"));
    expect(await logged(`url=${q(commaUrl())}&url=${q(receiver.url("/b"))}`)).toEqual(sorted("a", "b"));
    expect(await logged("flowControlKey=fk-a,fk-b")).toEqual(sorted("a", "b"));
    expect(await logged("callerIp=127.0.0.1,10.9.9.9&label=fc")).toEqual(sorted("c"));
    expect(await logged("callerIP=10.9.9.9")).toEqual([]);
    expect(await logged("state=CREATED,DELIVERED&label=fb")).toEqual(sorted("b"));
  });

  it("bulk cancel (DELETE /v2/messages): the same filters select, and only what matches all of them is cancelled", async () => {
    const res = await sluice.api("DELETE", `/v2/messages?label=fa,fb&url=${q(commaUrl())}&url=${q(receiver.url("/c"))}`);
    expect(await res.json()).toEqual({ cancelled: 1 });
    const c = sluice.client();
    await expect(c.messages.get(ids.a)).rejects.toMatchObject({ status: 404 });
    expect((await c.messages.get(ids.b)).messageId).toBe(ids.b);
    expect((await c.messages.get(ids.c)).messageId).toBe(ids.c);
    expect(await c.messages.cancel({ filter: { label: ["fb", "fc"], callerIp: ["127.0.0.1"] } })).toEqual({ cancelled: 2 });
  });

  it("DLQ list, retry and delete: label, responseStatus, url, callerIp", async () => {
    const c = sluice.client();
    for (const [label, path] of [["dx", "/fail/500/x"], ["dy", "/fail/404/y"], ["dz", "/fail/500/z"]]) {
      await c.publishJSON({ url: receiver.url(path), body: {}, retries: 0, label });
    }
    await eventually(async () => (await c.dlq.listMessages({ filter: { label: ["dx", "dy", "dz"] } })).messages.length === 3);
    const listed = async (query: string) => {
      const { messages } = (await (await sluice.api("GET", `/v2/dlq?${query}`)).json()) as { messages: { label?: string }[] };
      return messages.map((m) => m.label).sort();
    };
    expect((await c.dlq.listMessages({ filter: { label: ["dx", "dy"] } })).messages.map((m) => m.label).sort()).toEqual(["dx", "dy"]);
    expect(await listed("label=dx,dy,dz&responseStatus=404")).toEqual(["dy"]);
    expect(await listed("label=dx,dy,dz&responseStatus=404,500")).toEqual(["dx", "dy", "dz"]);
    expect(await listed(`url=${q(receiver.url("/fail/500/x"))},${q(receiver.url("/fail/500/z"))}`)).toEqual(["dx", "dz"]);
    expect(await listed("label=dx,dy,dz&callerIP=127.0.0.1")).toEqual(["dx", "dy", "dz"]);
    const entries = (await c.dlq.listMessages({ filter: { label: ["dx", "dy", "dz"] } })).messages;
    const retried = await c.dlq.retry({ filter: { label: ["dx", "dz"], responseStatus: 500 } });
    expect(retried.responses).toHaveLength(2);
    // The retried messages fail again into new entries; the entries retried are gone, dy's is kept.
    const left = new Set((await c.dlq.listMessages({ filter: { label: ["dx", "dy", "dz"] } })).messages.map((m) => m.dlqId));
    expect(entries.filter((e) => left.has(e.dlqId)).map((e) => e.label)).toEqual(["dy"]);
    const del = await sluice.api("DELETE", "/v2/dlq?label=dy,d-none&callerIp=127.0.0.1");
    expect(await del.json()).toEqual({ deleted: 1 });
  });

  it("schedules, queues and URL groups take no filters: one given is a 400 naming it, not a wider list", async () => {
    for (const path of ["/v2/schedules?label=a", "/v2/queues?queueName=a", "/v2/topics?name=a"]) {
      expect(await jsonError(await sluice.api("GET", path), 400)).toMatch(/unknown query parameter/);
    }
  });
});

describe("DLQ retry of ids that do not exist", () => {
  it("is a 404 naming them, and retries nothing, also when other ids exist", async () => {
    const c = sluice.client();
    await c.publishJSON({ url: receiver.url("/fail/500/only"), body: {}, retries: 0, label: "only" });
    const dlqId = await eventually(async () => (await c.dlq.listMessages({ filter: { label: "only" } })).messages[0]?.dlqId);
    const before = receiver.at("/fail/500/only").length;
    const mixed = await errorOf(c.dlq.retry([dlqId, "dlq-nope"]));
    expect(mixed.status).toBe(404);
    expect(JSON.parse(mixed.message).error).toMatch(/dlq-nope.*nothing was retried/);
    expect(await jsonError(await sluice.api("POST", "/v2/dlq/retry?dlqIds=a1,a2"), 404)).toMatch(/a1, a2/);
    await sleep(200);
    expect(receiver.at("/fail/500/only")).toHaveLength(before);
    expect((await c.dlq.listMessages({ filter: { label: "only" } })).messages.map((m) => m.dlqId)).toEqual([dlqId]);
    expect((await c.dlq.retry([dlqId])).responses).toHaveLength(1);
  });
});

describe("queue upsert without parallelism", () => {
  it("creates the queue with the OpenAPI's default parallelism 1, not paused", async () => {
    const res = await sluice.api("POST", "/v2/queues", { body: JSON.stringify({ queueName: "no-parallelism" }) });
    expect(res.status).toBe(200);
    expect(await sluice.client().queue({ queueName: "no-parallelism" }).get()).toMatchObject({ name: "no-parallelism", parallelism: 1, paused: false });
  });
});

describe("PATCH /v2/topics/{name}", () => {
  it("is a 405 that says what to do instead, and leaves the group as it was", async () => {
    const c = sluice.client();
    await c.urlGroups.addEndpoints({ name: "patched", endpoints: [{ url: receiver.url("/p") }] });
    const before = await c.urlGroups.get("patched");
    const res = await sluice.api("PATCH", "/v2/topics/patched", { body: JSON.stringify({ headers: { "X-A": "1" } }) });
    expect(res.headers.get("allow")).toBe("GET, DELETE");
    expect(await jsonError(res, 405)).toMatch(/not supported.*\/endpoints/);
    expect(await c.urlGroups.get("patched")).toEqual(before);
  });
});

describe("run-scoped notify of a run that is not running", () => {
  it("is the OpenAPI's 400 (invalid workflow run id), with a JSON error naming it", async () => {
    expect(await jsonError(await sluice.api("POST", "/v2/notify/wfr_missing/ev", { body: "x" }), 400)).toMatch(/wfr_missing/);
  });
});

describe("deduplication at schedule creation", () => {
  it("a create with the same Upstash-Deduplication-Id, or the same content, returns the earlier schedule", async () => {
    const c = sluice.client();
    const dest = receiver.url("/never");
    const create = (headers: Record<string, string>, body = "{}") => c.schedules.create({ destination: dest, cron: "0 0 1 1 *", body, headers });
    const first = await create({ "Upstash-Deduplication-Id": "sched-d1" });
    const again = await create({ "Upstash-Deduplication-Id": "sched-d1" }, "other body");
    expect(again).toEqual({ scheduleId: first.scheduleId, deduplicated: true });
    const byContent = await create({ "Upstash-Content-Based-Deduplication": "true" }, "same");
    expect(await create({ "Upstash-Content-Based-Deduplication": "true" }, "same")).toEqual({ scheduleId: byContent.scheduleId, deduplicated: true });
    const different = await create({ "Upstash-Content-Based-Deduplication": "true" }, "different");
    expect(different.scheduleId).not.toBe(byContent.scheduleId);
    const mine = (await c.schedules.list()).filter((s) => s.destination === dest);
    expect(mine.map((s) => s.scheduleId).sort()).toEqual([first.scheduleId, byContent.scheduleId, different.scheduleId].sort());
    expect((await sluice.api("POST", `/v2/schedules/${dest}`, { headers: { "Upstash-Cron": "0 0 1 1 *", "Upstash-Deduplication-Id": "" } })).status).toBe(400);
    for (const s of mine) await c.schedules.delete(s.scheduleId);
  });

  it("the deduplication id is spent on the create: every tick of the schedule is delivered", async () => {
    const c = sluice.client();
    const { scheduleId } = await c.schedules.create({
      destination: receiver.url("/dedup-ticks"),
      cron: "* * * * * *",
      headers: { "Upstash-Deduplication-Id": "ticks-d" },
    });
    await eventually(() => receiver.at("/dedup-ticks").length >= 2, 5000);
    await c.schedules.delete(scheduleId);
  });
});

describe("across a restart", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sluice-contract-"));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("a flow-control key paused before any message holds the messages published to it later, until resumed", async () => {
    let s = await startSluice({ dataDir });
    try {
      await s.client().flowControl.pause("early-key");
      expect(await s.client().flowControl.get("early-key")).toMatchObject({ isPaused: true, waitListSize: 0 });
      await s.client().publishJSON({ url: receiver.url("/early/1"), body: {}, flowControl: { key: "early-key", parallelism: 1 } });
      await sleep(300);
      expect(receiver.at("/early/")).toHaveLength(0);
      const first = await s.client().schedules.create({ destination: receiver.url("/never"), cron: "0 0 1 1 *", headers: { "Upstash-Deduplication-Id": "kept" } });
      await s.close();

      s = await startSluice({ dataDir });
      await s.client().publishJSON({ url: receiver.url("/early/2"), body: {}, flowControl: { key: "early-key", parallelism: 1 } });
      await sleep(300);
      expect(receiver.at("/early/")).toHaveLength(0);
      expect(await s.client().flowControl.get("early-key")).toMatchObject({ isPaused: true });
      // The schedule's deduplication id was kept with it.
      const again = await s.client().schedules.create({ destination: receiver.url("/never"), cron: "0 0 1 1 *", headers: { "Upstash-Deduplication-Id": "kept" } });
      expect(again).toEqual({ scheduleId: first.scheduleId, deduplicated: true });

      await s.client().flowControl.resume("early-key");
      await eventually(() => receiver.at("/early/").length === 2, 5000);
    } finally {
      await s.close();
    }
  });
});
