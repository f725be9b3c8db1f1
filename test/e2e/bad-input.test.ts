import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../src/config.js";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

/**
 * Bad input: every case is a 4xx with a JSON `{error}` naming the problem, nothing is stored and nothing is
 * delivered, and the server keeps serving afterwards. The server runs with a 1 KiB body limit.
 */

let sluice: TestSluice;
let dest: TestReceiver;
const MAX_BODY = 1024;

beforeAll(async () => {
  quietSdkErrors();
  [sluice, dest] = await Promise.all([startSluice({ limits: { maxBodyBytes: MAX_BODY } as Config["limits"] }), TestReceiver.start()]);
});
afterAll(async () => {
  await sluice?.close();
  await dest?.close();
});

interface Case {
  name: string;
  method?: string;
  /** Path after the server URL; defaults to a publish to a receiver URL unique to the case. */
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  status: number;
  /** What the error text must mention. */
  error: RegExp;
}

let n = 0;
const publishTo = (): string => `/v2/publish/http://127.0.0.1:PORT/bad/${n++}`;

const PUBLISH_CASES: Case[] = [
  { name: "Upstash-Delay not a duration", headers: { "Upstash-Delay": "soon" }, status: 400, error: /Upstash-Delay/ },
  { name: "Upstash-Delay negative", headers: { "Upstash-Delay": "-5s" }, status: 400, error: /Upstash-Delay/ },
  { name: "Upstash-Delay unknown unit", headers: { "Upstash-Delay": "10y" }, status: 400, error: /Upstash-Delay/ },
  { name: "Upstash-Delay above the limit", headers: { "Upstash-Delay": "400d" }, status: 412, error: /Upstash-Delay.*maxDelay/ },
  { name: "Upstash-Retries negative", headers: { "Upstash-Retries": "-1" }, status: 400, error: /Upstash-Retries/ },
  { name: "Upstash-Retries not an integer", headers: { "Upstash-Retries": "1.5" }, status: 400, error: /Upstash-Retries/ },
  { name: "Upstash-Retries a word", headers: { "Upstash-Retries": "three" }, status: 400, error: /Upstash-Retries/ },
  { name: "Upstash-Retries above the limit", headers: { "Upstash-Retries": "101" }, status: 412, error: /Upstash-Retries.*maxRetries/ },
  { name: "Upstash-Retry-Delay unbalanced", headers: { "Upstash-Retry-Delay": "pow(2, retried" }, status: 400, error: /Upstash-Retry-Delay/ },
  { name: "Upstash-Retry-Delay unknown variable", headers: { "Upstash-Retry-Delay": "retries * 1000" }, status: 400, error: /Upstash-Retry-Delay/ },
  { name: "Upstash-Retry-Delay unknown function", headers: { "Upstash-Retry-Delay": "log(retried)" }, status: 400, error: /Upstash-Retry-Delay/ },
  { name: "Upstash-Retry-Delay process.exit", headers: { "Upstash-Retry-Delay": "process.exit(1)" }, status: 400, error: /Upstash-Retry-Delay/ },
  { name: "Upstash-Retry-Delay require", headers: { "Upstash-Retry-Delay": "require('fs').rmSync('/tmp/x')" }, status: 400, error: /Upstash-Retry-Delay/ },
  {
    name: "Upstash-Retry-Delay assignment to a global",
    headers: { "Upstash-Retry-Delay": "(globalThis.__sluicePwned = 1)" },
    status: 400,
    error: /Upstash-Retry-Delay/,
  },
  {
    name: "Upstash-Retry-Delay constructor escape",
    headers: { "Upstash-Retry-Delay": "this.constructor.constructor('globalThis.__sluicePwned=1')()" },
    status: 400,
    error: /Upstash-Retry-Delay/,
  },
  { name: "Upstash-Retry-Delay template", headers: { "Upstash-Retry-Delay": "`${globalThis.__sluicePwned = 1}`" }, status: 400, error: /Upstash-Retry-Delay/ },
  { name: "Upstash-Timeout not a duration", headers: { "Upstash-Timeout": "forever" }, status: 400, error: /Upstash-Timeout/ },
  { name: "Upstash-Timeout zero", headers: { "Upstash-Timeout": "0s" }, status: 400, error: /Upstash-Timeout/ },
  { name: "Upstash-Timeout above the limit", headers: { "Upstash-Timeout": "1000m" }, status: 412, error: /Upstash-Timeout.*maxTimeout/ },
  { name: "Upstash-Method FOO", headers: { "Upstash-Method": "FOO" }, status: 400, error: /Upstash-Method/ },
  { name: "Upstash-Callback not a URL", headers: { "Upstash-Callback": "not a url" }, status: 400, error: /Upstash-Callback/ },
  { name: "Upstash-Callback not http", headers: { "Upstash-Callback": "ftp://127.0.0.1/cb" }, status: 400, error: /Upstash-Callback/ },
  { name: "Upstash-Failure-Callback not a URL", headers: { "Upstash-Failure-Callback": "::" }, status: 400, error: /Upstash-Failure-Callback/ },
  { name: "Upstash-Label with a space", headers: { "Upstash-Label": "bad label" }, status: 400, error: /Upstash-Label/ },
  { name: "Upstash-Label with a slash", headers: { "Upstash-Label": "ok,a/b" }, status: 400, error: /Upstash-Label/ },
  { name: "Upstash-Not-Before a date", headers: { "Upstash-Not-Before": "tomorrow" }, status: 400, error: /Upstash-Not-Before/ },
  { name: "Upstash-Not-Before negative", headers: { "Upstash-Not-Before": "-1" }, status: 400, error: /Upstash-Not-Before/ },
  { name: "Upstash-Not-Before fractional", headers: { "Upstash-Not-Before": "1700000000.5" }, status: 400, error: /Upstash-Not-Before/ },
  {
    name: "flow-control value with an unknown key",
    headers: { "Upstash-Flow-Control-Key": "fk", "Upstash-Flow-Control-Value": "speed=fast" },
    status: 400,
    error: /Upstash-Flow-Control-Value/,
  },
  {
    name: "flow-control parallelism zero",
    headers: { "Upstash-Flow-Control-Key": "fk", "Upstash-Flow-Control-Value": "parallelism=0" },
    status: 400,
    error: /Upstash-Flow-Control-Value/,
  },
  {
    name: "flow-control period only",
    headers: { "Upstash-Flow-Control-Key": "fk", "Upstash-Flow-Control-Value": "period=1m" },
    status: 400,
    error: /Upstash-Flow-Control-Value/,
  },
  { name: "flow-control key without value", headers: { "Upstash-Flow-Control-Key": "fk" }, status: 400, error: /Upstash-Flow-Control-Value/ },
  { name: "flow-control value without key", headers: { "Upstash-Flow-Control-Value": "parallelism=1" }, status: 400, error: /Upstash-Flow-Control-Key/ },
  {
    name: "flow-control key with bad characters",
    headers: { "Upstash-Flow-Control-Key": "a b", "Upstash-Flow-Control-Value": "rate=1" },
    status: 400,
    error: /Upstash-Flow-Control-Key/,
  },
  { name: "Upstash-Redact-Fields unknown part", headers: { "Upstash-Redact-Fields": "everything" }, status: 400, error: /Upstash-Redact-Fields/ },
  { name: "body over maxBodyBytes", body: Buffer.alloc(MAX_BODY + 1, 97), status: 413, error: /maxBodyBytes/ },
  { name: "bad config in lower-case query params", path: "QUERY?upstash-retries=abc", status: 400, error: /Upstash-Retries/ },
];

