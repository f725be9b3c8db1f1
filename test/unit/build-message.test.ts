import { describe, it, expect } from "vitest";
import { buildCallbackMessage, buildMessage, callbackBody, type Origin, type Target } from "../../src/engine/build-message.js";
import { afterAttempt, type Transition } from "../../src/engine/transitions.js";
import type { AttemptResult } from "../../src/engine/deliverer.js";
import { parsePublishHeaders, type HeaderBag, type PublishLimits } from "../../src/protocol/publish-headers.js";
import { HttpError } from "../../src/errors.js";
import type { MessageRecord } from "../../src/model/message.js";

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);
const DAY_MS = 86_400_000;
const LIMITS: PublishLimits = { maxRetries: 10, maxDelayMs: 7 * DAY_MS, maxTimeoutMs: 15 * 60_000 };
const ORIGIN: Origin = { userId: "user_1", callerIp: "10.0.0.7", nowMs: NOW };
const URL_A = "https://a.example.com/hook";
const URL_B = "https://b.example.com/hook";

const cfg = (h: HeaderBag = {}) => parsePublishHeaders(h, LIMITS);
const build = (h: HeaderBag = {}, target: Target = { url: URL_A }, body = "hello", defaultRetries = 3) =>
  buildMessage(cfg(h), target, Buffer.from(body), ORIGIN, defaultRetries);

describe("buildMessage: the record", () => {
  it("copies the configuration and starts pending", () => {
    const { record, dedupKey } = build(
      {
        "content-type": "text/plain",
        "upstash-forward-x-a": "1",
        "upstash-method": "PUT",
        "upstash-retries": "2",
        "upstash-retry-delay": "1000",
        "upstash-timeout": "30s",
        "upstash-callback": "https://cb.example.com/ok",
        "upstash-callback-retries": "1",
        "upstash-failure-callback": "https://cb.example.com/fail",
        "upstash-label": "a,b",
        "upstash-redact-fields": "body",
        "upstash-flow-control-key": "k",
        "upstash-flow-control-value": "rate=2",
      },
      { url: URL_A, topicName: "group", endpointName: "ep", queueName: "q", scheduleId: "scd_1" },
    );
    expect(record).toEqual({
      id: record.id,
      userId: "user_1",
      kind: "publish",
      url: URL_A,
      method: "PUT",
      header: { "Content-Type": ["text/plain"], "X-A": ["1"] },
      body: Buffer.from("hello"),
      maxRetries: 2,
      retryDelay: "1000",
      timeoutMs: 30_000,
      callback: "https://cb.example.com/ok",
      callbackHeaders: { "upstash-retries": "1" },
      failureCallback: "https://cb.example.com/fail",
      failureCallbackHeaders: undefined,
      notBeforeMs: NOW,
      createdAtMs: NOW,
      callerIp: "10.0.0.7",
      labels: ["a", "b"],
      redact: { body: true, allHeaders: false, headers: [] },
      topicName: "group",
      endpointName: "ep",
      queueName: "q",
      scheduleId: "scd_1",
      flowControl: { key: "k", rate: 2 },
      state: "pending",
      retried: 0,
      dueMs: NOW,
    });
    expect(record.id).toMatch(/^msg_[0-9A-Za-z]{22}$/);
    expect(dedupKey).toBeUndefined();
  });

  it("gives every message its own id", () => {
    const ids = new Set(Array.from({ length: 200 }, () => build().record.id));
    expect(ids.size).toBe(200);
  });

  it.each(["callback", "failureCallback"] as const)("the kind is passed through (%s)", (kind) => {
    expect(buildMessage(cfg(), { url: URL_A }, Buffer.alloc(0), ORIGIN, 3, kind).record.kind).toBe(kind);
  });
});

