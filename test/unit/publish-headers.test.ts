import { describe, it, expect } from "vitest";
import {
  parseFlowControl,
  parsePublishHeaders,
  parseRedact,
  withQueryConfig,
  type HeaderBag,
  type PublishLimits,
} from "../../src/protocol/publish-headers.js";
import { HttpError } from "../../src/errors.js";

const DAY_MS = 86_400_000;
const LIMITS: PublishLimits = { maxRetries: 5, maxDelayMs: 7 * DAY_MS, maxTimeoutMs: 15 * 60_000 };

function thrown(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error("expected an HttpError");
}

const parse = (h: HeaderBag, limits = LIMITS) => parsePublishHeaders(h, limits);
const nowSec = () => Math.floor(Date.now() / 1000);

describe("parsePublishHeaders: defaults", () => {
  it("an empty request is a POST with nothing else set", () => {
    expect(parse({})).toEqual({
      method: "POST",
      header: {},
      callbackHeaders: {},
      failureCallbackHeaders: {},
      contentBasedDedup: false,
      labels: [],
    });
  });
});

describe("parsePublishHeaders: Upstash-Method", () => {
  it.each([
    [undefined, "POST"],
    ["", "POST"],
    ["  ", "POST"],
    ["GET", "GET"],
    ["get", "GET"],
    ["Post", "POST"],
    ["put", "PUT"],
    ["PATCH", "PATCH"],
    [" delete ", "DELETE"],
  ])("%j → %s", (value, expected) => {
    expect(parse(value === undefined ? {} : { "upstash-method": value }).method).toBe(expected);
  });

  it.each(["FOO", "HEAD", "OPTIONS", "TRACE", "CONNECT", "GET POST", "G3T"])("rejects %j with 400", (value) => {
    const err = thrown(() => parse({ "upstash-method": value }));
    expect(err.status).toBe(400);
    expect(err.message).toContain("Upstash-Method");
    expect(err.message).toContain("GET, POST, PUT, PATCH or DELETE");
  });
});

describe("parsePublishHeaders: forwarded headers", () => {
  it.each<[string, HeaderBag, Record<string, string[]>]>([
    ["prefix stripped, canonical name", { "upstash-forward-x-custom-header": "v" }, { "X-Custom-Header": ["v"] }],
    ["single word", { "upstash-forward-authorization": "Bearer t" }, { Authorization: ["Bearer t"] }],
    ["multiple values kept in order", { "upstash-forward-x-a": ["1", "2"] }, { "X-A": ["1", "2"] }],
    ["value kept verbatim", { "upstash-forward-x-a": " spaced  value " }, { "X-A": [" spaced  value "] }],
    ["empty value forwarded", { "upstash-forward-x-empty": "" }, { "X-Empty": [""] }],
    ["content-type forwarded as-is", { "content-type": "application/json; charset=utf-8" }, { "Content-Type": ["application/json; charset=utf-8"] }],
    [
      "content-type and forward headers together",
      { "content-type": "text/plain", "upstash-forward-x-a": "1", "upstash-forward-x-b": "2" },
      { "Content-Type": ["text/plain"], "X-A": ["1"], "X-B": ["2"] },
    ],
    ["bare prefix ignored", { "upstash-forward-": "v" }, {}],
    ["plain headers not forwarded", { "x-a": "1", cookie: "c=1", "user-agent": "sdk" }, {}],
    ["upstash config not forwarded", { "upstash-retries": "1", "upstash-telemetry-sdk": "upstash-qstash-js@2.12.0" }, {}],
    ["our own delivery headers refused", { "upstash-forward-upstash-signature": "x", "upstash-forward-upstash-message-id": "m", "upstash-forward-upstash-retried": "9" }, {}],
    ["connection-level headers refused", { "upstash-forward-host": "h", "upstash-forward-content-length": "3", "upstash-forward-connection": "close", "upstash-forward-transfer-encoding": "chunked" }, {}],
    ["other upstash-* names can be forwarded", { "upstash-forward-upstash-workflow-runid": "wfr_1" }, { "Upstash-Workflow-Runid": ["wfr_1"] }],
  ])("%s", (_, h, expected) => {
    expect(parse(h).header).toEqual(expected);
  });

  it.each<[string, HeaderBag, string]>([
    ["space in name", { "upstash-forward-bad name": "v" }, 'invalid header name "bad name"'],
    ["colon in name", { "upstash-forward-a:b": "v" }, 'invalid header name "a:b"'],
    ["newline in value", { "upstash-forward-x-a": "a\r\nInjected: 1" }, 'invalid value for header "x-a"'],
    ["NUL in value", { "upstash-forward-x-a": "a\u0000" }, "control characters"],
    ["bad value among several", { "upstash-forward-x-a": ["ok", "b\nc"] }, "control characters"],
  ])("refuses %s with 400", (_, h, message) => {
    const err = thrown(() => parse(h));
    expect(err.status).toBe(400);
    expect(err.message).toContain(message);
  });
});

