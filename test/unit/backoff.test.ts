import { describe, it, expect } from "vitest";
import { defaultBackoffMs } from "../../src/protocol/backoff.js";

describe("defaultBackoffMs", () => {
  it.each([
    [1, 12_182], // 12 s
    [2, 148_413], // 2 m 28 s
    [3, 1_808_042], // 30 m 8 s
    [4, 22_026_466], // 6 h 7 m
    [5, 86_400_000], // capped at 24 h
    [100, 86_400_000],
    [Infinity, 86_400_000],
    [0, 12_182], // below 1 is treated as the first retry
    [-3, 12_182],
    [Number.NaN, 12_182],
  ])("retry %d → %d ms", (n, expected) => {
    expect(defaultBackoffMs(n)).toBe(expected);
  });

  it("returns whole milliseconds", () => {
    for (let n = 1; n <= 6; n++) expect(Number.isInteger(defaultBackoffMs(n))).toBe(true);
  });
});
