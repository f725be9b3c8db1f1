import type { Client } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

/** The plain DLQ (SPEC §2.6): list with filters and paging, get, delete one / many / all, retry. */

let sluice: TestSluice;
let dest: TestReceiver;
let client: Client;
/** Paths that answer 500 until they are healed (then 200). */
const healed = new Set<string>();

interface RawDlq {
  dlqId: string;
  messageId: string;
  url: string;
  responseStatus?: number;
  responseHeader?: Record<string, string[]>;
  responseBody?: string;
  [k: string]: unknown;
}

beforeAll(async () => {
  quietSdkErrors();
  [sluice, dest] = await Promise.all([startSluice(), TestReceiver.start()]);
  client = sluice.client();
  dest.respond = (req) => {
    const path = req.path.split("?")[0];
    if (healed.has(path)) return { status: 200, body: "ok now" };
    if (path.startsWith("/status503")) return { status: 503, headers: { "Retry-After": "0" }, body: "unavailable" };
    return { status: 500, headers: { "X-Why": "nope" }, body: "boom" };
  };
});
afterAll(async () => {
  await sluice?.close();
  await dest?.close();
});

/** Publishes a message that fails at once (no retries) and resolves with its DLQ entry. */
async function failed(
  path: string,
  opts: { label?: string; body?: string; headers?: Record<string, string>; user?: number } = {},
): Promise<RawDlq> {
  const c = sluice.client(opts.user ?? 0);
  const { messageId } = await c.publish({
    url: dest.url(path),
    body: opts.body ?? "payload",
    retries: 0,
    headers: opts.headers,
    ...(opts.label ? { label: opts.label } : {}),
  });
  return eventually(async () => {
    const { messages } = await c.dlq.listMessages({ filter: { messageId } });
    return messages.length === 1 ? (messages[0] as unknown as RawDlq) : undefined;
  });
}

async function getDlq(dlqId: string, user = 0): Promise<Response> {
  return sluice.api("GET", `/v2/dlq/${dlqId}`, { token: sluice.token(user) });
}

describe("DLQ listing", () => {
  it("an entry carries the message and the last failed response", async () => {
    const before = Date.now();
    const e = await failed("/fail/shape", { label: "shape", body: "the payload", headers: { "X-Orig": "o", "Content-Type": "text/plain" } });
    expect(e.dlqId).toEqual(expect.any(String));
    expect(e.messageId).toMatch(/^msg_/);
    expect(e.url).toBe(dest.url("/fail/shape"));
    expect(e.method).toBe("POST");
    expect(e.body).toBe("the payload");
    expect(e.header).toEqual({ "X-Orig": ["o"], "Content-Type": ["text/plain"] });
    expect(e.maxRetries).toBe(0);
    expect(e.labels).toEqual(["shape"]);
    expect(e.callerIp).toBe("127.0.0.1");
    expect(e.responseStatus).toBe(500);
    expect(e.responseHeader?.["X-Why"]).toEqual(["nope"]);
    expect(e.responseBody).toBe("boom");
    expect(e.createdAt).toBeGreaterThanOrEqual(before);

    const res = await getDlq(e.dlqId);
    expect(res.status).toBe(200);
    const single = (await res.json()) as RawDlq;
    const { urlGroup: _g, ratePerSecond: _r, ...listed } = e;
    expect(single).toEqual(listed);
  });

  it("GET /v2/dlq/{id} of an unknown id is a 404 JSON error", async () => {
    const res = await getDlq("1700000000000-0");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toMatch(/1700000000000-0/);
  });

  it("filters by url, responseStatus and label (and combines them)", async () => {
    const a1 = await failed("/fail/a", { label: "fa" });
    const a2 = await failed("/fail/a", { label: "fb" });
    const b = await failed("/status503/b", { label: "fb" });

    const byUrl = await client.dlq.listMessages({ filter: { url: dest.url("/fail/a") } });
    expect(byUrl.messages.map((m) => m.dlqId)).toEqual([a2.dlqId, a1.dlqId]);
    const byStatus = await client.dlq.listMessages({ filter: { responseStatus: 503 } });
    expect(byStatus.messages.map((m) => m.dlqId)).toEqual([b.dlqId]);
    expect(byStatus.messages[0].responseBody).toBe("unavailable");
    const byLabel = await client.dlq.listMessages({ filter: { label: "fb" } });
    expect(byLabel.messages.map((m) => m.dlqId)).toEqual([b.dlqId, a2.dlqId]);
    const both = await client.dlq.listMessages({ filter: { label: "fb", url: dest.url("/fail/a") } });
    expect(both.messages.map((m) => m.dlqId)).toEqual([a2.dlqId]);
    const severalStatuses = await client.dlq.listMessages({ filter: { responseStatus: [503, 404], label: ["fa", "fb"] } });
    expect(severalStatuses.messages.map((m) => m.dlqId)).toEqual([b.dlqId]);
    expect((await client.dlq.listMessages({ filter: { label: "none-such" } })).messages).toEqual([]);

    const raw = await sluice.api("GET", "/v2/dlq?label=fa,fb&responseStatus=500");
    const rawBody = (await raw.json()) as { messages: RawDlq[]; cursor?: string };
    expect(rawBody.messages.map((m) => m.dlqId)).toEqual([a2.dlqId, a1.dlqId]);
    expect(rawBody.cursor).toBeUndefined();
  });

  it("pages with count and cursor, newest first, without duplicates or gaps", async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await failed(`/fail/page/${i}`, { label: "pg" })).dlqId);
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const res = await client.dlq.listMessages({ filter: { label: "pg" }, count: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...res.messages.map((m) => m.dlqId));
      sizes.push(res.messages.length);
      cursor = res.cursor;
      if (!cursor) break;
    }
    expect(sizes).toEqual([2, 2, 1]);
    expect(cursor).toBeUndefined();
    expect(seen).toEqual([...made].reverse());
  });

  it("GET /v2/dlq?source=workflow hides plain entries", async () => {
    await failed("/fail/plain", { label: "plain" });
    const plain = (await (await sluice.api("GET", "/v2/dlq?label=plain")).json()) as { messages: RawDlq[] };
    expect(plain.messages).toHaveLength(1);
    const res = await sluice.api("GET", "/v2/dlq?source=workflow");
    expect(res.status).toBe(200);
    expect(((await res.json()) as { messages: RawDlq[] }).messages).toEqual([]);
  });
});