describe("parsePublishHeaders: Upstash-Header-Forward", () => {
  const incoming: HeaderBag = {
    "x-a": "1",
    cookie: "c=1",
    "user-agent": "curl/8",
    "content-type": "text/plain",
    "upstash-forward-x-b": "2",
    // never forwarded:
    authorization: "Bearer secret",
    "proxy-authorization": "Basic x",
    host: "sluice.local",
    connection: "keep-alive",
    "keep-alive": "timeout=5",
    "content-length": "3",
    "transfer-encoding": "chunked",
    te: "trailers",
    trailer: "x",
    upgrade: "h2c",
    "proxy-connection": "keep-alive",
    expect: "100-continue",
    "upstash-retries": "1",
    "upstash-telemetry-sdk": "upstash-qstash-js@2.12.0",
  };

  it.each(["true", "TRUE", "True", " true "])("%j forwards every other incoming header", (flag) => {
    expect(parse({ ...incoming, "upstash-header-forward": flag }).header).toEqual({
      "X-A": ["1"],
      Cookie: ["c=1"],
      "User-Agent": ["curl/8"],
      "Content-Type": ["text/plain"],
      "X-B": ["2"],
    });
  });

  it.each(["false", "1", "yes", ""])("%j forwards only content-type and Upstash-Forward-*", (flag) => {
    expect(parse({ ...incoming, "upstash-header-forward": flag }).header).toEqual({
      "Content-Type": ["text/plain"],
      "X-B": ["2"],
    });
  });

  it("a header sent both ways is delivered with both values", () => {
    expect(parse({ "upstash-header-forward": "true", "x-a": "1", "upstash-forward-x-a": "2" }).header["X-A"]).toEqual(["1", "2"]);
  });
});

describe("parsePublishHeaders: Upstash-Delay", () => {
  it.each([
    ["10s", 10_000],
    ["1m", 60_000],
    ["1d10h30m", 124_200_000],
    ["30", 30_000],
    ["0", 0],
    ["500ms", 500],
    ["7d", 7 * DAY_MS],
  ])("%j → %d ms", (value, ms) => {
    expect(parse({ "upstash-delay": value }).delayMs).toBe(ms);
  });

  it("absent or empty → no delay", () => {
    expect(parse({}).delayMs).toBeUndefined();
    expect(parse({ "upstash-delay": "" }).delayMs).toBeUndefined();
  });

  it.each([
    ["abc", 400],
    ["-5s", 400],
    ["1.5s", 400],
    ["10x", 400],
    ["7d1s", 412],
    ["8d", 412],
    ["604801", 412],
  ])("%j → %d", (value, status) => {
    const err = thrown(() => parse({ "upstash-delay": value }));
    expect(err.status).toBe(status);
    expect(err.message).toContain("Upstash-Delay");
  });

  it("the limit is the one passed in", () => {
    expect(thrown(() => parse({ "upstash-delay": "2m" }, { ...LIMITS, maxDelayMs: 60_000 })).status).toBe(412);
    expect(parse({ "upstash-delay": "1m" }, { ...LIMITS, maxDelayMs: 60_000 }).delayMs).toBe(60_000);
  });
});