const DESTINATION_CASES: Case[] = [
  { name: "destination with spaces (encoded)", path: `/v2/publish/${encodeURIComponent("not a url")}`, status: 400, error: /destination/ },
  { name: "destination ftp://", path: "/v2/publish/ftp://x", status: 400, error: /destination/ },
  { name: "destination http:// without a host", path: "/v2/publish/http://", status: 400, error: /destination/ },
  { name: "destination with a bad percent-encoding", path: "/v2/publish/https%3A%2F%2Fexample.com%ZZ", status: 400, error: /percent-encoding/ },
  { name: "raw destination with a malformed escape", path: "/v2/publish/http://127.0.0.1:PORT/bad/esc%ZZ", status: 400, error: /percent-encoding/ },
  { name: "destination is an unknown URL group", path: "/v2/publish/no-such-group", status: 404, error: /no-such-group/ },
];

const QUERY_CASES: Case[] = [
  { name: "logs cursor not a number", method: "GET", path: "/v2/logs?cursor=abc", status: 400, error: /cursor/ },
  { name: "events cursor negative", method: "GET", path: "/v2/events?cursor=-1", status: 400, error: /cursor/ },
  { name: "dlq cursor not a number", method: "GET", path: "/v2/dlq?cursor=xyz", status: 400, error: /cursor/ },
  { name: "logs count not a number", method: "GET", path: "/v2/logs?count=many", status: 400, error: /count/ },
  { name: "logs count zero", method: "GET", path: "/v2/logs?count=0", status: 400, error: /count/ },
  { name: "dlq count negative", method: "GET", path: "/v2/dlq?count=-3", status: 400, error: /count/ },
  { name: "logs unknown state", method: "GET", path: "/v2/logs?state=EXPLODED", status: 400, error: /state/ },
  { name: "logs fromDate not ms", method: "GET", path: "/v2/logs?fromDate=yesterday", status: 400, error: /fromDate/ },
  { name: "dlq responseStatus not a code", method: "GET", path: "/v2/dlq?responseStatus=bad", status: 400, error: /responseStatus/ },
  { name: "logs order unknown", method: "GET", path: "/v2/logs?order=sideways", status: 400, error: /order/ },
  { name: "bulk cancel bad fromDate", method: "DELETE", path: "/v2/messages?fromDate=x", status: 400, error: /fromDate/ },
  { name: "malformed escape in a management path", method: "GET", path: "/v2/messages/%E0%A4%A", status: 400, error: /percent-encoding/ },
  { name: "bulk cancel with an empty label filter", method: "DELETE", path: "/v2/messages?label=", status: 400, error: /label/ },
  { name: "bulk cancel with empty messageIds", method: "DELETE", path: "/v2/messages?messageIds=,", status: 400, error: /messageIds/ },
  { name: "dlq delete with empty dlqIds", method: "DELETE", path: "/v2/dlq?dlqIds=", status: 400, error: /dlqIds/ },
  { name: "dlq retry with an empty url filter", method: "POST", path: "/v2/dlq/retry?url=", status: 400, error: /url/ },
  { name: "unknown route", method: "GET", path: "/v2/does-not-exist", status: 404, error: /does-not-exist/ },
  { name: "unknown route under a known prefix", method: "POST", path: "/v2/messages/abc/explode", status: 404, error: /not found/ },
  { name: "unknown method on a known path", method: "PUT", path: "/v2/keys", status: 404, error: /not found/ },
];

