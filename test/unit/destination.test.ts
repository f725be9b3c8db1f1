import { describe, it, expect } from "vitest";
import { parseDestination, urlHostname } from "../../src/protocol/destination.js";
import { HttpError } from "../../src/errors.js";

function thrown(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error("expected an HttpError");
}

describe("parseDestination: URLs", () => {
  it.each([
    ["plain https", "https://example.com/api", "", "https://example.com/api"],
    ["plain http with port", "http://localhost:3000/hook", "", "http://localhost:3000/hook"],
    ["bare host", "https://example.com", "", "https://example.com"],
    ["upper-case scheme kept", "HTTPS://Example.com/x", "", "HTTPS://Example.com/x"],
    ["raw %XX in the path is kept", "https://example.com/a%20b/c%2Fd", "", "https://example.com/a%20b/c%2Fd"],
    ["double slash inside the path is kept", "https://example.com/a//b", "", "https://example.com/a//b"],
    ["collapsed // repaired", "https:/example.com/api", "", "https://example.com/api"],
    ["collapsed // repaired (http)", "http:/example.com", "", "http://example.com"],
    ["destination query re-appended", "https://example.com/api", "a=1&b=2", "https://example.com/api?a=1&b=2"],
    ["raw form and order kept", "https://example.com/", "z=%2F+x&a=&flag&a=2", "https://example.com/?z=%2F+x&a=&flag&a=2"],
    ["config params removed", "https://example.com/", "a=1&upstash-delay=10s&b=2&qstash_token=t", "https://example.com/?a=1&b=2"],
    ["only config params", "https://example.com/", "upstash-retries=3&qstash_token=t", "https://example.com/"],
    ["empty pieces dropped", "https://example.com/", "&a=1&&", "https://example.com/?a=1"],
    ["Qstash_Token is not ours", "https://example.com/", "QSTASH_TOKEN=x", "https://example.com/?QSTASH_TOKEN=x"],
    ["encoded destination decoded", "https%3A%2F%2Fexample.com%2Fapi", "", "https://example.com/api"],
    ["encoded, lower-case escape", "http%3a%2f%2fexample.com", "", "http://example.com"],
    ["encoded with its own query", "https%3A%2F%2Fexample.com%2Fapi%3Fx%3D1", "y=2", "https://example.com/api?x=1&y=2"],
    ["encoded with a fragment", "https%3A%2F%2Fexample.com%2Fapi%23frag", "y=2", "https://example.com/api?y=2#frag"],
    ["IPv6 literal host", "http://[::1]:8080/x", "", "http://[::1]:8080/x"],
  ])("%s", (_label, remainder, query, url) => {
    expect(parseDestination(remainder, query).destination).toEqual({ kind: "url", url });
  });
});

describe("parseDestination: URL groups", () => {
  it.each([
    ["my-group", "", "my-group"],
    ["Group_1.v2", "", "Group_1.v2"],
    ["g", "upstash-delay=5s&other=1", "g"],
    ["http", "", "http"], // a name that merely looks like a scheme
    ["https.example.com", "", "https.example.com"],
  ])("%j (query %j) is group %j", (remainder, query, name) => {
    expect(parseDestination(remainder, query).destination).toEqual({ kind: "group", name });
  });
});

describe("parseDestination: config", () => {
  it.each([
    ["none", "", {}],
    ["non-config only", "a=1", {}],
    ["lower-cased keys, decoded values", "Upstash-Delay=10s&UPSTASH-RETRIES=3", { "upstash-delay": "10s", "upstash-retries": "3" }],
    ["percent and plus decoding", "upstash-callback=https%3A%2F%2Fcb.example%2Fx&upstash-label=a+b", { "upstash-callback": "https://cb.example/x", "upstash-label": "a b" }],
    ["encoded name", "upstash%2Dretries=2", { "upstash-retries": "2" }],
    ["no value", "upstash-content-based-deduplication", { "upstash-content-based-deduplication": "" }],
    ["forward headers", "upstash-forward-x-api-key=k", { "upstash-forward-x-api-key": "k" }],
    ["last duplicate wins", "upstash-delay=1s&upstash-delay=2s", { "upstash-delay": "2s" }],
    ["malformed escape kept raw", "upstash-label=%zz", { "upstash-label": "%zz" }],
    ["qstash_token is never config", "qstash_token=secret", {}],
    ["prefix must be whole", "upstashdelay=1&x-upstash-delay=1", {}],
  ])("%s", (_label, query, config) => {
    expect(parseDestination("https://example.com/", query).config).toEqual(config);
    expect(parseDestination("my-group", query).config).toEqual(config);
  });
});

describe("parseDestination: errors", () => {
  it.each([
    ["", "", "destination is required"],
    ["", "a=1", "destination is required"],
    ["api/llm", "", 'invalid destination "api/llm": must be an http(s) URL or a URL group name'],
    ["ftp://example.com/file", "", 'invalid destination "ftp://example.com/file": must be an http(s) URL or a URL group name'],
    ["example.com/path", "", "must be an http(s) URL or a URL group name"],
    ["my group", "", "must be an http(s) URL or a URL group name"],
    ["https:example.com", "", "must be an http(s) URL or a URL group name"],
    ["https://", "", 'invalid destination "https://": not a valid URL'],
    ["https:///", "", 'invalid destination "https:///": not a valid URL'],
    ["http:///x", "", 'invalid destination "http:///x": the host is missing'],
    ["https:////x/y", "", 'invalid destination "https:////x/y": the host is missing'],
    ["http%3A%2F%2F%2Fx", "", 'invalid destination "http:///x": the host is missing'],
    ["https://exa mple.com/", "", "not a valid URL"],
    ["http://[::1/x", "", "not a valid URL"],
    ["https%3A%2F%2F%E0%A4%A", "", 'invalid destination "https%3A%2F%2F%E0%A4%A": malformed percent-encoding'],
    ["https%3A%2F%2F", "", 'invalid destination "https://": not a valid URL'],
    ["https%3Aexample.com", "", 'invalid destination "https%3Aexample.com": must be an http(s) URL or a URL group name'],
  ])("%j (query %j) → %s", (remainder, query, message) => {
    const err = thrown(() => parseDestination(remainder, query));
    expect(err.status).toBe(400);
    expect(err.message).toContain(message);
  });
});

describe("urlHostname", () => {
  it.each([
    ["https://example.com/x", "example.com"],
    ["http://user:pw@Example.COM:8080/x?y", "example.com"],
    ["http://[::1]:80/", "[::1]"],
    ["http://127.1/", "127.0.0.1"],
  ])("%s → %s", (url, host) => {
    expect(urlHostname(url, "destination")).toBe(host);
  });

  it.each([
    ["http:///x", 'invalid Upstash-Callback "http:///x": the host is missing'],
    ["http:\\\\\\x", 'invalid Upstash-Callback "http:\\\\\\x": the host is missing'],
    ["not a url", 'invalid Upstash-Callback "not a url": not a valid URL'],
  ])("%j → 400", (url, message) => {
    const err = thrown(() => urlHostname(url, "Upstash-Callback"));
    expect(err.status).toBe(400);
    expect(err.message).toBe(message);
  });
});