describe("parsePublishHeaders: Upstash-Not-Before", () => {
  it.each([
    ["past", () => "1700000000", 1_700_000_000_000],
    ["zero", () => "0", 0],
    ["padded", () => " 1700000000 ", 1_700_000_000_000],
  ])("%s", (_, value, ms) => {
    expect(parse({ "upstash-not-before": value() }).notBeforeMs).toBe(ms);
  });

  it("a near future time is kept in ms", () => {
    const at = nowSec() + 3600;
    expect(parse({ "upstash-not-before": String(at) }).notBeforeMs).toBe(at * 1000);
  });

  it("is kept beside a delay (the builder lets it win)", () => {
    const cfg = parse({ "upstash-not-before": "1700000000", "upstash-delay": "10s" });
    expect(cfg.notBeforeMs).toBe(1_700_000_000_000);
    expect(cfg.delayMs).toBe(10_000);
  });

  it.each([
    ["abc", 400],
    ["-5", 400],
    ["1.5", 400],
    ["1700000000000000", 400], // 16 digits: not seconds
    ["1e9", 400],
  ])("%j → %d", (value, status) => {
    const err = thrown(() => parse({ "upstash-not-before": value }));
    expect(err.status).toBe(status);
    expect(err.message).toContain("Upstash-Not-Before");
  });

  it("beyond maxDelay from now → 412", () => {
    const err = thrown(() => parse({ "upstash-not-before": String(nowSec() + 8 * 86_400) }));
    expect(err.status).toBe(412);
    expect(err.message).toContain("Upstash-Not-Before");
  });
});

describe("parsePublishHeaders: Upstash-Retries", () => {
  it.each([
    ["0", 0],
    ["3", 3],
    ["5", 5],
    [" 2 ", 2],
    ["04", 4],
  ])("%j → %d", (value, n) => {
    expect(parse({ "upstash-retries": value }).retries).toBe(n);
  });

  it("absent or empty → default (undefined)", () => {
    expect(parse({}).retries).toBeUndefined();
    expect(parse({ "upstash-retries": "" }).retries).toBeUndefined();
  });

  it.each([
    ["-1", 400],
    ["1.5", 400],
    ["abc", 400],
    ["3s", 400],
    ["6", 412],
    ["100", 412],
  ])("%j → %d", (value, status) => {
    const err = thrown(() => parse({ "upstash-retries": value }));
    expect(err.status).toBe(status);
    expect(err.message).toContain("Upstash-Retries");
  });

  it("the limit is the one passed in", () => {
    expect(thrown(() => parse({ "upstash-retries": "2" }, { ...LIMITS, maxRetries: 1 })).status).toBe(412);
  });
});