describe("buildMessage: due time", () => {
  it.each<[string, HeaderBag, number]>([
    ["no delay → now", {}, NOW],
    ["delay from now", { "upstash-delay": "10s" }, NOW + 10_000],
    ["delay 0", { "upstash-delay": "0" }, NOW],
    ["bare-int delay is seconds", { "upstash-delay": "90" }, NOW + 90_000],
    ["compound delay", { "upstash-delay": "1h30m" }, NOW + 5_400_000],
    ["not-before", { "upstash-not-before": "1700000000" }, 1_700_000_000_000],
    ["not-before wins over delay", { "upstash-not-before": "1700000000", "upstash-delay": "1h" }, 1_700_000_000_000],
    ["not-before 0 still wins", { "upstash-not-before": "0", "upstash-delay": "1h" }, 0],
  ])("%s", (_, h, due) => {
    const { record } = build(h);
    expect(record.dueMs).toBe(due);
    expect(record.notBeforeMs).toBe(due);
    expect(record.createdAtMs).toBe(NOW);
  });
});

describe("buildMessage: retries", () => {
  it.each<[HeaderBag, number, number]>([
    [{}, 3, 3],
    [{}, 0, 0],
    [{}, 7, 7],
    [{ "upstash-retries": "0" }, 3, 0],
    [{ "upstash-retries": "5" }, 3, 5],
    [{ "upstash-retries": "" }, 4, 4],
  ])("%j with default %d → %d", (h, defaultRetries, expected) => {
    expect(build(h, { url: URL_A }, "x", defaultRetries).record.maxRetries).toBe(expected);
  });
});

describe("buildMessage: dedup keys", () => {
  const key = (h: HeaderBag, url = URL_A, body = "hello") => build(h, { url }, body).dedupKey;

  it("no dedup header → no key", () => {
    expect(key({})).toBeUndefined();
    expect(key({ "upstash-content-based-deduplication": "false" })).toBeUndefined();
  });

  it.each<[string, [HeaderBag, string, string], [HeaderBag, string, string], boolean]>([
    ["same id, same url", [{ "upstash-deduplication-id": "d1" }, URL_A, "x"], [{ "upstash-deduplication-id": "d1" }, URL_A, "x"], true],
    ["same id, same url, other body", [{ "upstash-deduplication-id": "d1" }, URL_A, "x"], [{ "upstash-deduplication-id": "d1" }, URL_A, "y"], true],
    ["same id, same url, other headers", [{ "upstash-deduplication-id": "d1" }, URL_A, "x"], [{ "upstash-deduplication-id": "d1", "upstash-forward-x-a": "1" }, URL_A, "x"], true],
    ["same id, other url", [{ "upstash-deduplication-id": "d1" }, URL_A, "x"], [{ "upstash-deduplication-id": "d1" }, URL_B, "x"], false],
    ["other id, same url", [{ "upstash-deduplication-id": "d1" }, URL_A, "x"], [{ "upstash-deduplication-id": "d2" }, URL_A, "x"], false],
    ["content: identical", [{ "upstash-content-based-deduplication": "true" }, URL_A, "x"], [{ "upstash-content-based-deduplication": "true" }, URL_A, "x"], true],
    ["content: other url", [{ "upstash-content-based-deduplication": "true" }, URL_A, "x"], [{ "upstash-content-based-deduplication": "true" }, URL_B, "x"], false],
    ["content: other body", [{ "upstash-content-based-deduplication": "true" }, URL_A, "x"], [{ "upstash-content-based-deduplication": "true" }, URL_A, "y"], false],
    [
      "content: other content-type",
      [{ "upstash-content-based-deduplication": "true", "content-type": "text/plain" }, URL_A, "x"],
      [{ "upstash-content-based-deduplication": "true", "content-type": "application/json" }, URL_A, "x"],
      false,
    ],
    [
      "content: forwarded header added",
      [{ "upstash-content-based-deduplication": "true" }, URL_A, "x"],
      [{ "upstash-content-based-deduplication": "true", "upstash-forward-x-a": "1" }, URL_A, "x"],
      false,
    ],
    [
      "content: forwarded header value differs",
      [{ "upstash-content-based-deduplication": "true", "upstash-forward-x-a": "1" }, URL_A, "x"],
      [{ "upstash-content-based-deduplication": "true", "upstash-forward-x-a": "2" }, URL_A, "x"],
      false,
    ],
    [
      "content: header order does not matter",
      [{ "upstash-content-based-deduplication": "true", "upstash-forward-x-a": "1", "upstash-forward-x-b": "2" }, URL_A, "x"],
      [{ "upstash-forward-x-b": "2", "upstash-forward-x-a": "1", "upstash-content-based-deduplication": "true" }, URL_A, "x"],
      true,
    ],
    [
      "content: config headers do not count",
      [{ "upstash-content-based-deduplication": "true", "upstash-retries": "1", "upstash-delay": "5s" }, URL_A, "x"],
      [{ "upstash-content-based-deduplication": "true", "upstash-retries": "2" }, URL_A, "x"],
      true,
    ],
    [
      "content: url and body boundary",
      [{ "upstash-content-based-deduplication": "true" }, "https://a.example.com/ab", "c"],
      [{ "upstash-content-based-deduplication": "true" }, "https://a.example.com/a", "bc"],
      false,
    ],
    [
      "id wins over content",
      [{ "upstash-deduplication-id": "d1", "upstash-content-based-deduplication": "true" }, URL_A, "x"],
      [{ "upstash-deduplication-id": "d1", "upstash-content-based-deduplication": "true" }, URL_A, "y"],
      true,
    ],
  ])("%s → equal: %s", (_, [h1, u1, b1], [h2, u2, b2], equal) => {
    const k1 = key(h1, u1, b1);
    const k2 = key(h2, u2, b2);
    expect(k1).toBeDefined();
    expect(k2).toBeDefined();
    expect(k1 === k2).toBe(equal);
  });

  it("an id key and a content key never collide", () => {
    expect(key({ "upstash-deduplication-id": "x" })).not.toBe(key({ "upstash-content-based-deduplication": "true" }));
  });
});

