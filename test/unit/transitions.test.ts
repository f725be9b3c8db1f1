import { describe, it, expect } from "vitest";
import { afterAttempt, nextRetryDelayMs } from "../../src/engine/transitions.js";
import type { AttemptResult } from "../../src/engine/deliverer.js";
import type { MessageRecord } from "../../src/model/message.js";

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0); // Mon, 15 Jan 2024 12:00:00 GMT
const DAY_MS = 86_400_000;

function message(overrides: Partial<MessageRecord> = {}): MessageRecord {
  return {
    id: "msg_test",
    userId: "user_1",
    kind: "publish",
    url: "https://example.com/hook",
    method: "POST",
    header: { "Content-Type": ["text/plain"] },
    body: Buffer.from("hello"),
    maxRetries: 3,
    notBeforeMs: NOW - 1_000,
    createdAtMs: NOW - 1_000,
    callerIp: "127.0.0.1",
    labels: [],
    state: "active",
    retried: 0,
    dueMs: NOW - 1_000,
    ...overrides,
  };
}

function response(status: number, headers: Record<string, string | string[]> = {}, body = ""): AttemptResult {
  return { kind: "response", status, headers, body: Buffer.from(body) };
}

const failure = (error: string): AttemptResult => ({ kind: "error", error });

describe("afterAttempt: success", () => {
  it.each([200, 201, 202, 204, 299])("%d → delivered", (status) => {
    const t = afterAttempt(message({ retried: 1 }), response(status, { "x-a": "1" }, "ok"), NOW);
    expect(t.verdict).toEqual({ kind: "delivered" });
    expect(t.state).toBe("delivered");
    expect(t.retried).toBe(2);
    expect(t.finishedMs).toBe(NOW);
    expect(t.dueMs).toBe(NOW - 1_000);
    expect(t.error).toBeUndefined();
    expect(t.response).toEqual({ status, headers: { "X-A": ["1"] }, body: Buffer.from("ok") });
    expect(t.events).toEqual([
      {
        userId: "user_1",
        messageId: "msg_test",
        timeMs: NOW,
        state: "DELIVERED",
        responseStatus: status,
        responseHeaders: { "X-A": ["1"] },
        responseBody: Buffer.from("ok"),
      },
    ]);
  });

  it("success wins over a pending cancel", () => {
    const t = afterAttempt(message({ cancelRequested: true }), response(200), NOW);
    expect(t.state).toBe("delivered");
    expect(t.events.map((e) => e.state)).toEqual(["DELIVERED"]);
  });
});

describe("afterAttempt: failed attempt with retries left", () => {
  it.each([
    // status, retried before, maxRetries
    [500, 0, 3],
    [404, 1, 3],
    [429, 2, 3],
    [199, 0, 1],
    [300, 0, 5],
    [302, 4, 5],
    [400, 0, 3],
    [503, 0, 3],
  ])("%d after %d of %d retries → pending", (status, retried, maxRetries) => {
    const msg = message({ retried, maxRetries });
    const delay = nextRetryDelayMs(msg, response(status), NOW);
    const t = afterAttempt(msg, response(status, {}, "nope"), NOW);
    expect(t.verdict).toEqual({ kind: "retry", atMs: NOW + delay });
    expect(t.state).toBe("pending");
    expect(t.retried).toBe(retried + 1);
    expect(t.dueMs).toBe(NOW + delay);
    expect(t.finishedMs).toBeUndefined();
    expect(t.error).toBeUndefined();
    expect(t.response?.status).toBe(status);
    expect(t.events).toEqual([
      {
        userId: "user_1",
        messageId: "msg_test",
        timeMs: NOW,
        state: "ERROR",
        error: `destination responded with status ${status}`,
        responseStatus: status,
        responseHeaders: {},
        responseBody: Buffer.from("nope"),
      },
      { userId: "user_1", messageId: "msg_test", timeMs: NOW, state: "RETRY", nextDeliveryTimeMs: NOW + delay },
    ]);
  });

  it.each([
    [0, 12_182],
    [1, 148_413],
    [2, 1_808_042],
  ])("default backoff after %d retries → %d ms", (retried, delay) => {
    const t = afterAttempt(message({ retried, maxRetries: 10 }), response(500), NOW);
    expect(t.dueMs).toBe(NOW + delay);
    expect(t.events[1].nextDeliveryTimeMs).toBe(NOW + delay);
  });
});