describe("parsePublishHeaders: Upstash-Retry-Delay", () => {
  it.each(["pow(2, retried) * 1000", "1000", "min(86400000, exp(retried) * 500)", "retried*retried"])("keeps %j", (expr) => {
    expect(parse({ "upstash-retry-delay": expr }).retryDelay).toBe(expr);
  });

  it.each(["foo(1)", "pow(2)", "1 +", "retried(1)", "x"])("rejects %j with 400", (expr) => {
    const err = thrown(() => parse({ "upstash-retry-delay": expr }));
    expect(err.status).toBe(400);
    expect(err.message).toContain("Upstash-Retry-Delay");
  });

  it.each<[string, HeaderBag, string]>([
    ["1000 / retried (retried 0 comes first)", { "upstash-retry-delay": "1000 / retried" }, "is infinite"],
    ["0 / 0", { "upstash-retry-delay": "0 / 0" }, "is not a number"],
    ["a huge literal", { "upstash-retry-delay": "9".repeat(400) }, "is infinite"],
    ["an overflow", { "upstash-retry-delay": "pow(10, 400)" }, "is infinite"],
    // Evaluated for each retry the message may make: retries 5 means retried 0 to 4.
    ["1 / (retried - 4) with 5 retries", { "upstash-retry-delay": "1 / (retried - 4)", "upstash-retries": "5" }, "when retried is 4"],
    ["sqrt(2 - retried) without retries (up to maxRetries)", { "upstash-retry-delay": "sqrt(2 - retried)" }, "when retried is 3"],
    ["on a callback", { "upstash-callback": "http://127.0.0.1/cb", "upstash-callback-retry-delay": "1 / 0" }, "Upstash-Callback-Retry-Delay"],
  ])("refuses a delay that does not evaluate to a number: %s", (_label, headers, message) => {
    const err = thrown(() => parse(headers));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(/Upstash-(Callback-)?Retry-Delay/);
    expect(err.message).toContain(message);
  });

  it.each<[string, HeaderBag]>([
    ["1 / (retried - 4) with 4 retries (retried never reaches 4)", { "upstash-retry-delay": "1 / (retried - 4)", "upstash-retries": "4" }],
    ["negative results (retried at once)", { "upstash-retry-delay": "0 - 1000" }],
    ["huge finite results (capped at maxDelay when used)", { "upstash-retry-delay": "pow(10, 300)" }],
  ])("keeps %s", (_label, headers) => {
    expect(parse(headers).retryDelay).toBe(headers["upstash-retry-delay"]);
  });
});

describe("parsePublishHeaders: Upstash-Timeout", () => {
  it.each([
    ["30", 30_000],
    ["30s", 30_000],
    ["1m", 60_000],
    ["15m", 900_000],
    ["500ms", 500],
  ])("%j → %d ms", (value, ms) => {
    expect(parse({ "upstash-timeout": value }).timeoutMs).toBe(ms);
  });

  it.each([
    ["0", 400],
    ["0s", 400],
    ["abc", 400],
    ["-1s", 400],
    ["15m1s", 412],
    ["1h", 412],
  ])("%j → %d", (value, status) => {
    const err = thrown(() => parse({ "upstash-timeout": value }));
    expect(err.status).toBe(status);
    expect(err.message).toContain("Upstash-Timeout");
  });
});

describe("parsePublishHeaders: callback URLs", () => {
  it.each([
    ["upstash-callback", "callback"],
    ["upstash-failure-callback", "failureCallback"],
  ] as const)("%s accepts http(s) URLs", (name, field) => {
    expect(parse({ [name]: "https://example.com/cb?x=1" })[field]).toBe("https://example.com/cb?x=1");
    expect(parse({ [name]: "http://localhost:3000/cb" })[field]).toBe("http://localhost:3000/cb");
  });

  it.each([
    ["upstash-callback", "not a url", "Upstash-Callback", "not a URL"],
    ["upstash-callback", "ftp://example.com/cb", "Upstash-Callback", "must be an http(s) URL"],
    ["upstash-callback", "mailto:a@example.com", "Upstash-Callback", "must be an http(s) URL"],
    ["upstash-callback", "/relative", "Upstash-Callback", "not a URL"],
    ["upstash-failure-callback", "example.com/cb", "Upstash-Failure-Callback", ""],
    ["upstash-failure-callback", "file:///etc/passwd", "Upstash-Failure-Callback", "must be an http(s) URL"],
  ])("%s %j → 400", (name, value, what, reason) => {
    const err = thrown(() => parse({ [name]: value }));
    expect(err.status).toBe(400);
    expect(err.message).toContain(`invalid ${what} "`);
    expect(err.message).toContain(reason);
  });
});

