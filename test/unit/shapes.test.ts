import { createHash } from "node:crypto";
import { describe, it, expect } from "vitest";
import { dlqJson, logJson, messageJson } from "../../src/protocol/shapes.js";
import type { DlqRecord } from "../../src/model/dlq.js";
import type { LogEvent, StoredEvent } from "../../src/model/log.js";
import type { MessageRecord, RedactSpec } from "../../src/model/message.js";

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);

const sha = (v: string | Buffer) => `REDACTED:${createHash("sha256").update(v).digest("hex")}`;

function message(overrides: Partial<MessageRecord> = {}): MessageRecord {
  return {
    id: "msg_1",
    userId: "user_1",
    kind: "publish",
    url: "https://example.com/hook",
    method: "POST",
    header: { "Content-Type": ["text/plain"], Authorization: ["Bearer secret"], "X-A": ["1", "2"] },
    body: Buffer.from("hello"),
    maxRetries: 3,
    notBeforeMs: NOW + 1_000,
    createdAtMs: NOW,
    callerIp: "10.0.0.7",
    labels: [],
    state: "pending",
    retried: 0,
    dueMs: NOW + 1_000,
    ...overrides,
  };
}

const redact = (r: Partial<RedactSpec>): RedactSpec => ({ body: false, allHeaders: false, headers: [], ...r });

describe("messageJson: minimal message", () => {
  it("has exactly the base fields", () => {
    expect(messageJson(message())).toEqual({
      messageId: "msg_1",
      url: "https://example.com/hook",
      method: "POST",
      header: { "Content-Type": ["text/plain"], Authorization: ["Bearer secret"], "X-A": ["1", "2"] },
      body: "hello",
      maxRetries: 3,
      notBefore: NOW + 1_000,
      createdAt: NOW,
      callerIP: "10.0.0.7",
      callerIp: "10.0.0.7",
    });
  });

  it("adds every optional field that is set", () => {
    const json = messageJson(
      message({
        topicName: "g",
        endpointName: "ep",
        retryDelay: "pow(2, retried) * 1000",
        timeoutMs: 30_000,
        callback: "https://cb.example.com/c",
        failureCallback: "https://cb.example.com/f",
        queueName: "q",
        scheduleId: "scd_1",
      }),
    );
    expect(json).toMatchObject({
      topicName: "g",
      endpointName: "ep",
      retryDelayExpression: "pow(2, retried) * 1000",
      callback: "https://cb.example.com/c",
      failureCallback: "https://cb.example.com/f",
      queueName: "q",
      scheduleId: "scd_1",
    });
  });
});

describe("messageJson: body", () => {
  it.each<[string, Buffer, { body?: string; bodyBase64?: string }]>([
    ["ASCII", Buffer.from("hello"), { body: "hello" }],
    ["JSON", Buffer.from('{"a":1}'), { body: '{"a":1}' }],
    ["multi-byte UTF-8", Buffer.from("héllo 👋 世界"), { body: "héllo 👋 世界" }],
    ["valid UTF-8 holding U+FFFD", Buffer.from("a\uFFFDb"), { body: "a\uFFFDb" }],
    ["UTF-8 BOM kept", Buffer.from([0xef, 0xbb, 0xbf, 0x61]), { body: "\uFEFFa" }],
    ["NUL bytes are valid UTF-8", Buffer.from([0x61, 0x00, 0x62]), { body: "a\u0000b" }],
    ["invalid byte", Buffer.from([0xff, 0xfe, 0x00]), { bodyBase64: "//4A" }],
    ["lone continuation byte", Buffer.from([0x61, 0x80]), { bodyBase64: "YYA=" }],
    ["truncated 4-byte sequence", Buffer.from([0xf0, 0x9f, 0x98]), { bodyBase64: "8J+Y" }],
    ["overlong encoding", Buffer.from([0xc0, 0xaf]), { bodyBase64: "wK8=" }],
    ["UTF-16 surrogate encoded as UTF-8", Buffer.from([0xed, 0xa0, 0x80]), { bodyBase64: "7aCA" }],
    ["PNG header", Buffer.from([0x89, 0x50, 0x4e, 0x47]), { bodyBase64: "iVBORw==" }],
    ["empty", Buffer.alloc(0), {}],
  ])("%s", (_, body, expected) => {
    const json = messageJson(message({ body }));
    expect({ body: json.body, bodyBase64: json.bodyBase64 }).toEqual({ body: undefined, bodyBase64: undefined, ...expected });
  });
});