function source(overrides: Partial<MessageRecord> = {}): MessageRecord {
  return {
    id: "msg_source",
    userId: "user_1",
    kind: "publish",
    url: URL_A,
    method: "PUT",
    header: { "Content-Type": ["text/plain"], "X-A": ["1"] },
    body: Buffer.from("hello"),
    maxRetries: 3,
    notBeforeMs: NOW - 5_000,
    createdAtMs: NOW - 6_000,
    callerIp: "10.0.0.7",
    labels: [],
    state: "active",
    retried: 0,
    dueMs: NOW - 5_000,
    ...overrides,
  };
}

const BASE_KEYS = [
  "status",
  "header",
  "body",
  "retried",
  "maxRetries",
  "sourceMessageId",
  "url",
  "method",
  "sourceHeader",
  "sourceBody",
  "notBefore",
  "createdAt",
  "callerIP",
  "callerIp",
];

const ok: AttemptResult = { kind: "response", status: 200, headers: { "content-type": "text/plain" }, body: Buffer.from("done") };
const bad: AttemptResult = { kind: "response", status: 500, headers: { "x-err": ["a", "b"] }, body: Buffer.from([0xff, 0x00, 0x01]) };
const refused: AttemptResult = { kind: "error", error: "connect ECONNREFUSED 127.0.0.1:9" };

