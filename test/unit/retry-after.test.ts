import { describe, it, expect } from "vitest";
import { retryAfterFromHeaders } from "../../src/protocol/retry-after.js";

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0); // Mon, 15 Jan 2024 12:00:00 GMT

describe("retryAfterFromHeaders: value forms", () => {
  it.each([
    ["integer seconds", "120", 120_000],
    ["zero means now", "0", 0],
    ["decimal seconds", "1.5", 1_500],
    ["decimal rounding", "1.1", 1_100],
    ["whitespace", "  30 ", 30_000],
    ["exactly one day", "86400", 86_400_000],
    ["a year-like number is still seconds", "2024", 2_024_000],
    ["Go minutes+seconds", "6m5s", 365_000],
    ["Go fractional seconds", "1.5s", 1_500],
    ["Go leading dot", ".5s", 500],
    ["Go trailing dot", "2.s", 2_000],
    ["Go milliseconds", "300ms", 300],
    ["Go hours", "2h45m", 9_900_000],
    ["Go microseconds", "1500us", 2],
    ["Go micro sign", "2000\u00b5s", 2],
    ["Go Greek mu", "2000\u03bcs", 2],
    ["Go nanoseconds", "4000000ns", 4],
    ["Go zero", "0s", 0],
    ["Go mixed", "1h1m1s1ms", 3_661_001],
    ["HTTP date in the future", "Mon, 15 Jan 2024 12:01:30 GMT", 90_000],
    ["HTTP date without weekday", "15 Jan 2024 12:00:10 GMT", 10_000],
    ["HTTP date, lower case, UTC", "mon, 15 jan 2024 12:00:01 utc", 1_000],
    ["HTTP date in the past → now", "Sun, 14 Jan 2024 12:00:00 GMT", 0],
    ["HTTP date now", "Mon, 15 Jan 2024 12:00:00 GMT", 0],
    ["HTTP date exactly one day ahead", "Tue, 16 Jan 2024 12:00:00 GMT", 86_400_000],
  ])("%s: %j → %d ms", (_label, value, expected) => {
    expect(retryAfterFromHeaders({ "retry-after": value }, NOW)).toBe(expected);
  });

  it.each([
    ["more than a day in seconds", "86401"],
    ["more than a day as Go duration", "25h"],
    ["more than a day as a date", "Wed, 17 Jan 2024 12:00:00 GMT"],
    ["epoch timestamp read as seconds", "1705320000"],
    ["absurd Go duration", "9".repeat(400) + "h"],
  ])("ignores a delay over one day: %s", (_label, value) => {
    expect(retryAfterFromHeaders({ "retry-after": value }, NOW)).toBeUndefined();
  });

  it.each([
    ["empty", ""],
    ["negative", "-5"],
    ["negative Go duration", "-5s"],
    ["signed", "+5"],
    ["text", "soon"],
    ["unknown Go unit", "5d"],
    ["Go unit without number", "ms"],
    ["number then junk", "5s junk"],
    ["exponent", "1e3"],
    ["bare dot", ".s"],
    ["ISO date", "2024-01-15T12:01:00Z"],
    ["HTTP date with bad month", "Mon, 15 Foo 2024 12:00:00 GMT"],
    ["HTTP date with bad time", "Mon, 15 Jan 2024 25:00:00 GMT"],
    ["HTTP date that does not exist", "Thu, 31 Feb 2024 12:00:00 GMT"],
    ["HTTP date in local time", "Mon, 15 Jan 2024 12:00:00 +0100"],
  ])("does not parse %s (%j)", (_label, value) => {
    expect(retryAfterFromHeaders({ "retry-after": value }, NOW)).toBeUndefined();
  });
});

describe("retryAfterFromHeaders: header selection", () => {
  it.each([
    ["no headers", {}, undefined],
    ["unrelated headers", { "content-type": "text/plain" }, undefined],
    ["undefined value", { "retry-after": undefined }, undefined],
    ["x-ratelimit-reset", { "x-ratelimit-reset": "5" }, 5_000],
    ["x-ratelimit-reset-requests", { "x-ratelimit-reset-requests": "1s" }, 1_000],
    ["x-ratelimit-reset-tokens", { "x-ratelimit-reset-tokens": "6m0s" }, 360_000],
    ["retry-after wins", { "retry-after": "1", "x-ratelimit-reset": "2" }, 1_000],
    ["reset beats reset-requests", { "x-ratelimit-reset-requests": "3", "x-ratelimit-reset": "2" }, 2_000],
    ["reset-requests beats reset-tokens", { "x-ratelimit-reset-tokens": "4", "x-ratelimit-reset-requests": "3" }, 3_000],
    ["unparsable header is skipped", { "retry-after": "soon", "x-ratelimit-reset-tokens": "4" }, 4_000],
    ["first parsing header over a day wins", { "retry-after": "2d", "x-ratelimit-reset": "200000", "x-ratelimit-reset-tokens": "4" }, undefined],
    ["first parsing header over a day ignores the rest", { "retry-after": "100000", "x-ratelimit-reset": "4" }, undefined],
    ["array takes the first value", { "retry-after": ["7", "8"] }, 7_000],
    ["empty array", { "retry-after": [], "x-ratelimit-reset": "9" }, 9_000],
    ["upper-case keys are not looked up", { "Retry-After": "5" }, undefined],
  ])("%s", (_label, headers: Record<string, string | string[] | undefined>, expected) => {
    expect(retryAfterFromHeaders(headers, NOW)).toBe(expected);
  });
});