describe("parsePublishHeaders: callback sub-headers", () => {
  it("collects Upstash-Callback-* and Upstash-Failure-Callback-* as upstash-*", () => {
    const cfg = parse({
      "upstash-callback": "https://example.com/cb",
      "upstash-callback-retries": "2",
      "upstash-callback-method": "PUT",
      "upstash-callback-forward-x-a": "1",
      "upstash-callback-delay": "5s",
      "upstash-failure-callback": "https://example.com/fail",
      "upstash-failure-callback-retries": "1",
      "upstash-failure-callback-forward-x-b": "2",
      "upstash-failure-callback-workflow-runid": "wfr_1",
      "upstash-retries": "4",
    });
    expect(cfg.callbackHeaders).toEqual({
      "upstash-retries": "2",
      "upstash-method": "PUT",
      "upstash-forward-x-a": "1",
      "upstash-delay": "5s",
    });
    expect(cfg.failureCallbackHeaders).toEqual({
      "upstash-retries": "1",
      "upstash-forward-x-b": "2",
      "upstash-workflow-runid": "wfr_1",
    });
    expect(cfg.retries).toBe(4);
    // Sub-headers do not configure the message itself.
    expect(cfg.method).toBe("POST");
    expect(cfg.header).toEqual({});
  });

  it("keeps the last value of a repeated sub-header, untrimmed", () => {
    expect(parse({ "upstash-callback-forward-x-a": ["1", " 2 "] }).callbackHeaders).toEqual({ "upstash-forward-x-a": " 2 " });
  });

  it("nested failure callback of a callback stays in the callback's headers", () => {
    expect(parse({ "upstash-callback-failure-callback": "https://example.com/f" }).callbackHeaders).toEqual({
      "upstash-failure-callback": "https://example.com/f",
    });
  });

  it.each<[HeaderBag, number, string]>([
    [{ "upstash-callback-retries": "abc" }, 400, "Upstash-Callback-Retries"],
    [{ "upstash-callback-retries": "6" }, 412, "Upstash-Callback-Retries"],
    [{ "upstash-callback-method": "FOO" }, 400, "Upstash-Callback-Method"],
    [{ "upstash-callback-delay": "soon" }, 400, "Upstash-Callback-Delay"],
    [{ "upstash-callback-delay": "8d" }, 412, "Upstash-Callback-Delay"],
    [{ "upstash-callback-timeout": "1h" }, 412, "Upstash-Callback-Timeout"],
    [{ "upstash-callback-retry-delay": "nope()" }, 400, "Upstash-Callback-Retry-Delay"],
    [{ "upstash-callback-forward-x-a": "a\nb" }, 400, "control characters"],
    [{ "upstash-failure-callback-retries": "-1" }, 400, "Upstash-Failure-Callback-Retries"],
    [{ "upstash-failure-callback-retries": "99" }, 412, "Upstash-Failure-Callback-Retries"],
    [{ "upstash-failure-callback-timeout": "0" }, 400, "Upstash-Failure-Callback-Timeout"],
    [{ "upstash-failure-callback-flow-control-key": "k" }, 400, "Upstash-Failure-Callback-Flow-Control-Value"],
    [{ "upstash-failure-callback-label": "bad label" }, 400, "Upstash-Failure-Callback-Label"],
  ])("validates %j at publish time → %d", (h, status, message) => {
    const err = thrown(() => parse({ "upstash-callback": "https://example.com/cb", "upstash-failure-callback": "https://example.com/f", ...h }));
    expect(err.status).toBe(status);
    expect(err.message).toContain(message);
  });
});