describe("DLQ delete", () => {
  it("delete(id) removes one entry; deleting it again is a 404", async () => {
    const e = await failed("/fail/del-one");
    expect(await client.dlq.delete(e.dlqId)).toEqual({ deleted: 1 });
    expect((await getDlq(e.dlqId)).status).toBe(404);
    const again = await sluice.api("DELETE", `/v2/dlq/${e.dlqId}`);
    expect(again.status).toBe(404);
    expect(((await again.json()) as { error: string }).error).toEqual(expect.any(String));
  });

  it("delete([ids]) removes exactly those entries", async () => {
    const [x, y, z] = [await failed("/fail/del-many"), await failed("/fail/del-many"), await failed("/fail/del-many")];
    expect(await client.dlq.delete([x.dlqId, z.dlqId])).toEqual({ deleted: 2 });
    expect((await getDlq(x.dlqId)).status).toBe(404);
    expect((await getDlq(z.dlqId)).status).toBe(404);
    expect((await getDlq(y.dlqId)).status).toBe(200);
    expect(await client.dlq.delete([x.dlqId])).toEqual({ deleted: 0 });
    expect(await client.dlq.delete({ dlqIds: [y.dlqId] })).toEqual({ deleted: 1 });
  });

  it("delete({filter}) removes the matching entries only", async () => {
    const keep = await failed("/fail/del-filter-keep", { label: "keep" });
    await failed("/fail/del-filter-drop", { label: "drop" });
    await failed("/fail/del-filter-drop", { label: "drop" });
    const res = await client.dlq.delete({ filter: { label: "drop" } });
    expect(res.deleted).toBe(2);
    expect(res.cursor).toBeUndefined();
    expect((await client.dlq.listMessages({ filter: { label: "drop" } })).messages).toEqual([]);
    expect((await getDlq(keep.dlqId)).status).toBe(200);
  });

  it("delete({all: true}) in a cursor loop empties one user's DLQ and leaves other users' entries", async () => {
    const mine: string[] = [];
    for (let i = 0; i < 5; i++) mine.push((await failed(`/fail/del-all/${i}`, { user: 2 })).dlqId);
    const other = await failed("/fail/del-all-other", { user: 3 });
    const c = sluice.client(2);
    let deleted = 0;
    let calls = 0;
    let cursor: string | undefined;
    do {
      const res = await c.dlq.delete({ all: true, count: 2, cursor });
      deleted += res.deleted;
      cursor = res.cursor;
      calls++;
    } while (cursor && calls < 10);
    expect(deleted).toBe(5);
    expect(calls).toBe(3);
    expect((await c.dlq.listMessages()).messages).toEqual([]);
    for (const id of mine) expect((await getDlq(id, 2)).status).toBe(404);
    expect((await getDlq(other.dlqId, 3)).status).toBe(200);
  });
});