describe("messageJson: redaction", () => {
  const header = { "Content-Type": ["text/plain"], Authorization: ["Bearer secret"], "X-A": ["1", "2"] };

  it.each<[string, RedactSpec, Record<string, string[]>]>([
    ["nothing selected", redact({}), header],
    ["body only", redact({ body: true }), header],
    [
      "all headers",
      redact({ allHeaders: true }),
      { "Content-Type": [sha("text/plain")], Authorization: [sha("Bearer secret")], "X-A": [sha("1"), sha("2")] },
    ],
    ["one header", redact({ headers: ["authorization"] }), { ...header, Authorization: [sha("Bearer secret")] }],
    [
      "two headers, one multi-valued",
      redact({ headers: ["authorization", "x-a"] }),
      { ...header, Authorization: [sha("Bearer secret")], "X-A": [sha("1"), sha("2")] },
    ],
    ["a header the message does not have", redact({ headers: ["x-missing"] }), header],
  ])("headers: %s", (_, spec, expected) => {
    expect(messageJson(message({ header, redact: spec })).header).toEqual(expected);
  });

  it.each<[string, Buffer]>([
    ["text", Buffer.from("card=4111111111111111")],
    ["binary", Buffer.from([0xff, 0x00, 0x10])],
  ])("body: %s body shows REDACTED:<sha256 hex of the bytes>", (_, body) => {
    const json = messageJson(message({ body, redact: redact({ body: true }) }));
    expect(json.body).toBe(sha(body));
    expect(json.body).toMatch(/^REDACTED:[0-9a-f]{64}$/);
    expect(json).not.toHaveProperty("bodyBase64");
  });

  it("hashes the raw bytes: the known sha256 of \"a\"", () => {
    expect(messageJson(message({ body: Buffer.from("a"), redact: redact({ body: true }) })).body).toBe(
      "REDACTED:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
    );
  });

  it("an empty body stays absent when redacted", () => {
    const json = messageJson(message({ body: Buffer.alloc(0), redact: redact({ body: true }) }));
    expect(json).not.toHaveProperty("body");
    expect(json).not.toHaveProperty("bodyBase64");
  });

  it("redaction does not change the stored record", () => {
    const m = message({ header, redact: redact({ body: true, allHeaders: true }) });
    messageJson(m);
    expect(m.header).toEqual(header);
    expect(m.body.toString()).toBe("hello");
  });
});

describe("messageJson: labels, caller, flow control", () => {
  it.each<[string[], Record<string, unknown>]>([
    [[], {}],
    [["a"], { label: "a", labels: ["a"] }],
    [["a", "b", "c"], { label: "a", labels: ["a", "b", "c"] }],
  ])("labels %j", (labels, expected) => {
    const json = messageJson(message({ labels }));
    expect({ label: json.label, labels: json.labels }).toEqual({ label: undefined, labels: undefined, ...expected });
  });

  it.each(["10.0.0.7", "::1", ""])("callerIP and callerIp both carry %j", (ip) => {
    const json = messageJson(message({ callerIp: ip }));
    expect(json.callerIP).toBe(ip);
    expect(json.callerIp).toBe(ip);
  });

  it.each<[string, MessageRecord["flowControl"], Record<string, unknown>]>([
    ["none", undefined, {}],
    ["parallelism only", { key: "k", parallelism: 3 }, { flowControlKey: "k", parallelism: 3 }],
    ["rate with default period", { key: "k", rate: 10 }, { flowControlKey: "k", rate: 10, period: 1 }],
    ["rate with period", { key: "k", rate: 10, periodSec: 60 }, { flowControlKey: "k", rate: 10, period: 60 }],
    ["all three", { key: "k", parallelism: 2, rate: 5, periodSec: 86_400 }, { flowControlKey: "k", parallelism: 2, rate: 5, period: 86_400 }],
    ["period without rate is not shown", { key: "k", parallelism: 2, periodSec: 60 }, { flowControlKey: "k", parallelism: 2 }],
  ])("flow control: %s", (_, flowControl, expected) => {
    const json = messageJson(message({ flowControl }));
    const picked = Object.fromEntries(
      ["flowControlKey", "parallelism", "rate", "period"].filter((k) => k in json).map((k) => [k, json[k]]),
    );
    expect(picked).toEqual(expected);
  });
});

