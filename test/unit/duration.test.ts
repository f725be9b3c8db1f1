import { describe, it, expect } from "vitest";
import { formatDurationSeconds, parseDuration } from "../../src/protocol/duration.js";
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

describe("parseDuration", () => {
  it.each([
    ["50s", 50_000],
    ["5m", 300_000],
    ["2h", 7_200_000],
    ["7d", 604_800_000],
    ["500ms", 500],
    ["1d10h30m", 124_200_000],
    ["1h30m15s250ms", 5_415_250],
    ["1m1ms", 60_001],
    ["30", 30_000], // bare integer = seconds (workflow context.call)
    ["0", 0],
    ["0s", 0],
    ["  10s\t", 10_000],
    ["007s", 7_000],
    ["90s", 90_000],
    ["9007199254740991ms", Number.MAX_SAFE_INTEGER],
  ])("%j → %d ms", (input, expected) => {
    expect(parseDuration(input, "Upstash-Delay")).toBe(expected);
  });

  it.each([
    ["", "expected a duration"],
    ["   ", "expected a duration"],
    ["abc", "expected a duration"],
    ["-5s", "expected a duration"],
    ["-5", "expected a duration"],
    ["+5s", "expected a duration"],
    ["1.5s", "expected a duration"],
    ["1.5", "expected a duration"],
    ["10x", "expected a duration"],
    ["10S", "expected a duration"],
    ["10 s", "expected a duration"],
    ["1h 30m", "expected a duration"],
    ["s", "expected a duration"],
    ["10s5", "expected a duration"],
    ["1w", "expected a duration"],
    ["9007199254740992ms", "too large"],
    ["104249991375d", "too large"],
    ["9007199254740991ms1ms", "too large"],
    ["99999999999999999999", "too large"],
  ])("rejects %j (%s)", (input, reason) => {
    const err = thrown(() => parseDuration(input, "Upstash-Delay"));
    expect(err.status).toBe(400);
    expect(err.message).toContain(`invalid Upstash-Delay "${input}"`);
    expect(err.message).toContain(reason);
  });

  it("names the header given as `what` and shows an example", () => {
    expect(() => parseDuration("abc", "Upstash-Timeout")).toThrow(
      'invalid Upstash-Timeout "abc": expected a duration like 10s, 5m, 1h30m',
    );
  });
});

describe("formatDurationSeconds", () => {
  it.each([
    [0, "0s"],
    [90_000, "90s"],
    [1_000, "1s"],
    [1, "1s"], // never shorter than asked
    [1_500, "2s"],
    [86_400_000, "86400s"],
  ])("%d ms → %s", (ms, expected) => {
    expect(formatDurationSeconds(ms)).toBe(expected);
  });

  it("round-trips through parseDuration for whole seconds", () => {
    expect(parseDuration(formatDurationSeconds(3_600_000), "x")).toBe(3_600_000);
  });

  it.each([[-1], [Number.NaN], [Infinity]])("refuses %d", (ms) => {
    expect(() => formatDurationSeconds(ms)).toThrow(RangeError);
  });
});
