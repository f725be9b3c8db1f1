import { QstashError } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { closedPort, dlqEntryOf, gaps, logsOf, logsUntil, settle, withReceiver } from "./delivery-support.js";

let sluice: TestSluice;

beforeAll(async () => {
  sluice = await startSluice();
});
afterAll(async () => {
  await sluice.close();
});

describe("retries", () => {
  it("a destination failing twice then succeeding gets 3 attempts with Upstash-Retried 0..2 and one message id; logs show ERROR/RETRY with nextDeliveryTime", async () => {
    await withReceiver(async (dest) => {
      dest.respond = (_req, i) => (i < 2 ? { status: 500, body: `fail ${i}` } : { status: 200, body: "ok" });
      const client = sluice.client();
      const { messageId } = await client.publish({ url: dest.url("/flaky"), body: "x", retries: 3, retryDelay: "50" });
      const reqs = (await dest.waitFor(3)).slice();
      expect(reqs.map((r) => r.headers["upstash-retried"])).toEqual(["0", "1", "2"]);
      expect(new Set(reqs.map((r) => r.headers["upstash-message-id"]))).toEqual(new Set([messageId]));

      const logs = await logsUntil(client, messageId, "DELIVERED");
      expect(logs.map((l) => l.state)).toEqual([
        "CREATED",
        "ACTIVE",
        "ERROR",
        "RETRY",
        "ACTIVE",
        "ERROR",
        "RETRY",
        "ACTIVE",
        "DELIVERED",
      ]);
      const errors = logs.filter((l) => l.state === "ERROR");
      expect(errors.map((l) => l.responseStatus)).toEqual([500, 500]);
      for (const e of errors) expect(typeof e.error).toBe("string");
      const retries = logs.filter((l) => l.state === "RETRY");
      // Each RETRY names when the next attempt is due, and the next attempt indeed came then (50 ms later).
      retries.forEach((r, i) => {
        expect(typeof r.nextDeliveryTime).toBe("number");
        expect(r.nextDeliveryTime - r.time).toBeGreaterThanOrEqual(49);
        expect(r.nextDeliveryTime - r.time).toBeLessThanOrEqual(51);
        expect(reqs[i + 1].at).toBeGreaterThanOrEqual(r.nextDeliveryTime - 5);
        expect(reqs[i + 1].at - r.nextDeliveryTime).toBeLessThan(200);
      });
      await settle(200);
      expect(dest.requests).toHaveLength(3);
    });
  });

  it("retries exhausted: FAILED, a DLQ entry with the last responseStatus/responseBody/responseHeader, and the message is gone", async () => {
    await withReceiver(async (dest) => {
      dest.respond = (_req, i) => ({ status: 503, headers: { "X-Why": `attempt-${i}` }, body: `nope ${i}` });
      const client = sluice.client();
      const { messageId } = await client.publish({ url: dest.url("/down"), body: "payload", retries: 2, retryDelay: "0" });
      await dest.waitFor(3);
      const logs = await logsUntil(client, messageId, "FAILED");
      expect(logs.map((l) => l.state)).toEqual([
        "CREATED",
        "ACTIVE",
        "ERROR",
        "RETRY",
        "ACTIVE",
        "ERROR",
        "RETRY",
        "ACTIVE",
        "ERROR",
        "FAILED",
      ]);
      expect(logs.at(-1)!.responseStatus).toBe(503);

      const entry = await dlqEntryOf(client, messageId);
      expect(entry.dlqId).toEqual(expect.any(String));
      expect(entry.url).toBe(dest.url("/down"));
      expect(entry.body).toBe("payload");
      expect(entry.maxRetries).toBe(2);
      expect(entry.responseStatus).toBe(503);
      expect(entry.responseBody).toBe("nope 2");
      expect(entry.responseHeader["X-Why"]).toEqual(["attempt-2"]);

      const err = await client.messages.get(messageId).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QstashError);
      expect((err as QstashError).status).toBe(404);
      await settle(200);
      expect(dest.requests).toHaveLength(3);
    });
  });

  it("retries: 0 makes exactly one attempt, then FAILED", async () => {
    await withReceiver(async (dest) => {
      dest.respond = () => ({ status: 500 });
      const client = sluice.client();
      const { messageId } = await client.publish({ url: dest.url("/once"), body: "x", retries: 0, retryDelay: "0" });
      const logs = await logsUntil(client, messageId, "FAILED");
      expect(logs.map((l) => l.state)).toEqual(["CREATED", "ACTIVE", "ERROR", "FAILED"]);
      await settle(300);
      expect(dest.requests).toHaveLength(1);
      expect(dest.requests[0].headers["upstash-retried"]).toBe("0");
    });
  });

  it("the Upstash-Retry-Delay expression spaces the attempts (100 + retried*200 → 100, 300, 500 ms)", async () => {
    await withReceiver(async (dest) => {
      dest.respond = (_req, i) => (i < 3 ? { status: 500 } : { status: 200 });
      const client = sluice.client();
      await client.publish({ url: dest.url("/spaced"), body: "x", retries: 3, retryDelay: "100 + retried * 200" });
      const reqs = (await dest.waitFor(4, 5000)).slice();
      const measured = gaps(reqs);
      [100, 300, 500].forEach((expected, i) => {
        expect(measured[i]).toBeGreaterThanOrEqual(expected - 5);
        expect(measured[i]).toBeLessThan(expected + 150);
      });
    });
  });
});