describe("parsePublishHeaders: deduplication", () => {
  it.each([
    ["abc", "abc"],
    [" padded ", "padded"],
    ["x".repeat(500), "x".repeat(500)],
    ["with spaces/and:symbols", "with spaces/and:symbols"],
  ])("Upstash-Deduplication-Id %j → %j", (value, id) => {
    expect(parse({ "upstash-deduplication-id": value }).dedupId).toBe(id);
  });

  it.each(["", "   ", "x".repeat(501)])("Upstash-Deduplication-Id %j → 400", (value) => {
    const err = thrown(() => parse({ "upstash-deduplication-id": value }));
    expect(err.status).toBe(400);
    expect(err.message).toContain("Upstash-Deduplication-Id");
  });

  it.each([
    [undefined, false],
    ["true", true],
    ["TRUE", true],
    [" true ", true],
    ["false", false],
    ["1", false],
    ["", false],
  ])("Upstash-Content-Based-Deduplication %j → %s", (value, flag) => {
    const h: HeaderBag = value === undefined ? {} : { "upstash-content-based-deduplication": value };
    expect(parse(h).contentBasedDedup).toBe(flag);
  });
});

describe("parsePublishHeaders: Upstash-Label", () => {
  it.each([
    ["a", ["a"]],
    ["a,b", ["a", "b"]],
    ["a, b ,c", ["a", "b", "c"]],
    ["a,b,a", ["a", "b"]],
    ["a,,b,", ["a", "b"]],
    ["v1.2_x-y", ["v1.2_x-y"]],
    ["", []],
    [",", []],
  ])("%j → %j", (value, labels) => {
    expect(parse({ "upstash-label": value }).labels).toEqual(labels);
  });

  it.each(["bad label", "a,b c", "a/b", "ünï", "a,b;c"])("%j → 400", (value) => {
    const err = thrown(() => parse({ "upstash-label": value }));
    expect(err.status).toBe(400);
    expect(err.message).toContain("Upstash-Label");
  });
});

describe("parsePublishHeaders: Upstash-Redact-Fields", () => {
  it.each([
    ["body", { body: true, allHeaders: false, headers: [] }],
    ["body,header", { body: true, allHeaders: true, headers: [] }],
    ["header[Authorization]", { body: false, allHeaders: false, headers: ["authorization"] }],
  ])("%j", (value, spec) => {
    expect(parse({ "upstash-redact-fields": value }).redact).toEqual(spec);
  });

  it("absent → no redaction", () => {
    expect(parse({}).redact).toBeUndefined();
  });

  it("invalid part → 400", () => {
    const err = thrown(() => parse({ "upstash-redact-fields": "body,secret" }));
    expect(err.status).toBe(400);
    expect(err.message).toContain("Upstash-Redact-Fields");
  });
});

describe("parsePublishHeaders: flow control", () => {
  it("key + value → spec", () => {
    expect(parse({ "upstash-flow-control-key": "k1", "upstash-flow-control-value": "parallelism=3, rate=10, period=1m" }).flowControl).toEqual({
      key: "k1",
      parallelism: 3,
      rate: 10,
      periodSec: 60,
    });
  });

  it("neither → none", () => {
    expect(parse({}).flowControl).toBeUndefined();
  });

  it.each<[HeaderBag, string]>([
    [{ "upstash-flow-control-value": "rate=1" }, "Upstash-Flow-Control-Key is required"],
    [{ "upstash-flow-control-key": "k" }, "Upstash-Flow-Control-Value is required"],
    [{ "upstash-flow-control-key": "k", "upstash-flow-control-value": "  " }, "Upstash-Flow-Control-Value is required"],
    [{ "upstash-flow-control-key": "bad key", "upstash-flow-control-value": "rate=1" }, "Upstash-Flow-Control-Key"],
    [{ "upstash-flow-control-key": "k", "upstash-flow-control-value": "speed=1" }, "should be either rate=X or parallelism=Y"],
  ])("%j → 400", (h, message) => {
    const err = thrown(() => parse(h));
    expect(err.status).toBe(400);
    expect(err.message).toContain(message);
  });
});