describe("afterAttempt: last attempt", () => {
  it.each([
    [500, 3, 3],
    [404, 0, 0],
    [429, 5, 5],
    [500, 7, 3], // already past the limit (limit lowered): still final
  ])("%d after %d of %d retries → failed", (status, retried, maxRetries) => {
    const t = afterAttempt(message({ retried, maxRetries }), response(status, { "retry-after": "1" }, "bad"), NOW);
    expect(t.verdict).toEqual({ kind: "failed", nonRetryable: false });
    expect(t.state).toBe("failed");
    expect(t.retried).toBe(retried + 1);
    expect(t.finishedMs).toBe(NOW);
    const fields = {
      userId: "user_1",
      messageId: "msg_test",
      timeMs: NOW,
      error: `destination responded with status ${status}`,
      responseStatus: status,
      responseHeaders: { "Retry-After": ["1"] },
      responseBody: Buffer.from("bad"),
    };
    expect(t.events).toEqual([
      { ...fields, state: "ERROR" },
      { ...fields, state: "FAILED" },
    ]);
  });

  it("a connection error on the last attempt fails with the error text", () => {
    const t = afterAttempt(message({ retried: 3, maxRetries: 3 }), failure("ECONNREFUSED"), NOW);
    expect(t.state).toBe("failed");
    expect(t.error).toBe("ECONNREFUSED");
    expect(t.response).toBeUndefined();
    expect(t.events).toEqual([
      { userId: "user_1", messageId: "msg_test", timeMs: NOW, state: "ERROR", error: "ECONNREFUSED" },
      { userId: "user_1", messageId: "msg_test", timeMs: NOW, state: "FAILED", error: "ECONNREFUSED" },
    ]);
  });
});

describe("afterAttempt: non-retryable 489", () => {
  it.each<[string, Record<string, string | string[]>, boolean]>([
    ["header true", { "upstash-nonretryable-error": "true" }, true],
    ["header TRUE", { "upstash-nonretryable-error": "TRUE" }, true],
    ["header as array", { "upstash-nonretryable-error": ["true"] }, true],
    ["header false", { "upstash-nonretryable-error": "false" }, false],
    ["header absent", {}, false],
    ["other header", { "x-nonretryable": "true" }, false],
  ])("489 with %s", (_, headers, final) => {
    const t = afterAttempt(message({ retried: 0, maxRetries: 3 }), response(489, headers, "{}"), NOW);
    if (final) {
      expect(t.verdict).toEqual({ kind: "failed", nonRetryable: true });
      expect(t.state).toBe("failed");
      expect(t.events.map((e) => e.state)).toEqual(["ERROR", "FAILED"]);
      expect(t.retried).toBe(1);
    } else {
      expect(t.verdict.kind).toBe("retry");
      expect(t.state).toBe("pending");
      expect(t.events.map((e) => e.state)).toEqual(["ERROR", "RETRY"]);
    }
  });

  it.each([500, 400, 490])("the header on status %d does not stop retries", (status) => {
    const t = afterAttempt(message(), response(status, { "upstash-nonretryable-error": "true" }), NOW);
    expect(t.verdict.kind).toBe("retry");
  });
});

describe("afterAttempt: no response", () => {
  it.each(["timeout after 30000 ms", "ECONNREFUSED", "invalid destination URL x"])("%j → ERROR with the text, no status", (error) => {
    const t = afterAttempt(message({ retried: 0, maxRetries: 2 }), failure(error), NOW);
    expect(t.state).toBe("pending");
    expect(t.error).toBe(error);
    expect(t.response).toBeUndefined();
    expect(t.dueMs).toBe(NOW + 12_182);
    expect(t.events).toEqual([
      { userId: "user_1", messageId: "msg_test", timeMs: NOW, state: "ERROR", error },
      { userId: "user_1", messageId: "msg_test", timeMs: NOW, state: "RETRY", nextDeliveryTimeMs: NOW + 12_182 },
    ]);
    expect(t.events[0]).not.toHaveProperty("responseStatus");
  });
});

describe("afterAttempt: permanent error", () => {
  const refusal = 'destination host "internal.example" resolves to a refused address: destination address "10.0.0.1" is denied by the egress policy (private network)';
  const permanent: AttemptResult = { kind: "error", error: refusal, permanent: true };

  it("fails at once, with retries left, naming the error", () => {
    const t = afterAttempt(message({ retried: 0, maxRetries: 3 }), permanent, NOW);
    expect(t.verdict).toEqual({ kind: "failed", nonRetryable: true });
    expect(t.state).toBe("failed");
    expect(t.retried).toBe(1);
    expect(t.finishedMs).toBe(NOW);
    expect(t.error).toBe(refusal);
    expect(t.events).toEqual([
      { userId: "user_1", messageId: "msg_test", timeMs: NOW, state: "ERROR", error: refusal },
      { userId: "user_1", messageId: "msg_test", timeMs: NOW, state: "FAILED", error: refusal },
    ]);
  });

  it("the same error without the flag is retried", () => {
    expect(afterAttempt(message({ retried: 0, maxRetries: 3 }), failure(refusal), NOW).verdict.kind).toBe("retry");
  });

  it("a pending cancel still wins", () => {
    expect(afterAttempt(message({ cancelRequested: true }), permanent, NOW).verdict).toEqual({ kind: "cancelled" });
  });
});