describe("destination-supplied retry times", () => {
  const httpDateIn = (ms: number): string => new Date(Date.now() + ms).toUTCString();
  it.each([
    // The expression asks for 5 s, so a gap near 1–2 s can only come from the header.
    { name: "Retry-After: 1 (seconds)", headers: () => ({ "Retry-After": "1" }), retryDelay: "5000", min: 990, max: 1400 },
    // An HTTP date has whole-second resolution: "now + 2 s" truncated means a wait in (1 s, 2 s].
    { name: "Retry-After as an HTTP date", headers: () => ({ "Retry-After": httpDateIn(2000) }), retryDelay: "5000", min: 900, max: 2300 },
    { name: "X-RateLimit-Reset: 1", headers: () => ({ "X-RateLimit-Reset": "1" }), retryDelay: "5000", min: 990, max: 1400 },
    { name: "Retry-After: 0 (retry at once)", headers: () => ({ "Retry-After": "0" }), retryDelay: "5000", min: 0, max: 300 },
    // More than a day is ignored: the expression (300 ms) applies instead.
    { name: "Retry-After over one day is ignored", headers: () => ({ "Retry-After": "172800" }), retryDelay: "300", min: 295, max: 600 },
  ])("$name", async ({ headers, retryDelay, min, max }) => {
    await withReceiver(async (dest) => {
      dest.respond = (_req, i) => (i === 0 ? { status: 429, headers: headers() } : { status: 200 });
      const client = sluice.client();
      const { messageId } = await client.publish({ url: dest.url("/ra"), body: "x", retries: 1, retryDelay });
      const reqs = await dest.waitFor(2, 4000);
      const [gap] = gaps(reqs);
      expect(gap).toBeGreaterThanOrEqual(min);
      expect(gap).toBeLessThan(max);
      const retry = (await logsOf(client, messageId)).find((l) => l.state === "RETRY")!;
      expect(retry.nextDeliveryTime - retry.time).toBeGreaterThanOrEqual(min - 10);
      expect(retry.nextDeliveryTime - retry.time).toBeLessThan(max);
    });
  });
});

