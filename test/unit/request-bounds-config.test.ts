import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";

const load = (env: Record<string, string>) => loadConfig("dev", { memory: true }, env).requestBounds;

describe("request bounds settings", () => {
  it("defaults: 256 MiB body budget, 10 s headers, 60 s request, 72 s keep-alive", () => {
    expect(load({})).toEqual({ maxInflightBodyBytes: 256 * 1024 * 1024, headersTimeoutMs: 10_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 72_000 });
  });

  it("the default budget grows to 8 bodies when maxBodyBytes is large", () => {
    expect(load({ SLUICE_MAX_BODY_BYTES: String(100 * 1024 * 1024) }).maxInflightBodyBytes).toBe(800 * 1024 * 1024);
  });

  it("reads each setting from the environment", () => {
    expect(
      load({ SLUICE_MAX_INFLIGHT_BODY_BYTES: "20971520", SLUICE_HEADERS_TIMEOUT: "5s", SLUICE_REQUEST_TIMEOUT: "2m", SLUICE_KEEP_ALIVE_TIMEOUT: "30s" }),
    ).toEqual({ maxInflightBodyBytes: 20 * 1024 * 1024, headersTimeoutMs: 5_000, requestTimeoutMs: 120_000, keepAliveTimeoutMs: 30_000 });
  });

  it.each<[Record<string, string>, RegExp]>([
    [{ SLUICE_MAX_INFLIGHT_BODY_BYTES: "lots" }, /maxInflightBodyBytes must be an integer/],
    [{ SLUICE_MAX_INFLIGHT_BODY_BYTES: "1000" }, /maxInflightBodyBytes \(1000\) must be at least maxBodyBytes \(10485760\)/],
    [{ SLUICE_HEADERS_TIMEOUT: "soon" }, /headersTimeout/],
    [{ SLUICE_HEADERS_TIMEOUT: "0s" }, /headersTimeout must be a positive duration/],
    [{ SLUICE_REQUEST_TIMEOUT: "0" }, /requestTimeout must be a positive duration/],
    [{ SLUICE_KEEP_ALIVE_TIMEOUT: "0ms" }, /keepAliveTimeout must be a positive duration/],
    [{ SLUICE_HEADERS_TIMEOUT: "2m", SLUICE_REQUEST_TIMEOUT: "1m" }, /headersTimeout \(120000ms\) must not be longer than requestTimeout \(60000ms\)/],
  ])("refuses %j, naming the setting", (env, message) => {
    expect(() => load(env)).toThrow(message);
  });
});