describe("withQueryConfig", () => {
  it("returns the headers themselves when there is no query config", () => {
    const h: HeaderBag = { "upstash-retries": "1" };
    expect(withQueryConfig(h, {})).toBe(h);
  });

  it.each<[string, HeaderBag, Record<string, string>, HeaderBag]>([
    ["query fills a missing header", {}, { "upstash-retries": "3" }, { "upstash-retries": "3" }],
    ["header wins over query", { "upstash-retries": "1" }, { "upstash-retries": "3" }, { "upstash-retries": "1" }],
    ["empty header still wins", { "upstash-delay": "" }, { "upstash-delay": "10s" }, { "upstash-delay": "" }],
    [
      "mixed",
      { "upstash-delay": "5s", "content-type": "text/plain" },
      { "upstash-delay": "10s", "upstash-forward-x-a": "1" },
      { "upstash-delay": "5s", "content-type": "text/plain", "upstash-forward-x-a": "1" },
    ],
  ])("%s", (_, h, q, expected) => {
    const before = { ...h };
    expect(withQueryConfig(h, q)).toEqual(expected);
    expect(h).toEqual(before); // the request's own headers are not modified
  });

  it("query config is parsed like headers", () => {
    const cfg = parse(withQueryConfig({ "upstash-retries": "1" }, { "upstash-retries": "4", "upstash-delay": "10s", "upstash-forward-x-a": "1" }));
    expect(cfg.retries).toBe(1);
    expect(cfg.delayMs).toBe(10_000);
    expect(cfg.header).toEqual({ "X-A": ["1"] });
  });
});

describe("parseRedact", () => {
  it.each([
    ["body", { body: true, allHeaders: false, headers: [] }],
    ["header", { body: false, allHeaders: true, headers: [] }],
    ["headers", { body: false, allHeaders: true, headers: [] }],
    ["body,header", { body: true, allHeaders: true, headers: [] }],
    ["body, headers", { body: true, allHeaders: true, headers: [] }],
    ["BODY,Header", { body: true, allHeaders: true, headers: [] }],
    ["header[Authorization]", { body: false, allHeaders: false, headers: ["authorization"] }],
    ["headers[X-Api-Key]", { body: false, allHeaders: false, headers: ["x-api-key"] }],
    ["HEADER[ X-Key ]", { body: false, allHeaders: false, headers: ["x-key"] }],
    ["body,header[Authorization],header[X-Key]", { body: true, allHeaders: false, headers: ["authorization", "x-key"] }],
    ["body, header[Authorization], headers", { body: true, allHeaders: true, headers: ["authorization"] }],
    [" body , ", { body: true, allHeaders: false, headers: [] }],
    ["", { body: false, allHeaders: false, headers: [] }],
  ])("%j", (value, spec) => {
    expect(parseRedact(value)).toEqual(spec);
  });

  it.each(["secret", "bodies", "header[]", "header[a", "header(a)", "body,url"])("%j → 400", (value) => {
    const err = thrown(() => parseRedact(value));
    expect(err.status).toBe(400);
    expect(err.message).toContain("Upstash-Redact-Fields");
  });
});

describe("parseFlowControl: accepted values", () => {
  it.each([
    ["parallelism=3, rate=10, period=1m", { parallelism: 3, rate: 10, periodSec: 60 }],
    ["parallelism=3,rate=10,period=1m", { parallelism: 3, rate: 10, periodSec: 60 }],
    ["rate=10,parallelism=15", { parallelism: 15, rate: 10 }],
    ["rate=10, period=60", { rate: 10, periodSec: 60 }],
    ["rate=10, period=60s", { rate: 10, periodSec: 60 }],
    ["rate=10, period=1m", { rate: 10, periodSec: 60 }],
    ["rate=10, period=1h30m", { rate: 10, periodSec: 5400 }],
    ["rate=10, period=1s", { rate: 10, periodSec: 1 }],
    ["rate=10, period=7d", { rate: 10, periodSec: 604_800 }],
    ["rate=10, period=2000ms", { rate: 10, periodSec: 2 }],
    ["parallelism=1", { parallelism: 1 }],
    ["rate=5", { rate: 5 }],
    ["ratePerSecond=5", { rate: 5 }],
    ["Parallelism=2, RATE=4", { parallelism: 2, rate: 4 }],
    ["parallelism = 3 ,  rate = 10", { parallelism: 3, rate: 10 }],
    ["parallelism=3;rate=10", { parallelism: 3, rate: 10 }],
    ["parallelism=3,", { parallelism: 3 }],
    ["period=10s, parallelism=2", { parallelism: 2, periodSec: 10 }],
    ["rate=1, rate=2", { rate: 2 }],
    ["parallelism=1000000, rate=1000000", { parallelism: 1_000_000, rate: 1_000_000 }],
  ])("%j", (value, expected) => {
    expect(parseFlowControl("my-key", value)).toEqual({ key: "my-key", ...expected });
  });

  it.each(["k", "user_1", "a.b-c", "x".repeat(200)])("key %j accepted", (key) => {
    expect(parseFlowControl(key, "rate=1").key).toBe(key);
  });
});

