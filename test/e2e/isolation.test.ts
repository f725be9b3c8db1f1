import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_USERS, tokenFor } from "../../src/config.js";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { DEV_KEYS, startSluice, type TestSluice } from "../helpers/sluice.js";

/** Auth and keys (SPEC §0.1, §2.8) and per-user isolation of messages, logs and the DLQ (DECISIONS #17). */

let sluice: TestSluice;
let dest: TestReceiver;

beforeAll(async () => {
  quietSdkErrors();
  [sluice, dest] = await Promise.all([startSluice(), TestReceiver.start()]);
  dest.respond = (req) => (req.path.startsWith("/fail") ? { status: 500, body: "no" } : { status: 200 });
});
afterAll(async () => {
  await sluice?.close();
  await dest?.close();
});

async function errorOf(res: Response): Promise<string> {
  expect(res.headers.get("content-type")).toMatch(/application\/json/);
  const body = (await res.json()) as { error: unknown };
  expect(typeof body.error).toBe("string");
  return body.error as string;
}

describe("keys and auth", () => {
  it("GET /v2/keys returns the dev signing keys of the caller", async () => {
    const res = await sluice.api("GET", "/v2/keys");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ current: DEV_KEYS.current, next: DEV_KEYS.next });
    const other = await sluice.api("GET", "/v2/keys", { token: sluice.token(1) });
    expect(await other.json()).toEqual(DEV_USERS[1].signingKeys);
  });

  it("a request without a token is a 401 JSON error", async () => {
    for (const [method, path] of [
      ["GET", "/v2/keys"],
      ["GET", "/v2/logs"],
      ["POST", `/v2/publish/${dest.url("/never")}`],
      ["GET", "/v2/nothing-here"],
    ]) {
      const res = await sluice.api(method, path, { token: null, body: method === "POST" ? "x" : undefined });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(await errorOf(res)).toMatch(/token/i);
    }
  });

  it("a wrong token, a wrong password or a malformed Authorization header is a 401", async () => {
    const wrongPassword = tokenFor({ userId: DEV_USERS[0].userId, password: "not-the-password" });
    for (const token of ["nonsense", wrongPassword, `${sluice.token()}x`]) {
      const res = await sluice.api("GET", "/v2/keys", { token });
      expect(res.status).toBe(401);
      expect(await errorOf(res)).toMatch(/token/i);
    }
    const basic = await sluice.api("GET", "/v2/keys", { token: null, headers: { Authorization: `Basic ${sluice.token()}` } });
    expect(basic.status).toBe(401);
    await errorOf(basic);
    const sdk = await sluice.client().messages.get("msg_x").catch((e: { status: number }) => e);
    expect((sdk as { status: number }).status).toBe(404);
  });

  it("?qstash_token= authenticates, also for a publish whose own query survives", async () => {
    const keys = await sluice.api("GET", `/v2/keys?qstash_token=${encodeURIComponent(sluice.token(2))}`, { token: null });
    expect(keys.status).toBe(200);
    expect(await keys.json()).toEqual(DEV_USERS[2].signingKeys);

    const res = await sluice.api("POST", `/v2/publish/${dest.url("/query-auth")}?a=1&qstash_token=${encodeURIComponent(sluice.token(2))}`, {
      token: null,
      body: "via query",
    });
    expect(res.status).toBe(200);
    const { messageId } = (await res.json()) as { messageId: string };
    const [req] = await eventually(() => (dest.at("/query-auth").length ? dest.at("/query-auth") : undefined));
    expect(req.path).toBe("/query-auth?a=1");
    expect(req.headers["upstash-message-id"]).toBe(messageId);
    // The message belongs to the token's user.
    const { logs } = await sluice.client(2).logs({ filter: { messageId } });
    expect(logs.length).toBeGreaterThan(0);
    expect((await sluice.client(0).logs({ filter: { messageId } })).logs).toEqual([]);

    const bad = await sluice.api("GET", "/v2/keys?qstash_token=wrong", { token: null });
    expect(bad.status).toBe(401);
  });
});