function event(overrides: Partial<LogEvent> = {}, m: MessageRecord = message()): StoredEvent {
  return { seq: 1, userId: "user_1", messageId: m.id, timeMs: NOW + 5, state: "CREATED", message: m, ...overrides };
}

describe("logJson", () => {
  it("a CREATED event of a minimal message", () => {
    expect(logJson(event())).toEqual({
      time: NOW + 5,
      state: "CREATED",
      messageId: "msg_1",
      url: "https://example.com/hook",
      header: { "Content-Type": ["text/plain"], Authorization: ["Bearer secret"], "X-A": ["1", "2"] },
      body: Buffer.from("hello").toString("base64"),
      method: "POST",
      maxRetries: 3,
      callerIP: "10.0.0.7",
      callerIp: "10.0.0.7",
    });
  });

  it.each<[string, Buffer, string | undefined]>([
    ["text", Buffer.from("hello"), "aGVsbG8="],
    ["UTF-8", Buffer.from("é"), "w6k="],
    ["binary", Buffer.from([0xff, 0x00]), "/wA="],
    ["empty", Buffer.alloc(0), undefined],
  ])("body is always base64: %s", (_, body, b64) => {
    const json = logJson(event({}, message({ body })));
    expect(json.body).toBe(b64);
    expect(json).not.toHaveProperty("bodyBase64");
  });

  it("response fields of an ERROR event", () => {
    const json = logJson(
      event({
        state: "ERROR",
        error: "destination responded with status 500",
        responseStatus: 500,
        responseHeaders: { "Content-Type": ["application/json"] },
        responseBody: Buffer.from('{"e":1}'),
      }),
    );
    expect(json).toMatchObject({
      state: "ERROR",
      error: "destination responded with status 500",
      responseStatus: 500,
      responseHeaders: { "Content-Type": ["application/json"] },
      responseBody: Buffer.from('{"e":1}').toString("base64"),
    });
  });

  it.each<[string, Partial<LogEvent>, string[]]>([
    ["no response at all", { state: "ERROR", error: "ECONNREFUSED" }, ["responseStatus", "responseHeaders", "responseBody", "nextDeliveryTime"]],
    ["empty response body", { state: "DELIVERED", responseStatus: 204, responseHeaders: {}, responseBody: Buffer.alloc(0) }, ["responseBody", "error"]],
  ])("absent fields: %s", (_, e, absent) => {
    const json = logJson(event(e));
    for (const key of absent) expect(json).not.toHaveProperty(key);
  });

  it("RETRY carries nextDeliveryTime", () => {
    expect(logJson(event({ state: "RETRY", nextDeliveryTimeMs: NOW + 12_182 })).nextDeliveryTime).toBe(NOW + 12_182);
  });

  it("message options: timeout in ms, callbacks with their headers, retry delay, labels, flow control", () => {
    const m = message({
      topicName: "g",
      endpointName: "ep",
      scheduleId: "scd_1",
      queueName: "q",
      timeoutMs: 30_000,
      callback: "https://cb.example.com/c",
      callbackHeaders: { "upstash-retries": "1" },
      failureCallback: "https://cb.example.com/f",
      retryDelay: "1000",
      labels: ["a", "b"],
      flowControl: { key: "k", rate: 2, periodSec: 10 },
    });
    expect(logJson(event({}, m))).toMatchObject({
      topicName: "g",
      endpointName: "ep",
      scheduleId: "scd_1",
      queueName: "q",
      timeout: 30_000,
      callback: "https://cb.example.com/c",
      callbackHeaders: { "upstash-retries": ["1"] },
      failureCallback: "https://cb.example.com/f",
      failureCallbackHeaders: {},
      retryDelayExpression: "1000",
      label: "a",
      labels: ["a", "b"],
      flowControlKey: "k",
      rate: 2,
      period: 10,
    });
  });

  it("redaction applies to the header and the body", () => {
    const m = message({ redact: redact({ body: true, headers: ["authorization"] }) });
    const json = logJson(event({}, m));
    expect(Buffer.from(json.body as string, "base64").toString()).toBe(sha("hello"));
    expect(json.header).toEqual({ "Content-Type": ["text/plain"], Authorization: [sha("Bearer secret")], "X-A": ["1", "2"] });
  });
});

