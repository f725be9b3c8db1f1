import { describe, expect, it } from "vitest";
import { FlowLimiter } from "../../src/engine/flow-limiter.js";

const T0 = 1_700_000_000_000;
const spec = (parallelism?: number, rate?: number, periodSec?: number) => ({ key: "k", parallelism, rate, periodSec });

/** Starts as many attempts as the limiter allows at `now`, up to `max`. */
function startAll(l: FlowLimiter, now: number, max = 100): number {
  let n = 0;
  while (n < max && l.waitMs(now) === 0) {
    l.onStart(now);
    n++;
  }
  return n;
}

describe("FlowLimiter", () => {
  it.each([
    { name: "parallelism only", s: spec(3), starts: 3 },
    { name: "rate only", s: spec(undefined, 5), starts: 5 },
    { name: "both, parallelism tighter", s: spec(2, 5), starts: 2 },
    { name: "both, rate tighter", s: spec(10, 4), starts: 4 },
  ])("$name: starts at most the tighter limit at once", ({ s, starts }) => {
    const l = new FlowLimiter("k", T0);
    l.add(s);
    expect(startAll(l, T0)).toBe(starts);
  });

  it("frees a parallelism slot when an attempt finishes", () => {
    const l = new FlowLimiter("k", T0);
    l.add(spec(2));
    expect(startAll(l, T0)).toBe(2);
    expect(l.waitMs(T0)).toBe(Infinity);
    l.onFinish();
    expect(l.waitMs(T0)).toBe(0);
  });

  it("opens the next rate window exactly one period after the last reset, and says how long to wait", () => {
    const l = new FlowLimiter("k", T0);
    l.add(spec(undefined, 3, 10));
    expect(startAll(l, T0 + 100)).toBe(3);
    expect(l.waitMs(T0 + 100)).toBe(9_900);
    expect(l.waitMs(T0 + 9_999)).toBe(1);
    expect(startAll(l, T0 + 10_000)).toBe(3);
    // A window that passed with nothing started does not bank extra starts.
    expect(startAll(l, T0 + 35_000)).toBe(3);
  });

  it("never allows more than `rate` starts in one window even with finishes in between", () => {
    const l = new FlowLimiter("k", T0);
    l.add(spec(1, 2, 1));
    let started = 0;
    for (let t = T0; t < T0 + 1000; t += 10) {
      if (l.waitMs(t) === 0) {
        l.onStart(t);
        started++;
        l.onFinish();
      }
    }
    expect(started).toBe(2);
  });

  it("uses the most permissive value among waiting messages, then the newest once they drain", () => {
    const l = new FlowLimiter("k", T0);
    l.add(spec(2, 10, 1));
    l.add(spec(5, 1, 1));
    expect(l.parallelismMax()).toBe(5);
    expect(l.rateLimit()).toEqual({ rate: 10, periodSec: 1 });
    l.remove(spec(2, 10, 1));
    expect(l.parallelismMax()).toBe(5);
    expect(l.rateLimit()).toEqual({ rate: 1, periodSec: 1 });
    l.remove(spec(5, 1, 1));
    expect(l.parallelismMax()).toBe(5); // the newest message's value, after draining
    l.add(spec(undefined, 1));
    expect(l.parallelismMax()).toBe(Infinity); // a message without parallelism sets no limit in it
  });

  it("compares rate/period pairs by starts per second", () => {
    const l = new FlowLimiter("k", T0);
    l.add(spec(undefined, 10, 60));
    l.add(spec(undefined, 1, 1));
    expect(l.rateLimit()).toEqual({ rate: 1, periodSec: 1 });
  });

  it("pause stops starts, keeps the window's count, and resume restores them", () => {
    const l = new FlowLimiter("k", T0);
    l.add(spec(undefined, 5, 10));
    expect(startAll(l, T0, 2)).toBe(2);
    l.paused = true;
    expect(l.waitMs(T0)).toBe(Infinity);
    expect(l.info(T0 + 1000, 0).rateCount).toBe(2);
    l.paused = false;
    expect(startAll(l, T0 + 1000)).toBe(3);
  });

  it("pin fixes dimensions, ignores message values and resets the rate window", () => {
    const l = new FlowLimiter("k", T0);
    l.add(spec(10, 10, 1));
    startAll(l, T0, 4);
    l.pin({ parallelism: 3, rate: 20, periodSec: 120 }, T0 + 500);
    const info = l.info(T0 + 500, 7);
    expect(info).toMatchObject({ parallelismMax: 3, rateMax: 20, ratePeriod: 120, rateCount: 0, isPinnedParallelism: true, isPinnedRate: true, waitListSize: 7 });
    expect(info.ratePeriodStart).toBe(Math.floor((T0 + 500) / 1000));
    l.add(spec(50, 50, 1));
    expect(l.parallelismMax()).toBe(3);
    expect(l.rateLimit()).toEqual({ rate: 20, periodSec: 120 });
  });

  it("unpin releases one dimension; its pinned value holds until a message with a different value arrives", () => {
    const l = new FlowLimiter("k", T0);
    l.add(spec(10));
    l.pin({ parallelism: 3, rate: 20 }, T0);
    l.unpin({ parallelism: true, rate: false });
    expect(l.info(T0, 0)).toMatchObject({ isPinnedParallelism: false, isPinnedRate: true, parallelismMax: 3 });
    l.add(spec(3));
    expect(l.parallelismMax()).toBe(3);
    l.add(spec(7));
    expect(l.parallelismMax()).toBe(10); // follows the messages again: the most permissive waiting value
  });

  it("unpin with neither flag changes nothing", () => {
    const l = new FlowLimiter("k", T0);
    l.pin({ parallelism: 2 }, T0);
    l.unpin({ parallelism: false, rate: false });
    expect(l.info(T0, 0).isPinnedParallelism).toBe(true);
  });

  it("resetRate zeroes the count and starts a window now", () => {
    const l = new FlowLimiter("k", T0);
    l.add(spec(undefined, 2, 60));
    startAll(l, T0);
    expect(l.waitMs(T0 + 1000)).toBeGreaterThan(0);
    l.resetRate(T0 + 1000);
    expect(l.info(T0 + 1000, 0)).toMatchObject({ rateCount: 0, ratePeriodStart: Math.floor((T0 + 1000) / 1000) });
    expect(startAll(l, T0 + 1000)).toBe(2);
  });

  it("is idle only when nothing waits, runs, was set by hand, and the rate window has closed", () => {
    const l = new FlowLimiter("k", T0);
    l.add(spec(undefined, 1, 10));
    l.onStart(T0);
    l.onFinish();
    l.remove(spec(undefined, 1, 10));
    expect(l.isIdle(T0 + 1000)).toBe(false);
    expect(l.isIdle(T0 + 10_000)).toBe(true);
    l.paused = true;
    expect(l.isIdle(T0 + 20_000)).toBe(false);
  });

  it("settings round-trip through restoreSettings", () => {
    const a = new FlowLimiter("k", T0);
    a.pin({ parallelism: 4, rate: 9, periodSec: 30 }, T0);
    a.paused = true;
    const b = new FlowLimiter("k", T0);
    b.restoreSettings(JSON.parse(JSON.stringify(a.settings())));
    expect(b.info(T0, 0)).toEqual(a.info(T0, 0));
  });
});

describe("FlowLimiter persistence edge cases", () => {
  it("pinning only a period on a key without a rate pins nothing that could block it", () => {
    const l = new FlowLimiter("k", T0);
    l.add(spec(2));
    l.pin({ periodSec: 60 }, T0);
    const b = new FlowLimiter("k", T0);
    b.add(spec(2));
    b.restoreSettings(JSON.parse(JSON.stringify(l.settings())));
    expect(startAll(b, T0)).toBe(2);
  });

  it("held values that do not survive JSON (Infinity → null) are dropped on restore", () => {
    const l = new FlowLimiter("k", T0);
    l.add(spec(3));
    l.restoreSettings({ paused: false, heldParallelism: null as never, heldRate: { rate: null as never, periodSec: 1 } });
    expect(startAll(l, T0)).toBe(3);
  });
});
