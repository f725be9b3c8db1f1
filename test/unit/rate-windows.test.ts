import { describe, expect, it } from "vitest";
import { mostStartsInOneWindow } from "../helpers/rate-windows.js";

/** The cluster audit's rate check (test/helpers/rate-windows.ts) must pass a limiter that held and fail one that did not. */

const limit = { rate: 5, periodMs: 1000, openedAfterMs: 0, lagMs: 0 };
/** `n` starts `gap` ms apart from `from`. */
const burst = (from: number, n: number, gap = 10) => Array.from({ length: n }, (_, i) => from + i * gap);

describe("mostStartsInOneWindow", () => {
  it("passes fixed windows that each hold the rate, whatever the phase the first window opened at", () => {
    const starts = [...burst(100, 5), ...burst(1100, 5), ...burst(2100, 5)];
    expect(mostStartsInOneWindow(starts, { ...limit, openedAfterMs: 50 })).toBe(5);
  });

  it("fails one window over the rate", () => {
    const starts = [...burst(100, 5), ...burst(1100, 6), ...burst(2100, 5)];
    expect(mostStartsInOneWindow(starts, { ...limit, openedAfterMs: 50 })).toBe(6);
  });

  it("does not split a burst over the rate across two windows when the first window's opening is known", () => {
    // Ten starts in 90 ms at once: the limiter opened its window just before them, so they are all in one.
    expect(mostStartsInOneWindow(burst(100, 10), { ...limit, openedAfterMs: 95 })).toBe(10);
  });

  it("lets a start seen within the lag of a window's opening count in the window before, while that one has room", () => {
    const starts = [...burst(0, 3), ...burst(1000, 7, 5)];
    expect(mostStartsInOneWindow(starts, { ...limit, openedAfterMs: 0 })).toBe(7);
    expect(mostStartsInOneWindow(starts, { ...limit, openedAfterMs: 0, lagMs: 50 })).toBe(5);
  });

  it("aligns a run after a gap longer than a period on its own (a limiter rebuilt at another phase), and fails it at twice the rate", () => {
    const first = [...burst(0, 5), ...burst(1000, 5)];
    expect(mostStartsInOneWindow([...first, ...burst(3500, 5), ...burst(4500, 5)], { ...limit, openedAfterMs: 0 })).toBe(5);
    const doubled = [...burst(3500, 10), ...burst(4500, 10), ...burst(5500, 10)];
    expect(mostStartsInOneWindow([...first, ...doubled], { ...limit, openedAfterMs: 0 })).toBeGreaterThan(5);
  });
});