describe("non-retryable errors", () => {
  it("489 with Upstash-NonRetryable-Error: true fails at once: one attempt, DLQ entry, failure callback", async () => {
    await withReceiver(async (dest) => {
      dest.respond = (req) =>
        req.path.startsWith("/dest")
          ? { status: 489, headers: { "Upstash-NonRetryable-Error": "true" }, body: "do not retry" }
          : { status: 200 };
      const client = sluice.client();
      const { messageId } = await client.publish({
        url: dest.url("/dest"),
        body: "x",
        retries: 3,
        retryDelay: "0",
        failureCallback: dest.url("/failed"),
      });
      const logs = await logsUntil(client, messageId, "FAILED");
      expect(logs.map((l) => l.state)).toEqual(["CREATED", "ACTIVE", "ERROR", "FAILED"]);
      const entry = await dlqEntryOf(client, messageId);
      expect(entry.responseStatus).toBe(489);
      expect(entry.responseBody).toBe("do not retry");
      await dest.waitFor(2);
      const [cb] = dest.at("/failed");
      const body = JSON.parse(cb.body.toString());
      expect(body.status).toBe(489);
      expect(body.sourceMessageId).toBe(messageId);
      expect(body.dlqId).toBe(entry.dlqId);
      expect(body.retried).toBe(0);
      await settle(200);
      expect(dest.at("/dest")).toHaveLength(1);
    });
  });

  it.each([
    { name: "489 without the header", headers: {} },
    { name: "489 with Upstash-NonRetryable-Error: false", headers: { "Upstash-NonRetryable-Error": "false" } },
  ])("$name is retried like any failure", async ({ headers }) => {
    await withReceiver(async (dest) => {
      dest.respond = (_req, i) => (i === 0 ? { status: 489, headers } : { status: 200 });
      const client = sluice.client();
      const { messageId } = await client.publish({ url: dest.url("/489"), body: "x", retries: 1, retryDelay: "0" });
      const reqs = await dest.waitFor(2);
      expect(reqs.map((r) => r.headers["upstash-retried"])).toEqual(["0", "1"]);
      const logs = await logsUntil(client, messageId, "DELIVERED");
      expect(logs.map((l) => l.state)).toContain("RETRY");
    });
  });
});

describe("attempts without a response (DECISIONS #12)", () => {
  it("a per-attempt timeout fails the attempt: the log error mentions the timeout and there is no responseStatus", async () => {
    await withReceiver(async (dest) => {
      dest.respond = () => ({ status: 200, delayMs: 3000 });
      const client = sluice.client();
      const t0 = Date.now();
      const { messageId } = await client.publish({ url: dest.url("/slow"), body: "x", timeout: "1s", retries: 0 });
      const logs = await logsUntil(client, messageId, "FAILED", 4000);
      const failedAt = Date.now();
      expect(logs.map((l) => l.state)).toEqual(["CREATED", "ACTIVE", "ERROR", "FAILED"]);
      const active = logs.find((l) => l.state === "ACTIVE")!;
      const error = logs.find((l) => l.state === "ERROR")!;
      expect(error.error).toMatch(/timed? ?out/i);
      expect(error).not.toHaveProperty("responseStatus");
      expect(logs.find((l) => l.state === "FAILED")).not.toHaveProperty("responseStatus");
      // It gave up after about the 1 s asked for, not the 3 s the destination needed.
      expect(error.time - active.time).toBeGreaterThanOrEqual(990);
      expect(error.time - active.time).toBeLessThan(2000);
      expect(failedAt - t0).toBeLessThan(3000);
      expect(dest.requests).toHaveLength(1);
      const entry = await dlqEntryOf(client, messageId);
      expect(entry).not.toHaveProperty("responseStatus");
    });
  });

  it("connection refused fails the attempt with an error text and no responseStatus", async () => {
    const port = await closedPort();
    const client = sluice.client();
    const { messageId } = await client.publish({ url: `http://127.0.0.1:${port}/nobody`, body: "x", retries: 1, retryDelay: "0" });
    const logs = await logsUntil(client, messageId, "FAILED");
    expect(logs.map((l) => l.state)).toEqual(["CREATED", "ACTIVE", "ERROR", "RETRY", "ACTIVE", "ERROR", "FAILED"]);
    for (const l of logs.filter((l) => l.state === "ERROR" || l.state === "FAILED")) {
      expect(l.error).toMatch(/ECONNREFUSED|refused/i);
      expect(l).not.toHaveProperty("responseStatus");
    }
    const entry = await dlqEntryOf(client, messageId);
    expect(entry).not.toHaveProperty("responseStatus");
  });
});