function dlq(overrides: Partial<DlqRecord> = {}, m: MessageRecord = message({ state: "failed", retried: 4 })): DlqRecord {
  return { dlqId: "1705320000000-1", userId: "user_1", messageId: m.id, createdMs: NOW + 60_000, message: m, ...overrides };
}

describe("dlqJson", () => {
  it("is the message plus dlqId and the last response", () => {
    const d = dlq({ responseStatus: 500, responseHeaders: { "X-E": ["1"] }, responseBody: Buffer.from("boom") });
    expect(dlqJson(d)).toEqual({
      ...messageJson(d.message),
      dlqId: "1705320000000-1",
      responseStatus: 500,
      responseHeader: { "X-E": ["1"] },
      responseBody: "boom",
      createdAt: NOW,
      failedAt: NOW + 60_000,
    });
  });

  it.each<[string, Buffer | undefined, { responseBody?: string; responseBodyBase64?: string }]>([
    ["text", Buffer.from("boom"), { responseBody: "boom" }],
    ["JSON", Buffer.from('{"error":"x"}'), { responseBody: '{"error":"x"}' }],
    ["UTF-8 with U+FFFD", Buffer.from("\uFFFD"), { responseBody: "\uFFFD" }],
    ["binary", Buffer.from([0xff, 0xd8, 0xff]), { responseBodyBase64: "/9j/" }],
    ["empty", Buffer.alloc(0), {}],
    ["absent", undefined, {}],
  ])("response body: %s", (_, responseBody, expected) => {
    const json = dlqJson(dlq({ responseStatus: 500, responseBody }));
    expect({ responseBody: json.responseBody, responseBodyBase64: json.responseBodyBase64 }).toEqual({
      responseBody: undefined,
      responseBodyBase64: undefined,
      ...expected,
    });
  });

  it("a response body is never redacted, the message body is", () => {
    const d = dlq({ responseStatus: 500, responseBody: Buffer.from("secret reply") }, message({ redact: redact({ body: true }) }));
    const json = dlqJson(d);
    expect(json.responseBody).toBe("secret reply");
    expect(json.body).toBe(sha("hello"));
  });

  it("no response: error text, no response fields", () => {
    const json = dlqJson(dlq({ error: "timeout after 30000 ms" }));
    expect(json.error).toBe("timeout after 30000 ms");
    for (const key of ["responseStatus", "responseHeader", "responseBody", "responseBodyBase64"]) expect(json).not.toHaveProperty(key);
  });

  it("keeps the message's body as body / bodyBase64", () => {
    expect(dlqJson(dlq({}, message({ body: Buffer.from([0xff]) }))).bodyBase64).toBe("/w==");
    expect(dlqJson(dlq({}, message({ body: Buffer.from("x") }))).body).toBe("x");
  });
});