describe("parseFlowControl: errors", () => {
  it.each<[string | undefined, string | undefined, string]>([
    [undefined, "rate=1", "Upstash-Flow-Control-Key is required"],
    ["", "rate=1", "Upstash-Flow-Control-Key is required"],
    ["bad key", "rate=1", 'invalid Upstash-Flow-Control-Key "bad key"'],
    ["a/b", "rate=1", "Upstash-Flow-Control-Key"],
    ["x".repeat(201), "rate=1", "Upstash-Flow-Control-Key"],
    ["k", undefined, "Upstash-Flow-Control-Value is required"],
    ["k", "", "Upstash-Flow-Control-Value is required"],
    ["k", ",", "should be either rate=X or parallelism=Y"],
    ["k", "period=1m", "should be either rate=X or parallelism=Y"],
    ["k", "burst=3", "should be either rate=X or parallelism=Y"],
    ["k", "rate=1, burst=3", "should be either rate=X or parallelism=Y"],
    ["k", "parallelism", "should be either rate=X or parallelism=Y"],
    ["k", "3", "should be either rate=X or parallelism=Y"],
    ["k", "rate:1", "should be either rate=X or parallelism=Y"],
    ["k", "rate=", "should be either rate=X or parallelism=Y"],
    ["k", "rate=0", "rate must be an integer from 1 to"],
    ["k", "parallelism=0", "parallelism must be an integer from 1 to"],
    ["k", "rate=-1", "rate must be an integer from 1 to"],
    ["k", "parallelism=-3", "parallelism must be an integer from 1 to"],
    ["k", "rate=1.5", "rate must be an integer from 1 to"],
    ["k", "rate=ten", "rate must be an integer from 1 to"],
    ["k", "parallelism=1000001", "parallelism must be an integer from 1 to 1000000"],
    ["k", "rate=1000001", "rate must be an integer from 1 to 1000000"],
    ["k", "ratePerSecond=1000001", "ratePerSecond must be an integer from 1 to 1000000"],
    ["k", `parallelism=1${"0".repeat(400)}`, "parallelism must be an integer from 1 to 1000000"], // Infinity as a Number
    ["k", `rate=${"9".repeat(30)}`, "rate must be an integer from 1 to 1000000"],
    ["k", "rate=10, period=0", "period must be whole seconds"],
    ["k", "rate=10, period=0s", "period must be whole seconds"],
    ["k", "rate=10, period=500ms", "period must be whole seconds"],
    ["k", "rate=10, period=1500ms", "period must be whole seconds"],
    ["k", "rate=10, period=7d1s", "period must be at most 1 week"],
    ["k", "rate=10, period=8d", "period must be at most 1 week"],
    ["k", "rate=10, period=169h", "period must be at most 1 week"],
    ["k", "rate=10, period=soon", "period"],
    ["k", "rate=10, period=-1s", "period"],
  ])("key %j value %j → 400", (key, value, message) => {
    const err = thrown(() => parseFlowControl(key, value));
    expect(err.status).toBe(400);
    expect(err.message).toContain(message);
  });
});