async function run(c: Case): Promise<void> {
  let path = c.path ?? publishTo();
  if (path.startsWith("QUERY")) path = publishTo() + path.slice("QUERY".length);
  path = path.replace("PORT", String(dest.port));
  const res = await sluice.api(c.method ?? "POST", path, { body: c.body ?? (c.method === "GET" || c.method === "DELETE" ? undefined : "x"), headers: c.headers });
  expect(res.status, c.name).toBe(c.status);
  expect(res.headers.get("content-type"), c.name).toMatch(/application\/json/);
  const body = (await res.json()) as { error?: unknown };
  expect(Object.keys(body), c.name).toEqual(["error"]);
  expect(typeof body.error, c.name).toBe("string");
  expect(body.error as string, c.name).toMatch(c.error);
}

describe("bad input", () => {
  it.each(PUBLISH_CASES.map((c) => [c.name, c] as const))("publish: %s", async (_name, c) => {
    await run(c);
  });

  it.each(DESTINATION_CASES.map((c) => [c.name, c] as const))("publish: %s", async (_name, c) => {
    await run(c);
  });

  it.each(QUERY_CASES.map((c) => [c.name, c] as const))("query: %s", async (_name, c) => {
    await run(c);
  });

  it("an expression in Upstash-Retry-Delay is never run as code", () => {
    expect((globalThis as { __sluicePwned?: unknown }).__sluicePwned).toBeUndefined();
  });

  it("a body over the limit also fails a batch item on its own, and the batch body limit is separate", async () => {
    const res = await sluice.api("POST", "/v2/batch", {
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify([
        { destination: dest.url("/bad/batch-big"), body: "y".repeat(MAX_BODY + 1) },
        { destination: dest.url("/ok/batch-small"), body: "small" },
      ]),
    });
    expect(res.status).toBe(200);
    const replies = (await res.json()) as { error?: string; messageId?: string }[];
    expect(replies[0].error).toMatch(/maxBodyBytes/);
    expect(replies[1].messageId).toMatch(/^msg_/);
    await eventually(() => dest.at("/ok/batch-small").length === 1);
  });

  it("nothing from the bad requests was stored or delivered", async () => {
    const { logs } = await sluice.client().logs({ count: 1000 });
    const urls = new Set(logs.map((l) => new URL(l.url).pathname));
    expect([...urls]).toEqual(["/ok/batch-small"]);
    expect(dest.requests.filter((r) => r.path.startsWith("/bad"))).toEqual([]);
    const dlq = await sluice.client().dlq.listMessages();
    expect(dlq.messages).toEqual([]);
  });

  it("the server still serves a normal publish afterwards", async () => {
    const { messageId } = await sluice.client().publish({ url: dest.url("/ok/after"), body: "still alive", retries: 0 });
    await eventually(() => dest.at("/ok/after").length === 1);
    expect(dest.at("/ok/after")[0].body.toString()).toBe("still alive");
    expect(dest.at("/ok/after")[0].headers["upstash-message-id"]).toBe(messageId);
  });
});