describe("callbackBody", () => {
  it.each<[string, MessageRecord, AttemptResult, string | undefined, string[]]>([
    ["success", source(), ok, undefined, BASE_KEYS],
    ["failed response", source({ retried: 1 }), bad, undefined, BASE_KEYS],
    ["no response", source(), refused, undefined, [...BASE_KEYS, "error"]],
    ["failure callback", source({ retried: 3 }), bad, "1700000000000-1", [...BASE_KEYS, "dlqId"]],
    ["failure callback without response", source({ retried: 3 }), refused, "1700000000000-2", [...BASE_KEYS, "error", "dlqId"]],
    [
      "URL group, schedule and queue",
      source({ topicName: "g", endpointName: "ep", scheduleId: "scd_1", queueName: "q" }),
      ok,
      undefined,
      [...BASE_KEYS, "topicName", "endpointName", "scheduleId", "queueName"],
    ],
  ])("%s: key set", (_, msg, result, dlqId, keys) => {
    const t = afterAttempt(msg, result, NOW);
    expect(Object.keys(callbackBody(msg, t, dlqId)).sort()).toEqual([...keys].sort());
  });

  it("values after a successful first attempt", () => {
    const msg = source();
    expect(callbackBody(msg, afterAttempt(msg, ok, NOW))).toEqual({
      status: 200,
      header: { "Content-Type": ["text/plain"] },
      body: Buffer.from("done").toString("base64"),
      retried: 0,
      maxRetries: 3,
      sourceMessageId: "msg_source",
      url: URL_A,
      method: "PUT",
      sourceHeader: { "Content-Type": ["text/plain"], "X-A": ["1"] },
      sourceBody: Buffer.from("hello").toString("base64"),
      notBefore: NOW - 5_000,
      createdAt: NOW - 6_000,
      callerIP: "10.0.0.7",
      callerIp: "10.0.0.7",
    });
  });

  it("values for a failure callback after the last attempt", () => {
    const msg = source({ retried: 3, topicName: "g", endpointName: "ep", scheduleId: "scd_1" });
    const body = callbackBody(msg, afterAttempt(msg, bad, NOW), "1700000000000-1");
    expect(body).toMatchObject({
      status: 500,
      header: { "X-Err": ["a", "b"] },
      body: "/wAB",
      retried: 3,
      maxRetries: 3,
      dlqId: "1700000000000-1",
      topicName: "g",
      endpointName: "ep",
      scheduleId: "scd_1",
    });
  });

  it("no response: status 0, empty header and body, the error text", () => {
    const msg = source();
    const body = callbackBody(msg, afterAttempt(msg, refused, NOW));
    expect(body).toMatchObject({ status: 0, header: {}, body: "", error: "connect ECONNREFUSED 127.0.0.1:9", retried: 0 });
  });

  it.each([
    [0, 0],
    [1, 1],
    [2, 2],
    [3, 3],
  ])("attempt after %d retries reports retried = %d", (before, reported) => {
    const msg = source({ retried: before });
    expect(callbackBody(msg, afterAttempt(msg, bad, NOW)).retried).toBe(reported);
  });

  it.each<[string, Buffer, string]>([
    ["empty body", Buffer.alloc(0), ""],
    ["text body", Buffer.from("héllo"), Buffer.from("héllo").toString("base64")],
    ["binary body", Buffer.from([0, 1, 2, 0xfe, 0xff]), "AAEC/v8="],
  ])("sourceBody is base64: %s", (_, raw, b64) => {
    const msg = source({ body: raw });
    expect(callbackBody(msg, afterAttempt(msg, ok, NOW)).sourceBody).toBe(b64);
  });

  it("works with a hand-built transition", () => {
    const t: Transition = {
      verdict: { kind: "failed", nonRetryable: true },
      state: "failed",
      retried: 1,
      dueMs: NOW,
      finishedMs: NOW,
      events: [],
      response: { status: 489, headers: { "Upstash-Nonretryable-Error": ["true"] }, body: Buffer.from("{}") },
    };
    expect(callbackBody(source(), t, "d-1")).toMatchObject({ status: 489, body: "e30=", retried: 0, dlqId: "d-1" });
  });
});