describe("DLQ retry", () => {
  it("retry([ids]) publishes a new message that is delivered, and removes the entry", async () => {
    const e = await failed("/heal/one", { body: "again" });
    healed.add("/heal/one");
    const res = await client.dlq.retry([e.dlqId]);
    expect(res.responses).toHaveLength(1);
    const newId = res.responses[0].messageId;
    expect(newId).toMatch(/^msg_/);
    expect(newId).not.toBe(e.messageId);
    expect(res.cursor).toBeUndefined();
    await eventually(() => dest.at("/heal/one").length === 2);
    const second = dest.at("/heal/one")[1];
    expect(second.headers["upstash-message-id"]).toBe(newId);
    expect(second.body.toString()).toBe("again");
    expect((await getDlq(e.dlqId)).status).toBe(404);
    await eventually(async () => (await client.logs({ filter: { messageId: newId, state: "DELIVERED" } })).logs.length === 1);
  });

  it("POST /v2/dlq/retry?dlqIds=… applies Upstash-Retries and Upstash-Forward-* overrides", async () => {
    const e = await failed("/heal/override", { headers: { "X-Orig": "old", "X-Kept": "kept" } });
    healed.add("/heal/override");
    const res = await sluice.api("POST", `/v2/dlq/retry?dlqIds=${e.dlqId}`, {
      headers: { "Upstash-Retries": "5", "Upstash-Forward-X-Extra": "yes", "Upstash-Forward-X-Orig": "new" },
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { responses: { messageId: string }[]; cursor?: string };
    expect(body.responses).toHaveLength(1);
    expect(body.cursor).toBeUndefined();
    const newId = body.responses[0].messageId;
    await eventually(() => dest.at("/heal/override").length === 2);
    const delivered = dest.at("/heal/override")[1];
    expect(delivered.headers["upstash-message-id"]).toBe(newId);
    expect(delivered.headers["x-extra"]).toBe("yes");
    expect(delivered.headers["x-orig"]).toBe("new");
    expect(delivered.headers["x-kept"]).toBe("kept");
    const { logs } = await client.logs({ filter: { messageId: newId } });
    expect((logs[0] as unknown as { maxRetries: number }).maxRetries).toBe(5);
    expect((await getDlq(e.dlqId)).status).toBe(404);
  });

  it("a bad override header is a 400 and leaves the entry in place", async () => {
    const e = await failed("/fail/bad-override");
    const res = await sluice.api("POST", `/v2/dlq/retry?dlqIds=${e.dlqId}`, { headers: { "Upstash-Retries": "lots" } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/Upstash-Retries/);
    expect((await getDlq(e.dlqId)).status).toBe(200);
  });

  it("POST /v2/dlq/retry/{id} answers 201 {messageId} and the retry is delivered", async () => {
    const e = await failed("/heal/single");
    healed.add("/heal/single");
    const res = await sluice.api("POST", `/v2/dlq/retry/${e.dlqId}`);
    expect(res.status).toBe(201);
    const { messageId } = (await res.json()) as { messageId: string };
    expect(messageId).toMatch(/^msg_/);
    await eventually(() => dest.at("/heal/single").length === 2);
    expect(dest.at("/heal/single")[1].headers["upstash-message-id"]).toBe(messageId);
    expect((await getDlq(e.dlqId)).status).toBe(404);
    const again = await sluice.api("POST", `/v2/dlq/retry/${e.dlqId}`);
    expect(again.status).toBe(404);
  });

  it("a retried message that fails again lands in the DLQ as a new entry", async () => {
    const e = await failed("/fail/twice");
    const { responses } = await client.dlq.retry(e.dlqId);
    const newId = responses[0].messageId;
    const again = await eventually(async () => {
      const { messages } = await client.dlq.listMessages({ filter: { messageId: newId } });
      return messages[0];
    });
    expect(again.dlqId).not.toBe(e.dlqId);
    expect(again.url).toBe(dest.url("/fail/twice"));
    expect(again.maxRetries).toBe(0);
  });
});