describe("afterAttempt: cancel requested during the attempt", () => {
  it.each<[string, AttemptResult, MessageRecord]>([
    ["retryable failure", response(500), message({ cancelRequested: true })],
    ["last attempt", response(500), message({ cancelRequested: true, retried: 3 })],
    ["non-retryable", response(489, { "upstash-nonretryable-error": "true" }), message({ cancelRequested: true })],
    ["connection error", failure("ECONNRESET"), message({ cancelRequested: true })],
  ])("%s → cancelled", (_, result, msg) => {
    const t = afterAttempt(msg, result, NOW);
    expect(t.verdict).toEqual({ kind: "cancelled" });
    expect(t.state).toBe("cancelled");
    expect(t.finishedMs).toBe(NOW);
    expect(t.retried).toBe(msg.retried + 1);
    expect(t.events.map((e) => e.state)).toEqual(["ERROR", "CANCELLED"]);
    expect(t.events[1]).toEqual({ userId: "user_1", messageId: "msg_test", timeMs: NOW, state: "CANCELLED" });
  });
});

describe("nextRetryDelayMs", () => {
  it.each<[string, Partial<MessageRecord>, AttemptResult, number]>([
    ["default backoff, first retry", {}, response(500), 12_182],
    ["default backoff, second retry", { retried: 1 }, response(500), 148_413],
    ["default backoff, capped at a day", { retried: 10 }, response(500), DAY_MS],
    ["default backoff for an error result", {}, failure("x"), 12_182],
    ["expression with retried = 0", { retryDelay: "pow(2, retried) * 1000" }, response(500), 1_000],
    ["expression with retried = 3", { retried: 3, retryDelay: "pow(2, retried) * 1000" }, response(500), 8_000],
    ["expression beats default", { retryDelay: "500" }, failure("x"), 500],
    ["expression rounded", { retryDelay: "1000 / 3" }, response(500), 333],
    ["negative expression → 0", { retryDelay: "0 - 5" }, response(500), 0],
    ["Retry-After seconds beats expression", { retryDelay: "500" }, response(429, { "retry-after": "7" }), 7_000],
    ["Retry-After beats default", {}, response(503, { "retry-after": "2" }), 2_000],
    ["Retry-After 0 = now", { retryDelay: "500" }, response(429, { "retry-after": "0" }), 0],
    ["Retry-After HTTP date", {}, response(429, { "retry-after": "Mon, 15 Jan 2024 12:01:00 GMT" }), 60_000],
    ["X-RateLimit-Reset Go duration", { retryDelay: "500" }, response(429, { "x-ratelimit-reset": "6m5s" }), 365_000],
    ["X-RateLimit-Reset-Requests", {}, response(429, { "x-ratelimit-reset-requests": "1s" }), 1_000],
    ["X-RateLimit-Reset-Tokens", {}, response(429, { "x-ratelimit-reset-tokens": "250ms" }), 250],
    ["Retry-After over a day ignored → expression", { retryDelay: "500" }, response(429, { "retry-after": "86401" }), 500],
    ["unparsable Retry-After → default", {}, response(429, { "retry-after": "soon" }), 12_182],
    ["Retry-After on a 5xx counts too", { retried: 2 }, response(500, { "retry-after": "3" }), 3_000],
  ])("%s", (_, overrides, result, expected) => {
    expect(nextRetryDelayMs(message(overrides), result, NOW)).toBe(expected);
  });

  it.each([
    ["pow(10, retried)", 20, 60_000, 60_000],
    ["pow(10, retried)", 2, 60_000, 100],
    ["86400000 * 30", 0, 7 * DAY_MS, 7 * DAY_MS],
    ["1 / 0", 0, DAY_MS, DAY_MS],
  ])("expression %j at retried=%d is capped at %d", (expr, retried, max, expected) => {
    expect(nextRetryDelayMs(message({ retryDelay: expr, retried }), response(500), NOW, max)).toBe(expected);
  });

  it("afterAttempt uses the cap for its due time", () => {
    const t = afterAttempt(message({ retryDelay: "pow(10, retried)", retried: 9, maxRetries: 20 }), response(500), NOW, 60_000);
    expect(t.dueMs).toBe(NOW + 60_000);
    expect(t.verdict).toEqual({ kind: "retry", atMs: NOW + 60_000 });
  });
});