describe("buildCallbackMessage", () => {
  const payload = { status: 200, sourceMessageId: "msg_source" };
  const make = (overrides: Partial<MessageRecord>, kind: "callback" | "failureCallback" = "callback", limits = LIMITS) =>
    buildCallbackMessage(source(overrides), kind, payload, NOW, limits);

  it.each<[string, Partial<MessageRecord>, "callback" | "failureCallback"]>([
    ["no callback configured", {}, "callback"],
    ["only a failure callback, asking for the callback", { failureCallback: "https://cb.example.com/f" }, "callback"],
    ["only a callback, asking for the failure callback", { callback: "https://cb.example.com/c" }, "failureCallback"],
  ])("%s → undefined", (_, overrides, kind) => {
    expect(make(overrides, kind)).toBeUndefined();
  });

  it("a plain callback: POST JSON, the source's retries, its user and caller", () => {
    const cb = make({ callback: "https://cb.example.com/c", maxRetries: 4 })!;
    expect(cb).toMatchObject({
      kind: "callback",
      url: "https://cb.example.com/c",
      method: "POST",
      header: { "Content-Type": ["application/json"] },
      maxRetries: 4,
      userId: "user_1",
      callerIp: "10.0.0.7",
      sourceMessageId: "msg_source",
      state: "pending",
      retried: 0,
      dueMs: NOW,
      notBeforeMs: NOW,
      createdAtMs: NOW,
      labels: [],
    });
    expect(JSON.parse(cb.body.toString("utf8"))).toEqual(payload);
    expect(cb.id).toMatch(/^msg_/);
    expect(cb.id).not.toBe("msg_source");
    expect(cb.callback).toBeUndefined();
    expect(cb.failureCallback).toBeUndefined();
  });

  it.each<[string, Record<string, string>, number, Partial<MessageRecord>]>([
    ["inherits retries", {}, 4, { maxRetries: 4 }],
    ["inherits zero retries", {}, 0, { maxRetries: 0 }],
    ["own retries", { "upstash-retries": "1" }, 4, { maxRetries: 1 }],
    ["own zero retries", { "upstash-retries": "0" }, 4, { maxRetries: 0 }],
    ["method", { "upstash-method": "put" }, 3, { method: "PUT" }],
    ["delay", { "upstash-delay": "10s" }, 3, { dueMs: NOW + 10_000, notBeforeMs: NOW + 10_000 }],
    ["timeout", { "upstash-timeout": "5s" }, 3, { timeoutMs: 5_000 }],
    ["retry delay", { "upstash-retry-delay": "1000" }, 3, { retryDelay: "1000" }],
    [
      "forward headers",
      { "upstash-forward-authorization": "Bearer cb", "upstash-forward-x-b": "2" },
      3,
      { header: { Authorization: ["Bearer cb"], "X-B": ["2"], "Content-Type": ["application/json"] } },
    ],
    ["labels", { "upstash-label": "cb" }, 3, { labels: ["cb"] }],
    ["flow control", { "upstash-flow-control-key": "k", "upstash-flow-control-value": "parallelism=1" }, 3, { flowControl: { key: "k", parallelism: 1 } }],
  ])("callback sub-headers: %s", (_, sub, maxRetries, expected) => {
    const cb = make({ callback: "https://cb.example.com/c", callbackHeaders: sub, maxRetries })!;
    expect(cb).toMatchObject(expected);
    expect(cb.header["Content-Type"]).toEqual(["application/json"]);
  });

  it("a failure callback uses the failure-callback sub-headers, not the callback's", () => {
    const fc = make(
      {
        callback: "https://cb.example.com/c",
        callbackHeaders: { "upstash-retries": "1", "upstash-method": "PUT" },
        failureCallback: "https://cb.example.com/f",
        failureCallbackHeaders: { "upstash-retries": "2", "upstash-forward-x-f": "1" },
      },
      "failureCallback",
    )!;
    expect(fc).toMatchObject({
      kind: "failureCallback",
      url: "https://cb.example.com/f",
      method: "POST",
      maxRetries: 2,
      header: { "X-F": ["1"], "Content-Type": ["application/json"] },
      sourceMessageId: "msg_source",
    });
  });

  it("the source's own headers are not copied to the callback", () => {
    const cb = make({ callback: "https://cb.example.com/c", header: { Authorization: ["Bearer src"] } })!;
    expect(cb.header).toEqual({ "Content-Type": ["application/json"] });
  });

  it.each<[string, Record<string, string>]>([
    ["callback", { "upstash-callback": "https://cb.example.com/again" }],
    ["failure callback", { "upstash-failure-callback": "https://cb.example.com/again" }],
    [
      "both, with their own sub-headers",
      {
        "upstash-callback": "https://cb.example.com/again",
        "upstash-callback-retries": "1",
        "upstash-failure-callback": "https://cb.example.com/again",
        "upstash-failure-callback-retries": "1",
      },
    ],
  ])("no callback of a callback: %s", (_, sub) => {
    const cb = make({ callback: "https://cb.example.com/c", callbackHeaders: sub })!;
    expect(cb.callback).toBeUndefined();
    expect(cb.failureCallback).toBeUndefined();
    expect(cb.callbackHeaders).toBeUndefined();
    expect(cb.failureCallbackHeaders).toBeUndefined();
  });

  it("sub-headers over a limit are refused with the limit's status", () => {
    let err: unknown;
    try {
      make({ callback: "https://cb.example.com/c", callbackHeaders: { "upstash-retries": "11" } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(412);
  });
});