describe("isolation between users", () => {
  let pending: string;
  let pendingUrl: string;
  let dlqId: string;
  let failedId: string;

  beforeAll(async () => {
    const owner = sluice.client(0);
    pendingUrl = dest.url("/iso/pending");
    pending = (await owner.publish({ url: pendingUrl, body: "mine", delay: 3600, label: "iso" })).messageId;
    failedId = (await owner.publish({ url: dest.url("/fail/iso"), body: "mine", retries: 0, label: "iso" })).messageId;
    dlqId = await eventually(async () => (await owner.dlq.listMessages({ filter: { messageId: failedId } })).messages[0]?.dlqId);
  });

  it("another user cannot get or cancel the message", async () => {
    const intruder = sluice.client(1);
    const get = await intruder.messages.get(pending).catch((e: { status: number }) => e);
    expect((get as { status: number }).status).toBe(404);
    const cancel = await intruder.messages.cancel(pending).catch((e: { status: number }) => e);
    expect((cancel as { status: number }).status).toBe(404);
    const rawCancel = await sluice.api("DELETE", `/v2/messages/${pending}`, { token: sluice.token(1) });
    expect(rawCancel.status).toBe(404);
    await errorOf(rawCancel);
    expect(await intruder.messages.cancel([pending])).toEqual({ cancelled: 0 });
  });

  it("another user's bulk cancels (filter, all) leave the message alone", async () => {
    const intruder = sluice.client(1);
    expect(await intruder.messages.cancel({ filter: { url: pendingUrl } })).toEqual({ cancelled: 0 });
    expect(await intruder.messages.cancel({ filter: { label: "iso" } })).toEqual({ cancelled: 0 });
    expect(await intruder.messages.cancel({ all: true })).toEqual({ cancelled: 0 });
    const raw = await sluice.api("DELETE", `/v2/messages?messageIds=${pending}`, { token: sluice.token(1) });
    expect(await raw.json()).toEqual({ cancelled: 0 });
    expect((await sluice.client(0).messages.get(pending)).messageId).toBe(pending);
  });

  it("another user sees none of the logs", async () => {
    const intruder = sluice.client(1);
    expect((await intruder.logs({ filter: { messageId: pending } })).logs).toEqual([]);
    expect((await intruder.logs({ messageIds: [pending, failedId] })).logs).toEqual([]);
    const all = await intruder.logs({ count: 1000 });
    expect(all.logs.filter((l) => l.messageId === pending || l.messageId === failedId)).toEqual([]);
    const raw = (await (await sluice.api("GET", `/v2/logs?label=iso`, { token: sluice.token(1) })).json()) as { logs: unknown[] };
    expect(raw.logs).toEqual([]);
    // The owner does see them.
    expect((await sluice.client(0).logs({ filter: { label: "iso" } })).logs.length).toBeGreaterThanOrEqual(4);
  });

  it("another user can neither list, get, delete nor retry the DLQ entry", async () => {
    const intruder = sluice.client(1);
    expect((await intruder.dlq.listMessages()).messages.map((m) => m.dlqId)).not.toContain(dlqId);
    expect((await intruder.dlq.listMessages({ dlqIds: [dlqId] })).messages).toEqual([]);
    const get = await sluice.api("GET", `/v2/dlq/${dlqId}`, { token: sluice.token(1) });
    expect(get.status).toBe(404);
    await errorOf(get);
    const del = await intruder.dlq.delete(dlqId).catch((e: { status: number }) => e);
    expect((del as { status: number }).status).toBe(404);
    expect(await intruder.dlq.delete([dlqId])).toEqual({ deleted: 0 });
    expect(await intruder.dlq.delete({ all: true })).toEqual({ deleted: 0 });
    await expect(intruder.dlq.retry([dlqId])).rejects.toMatchObject({ status: 404 });
    const retryOne = await sluice.api("POST", `/v2/dlq/retry/${dlqId}`, { token: sluice.token(1) });
    expect(retryOne.status).toBe(404);
    await errorOf(retryOne);

    // The owner still has the entry, untouched, and nothing was redelivered.
    const mine = await sluice.api("GET", `/v2/dlq/${dlqId}`);
    expect(mine.status).toBe(200);
    expect(((await mine.json()) as { messageId: string }).messageId).toBe(failedId);
    expect(dest.at("/fail/iso")).toHaveLength(1);
  });
});
