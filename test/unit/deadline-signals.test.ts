import { describe, it, expect } from "vitest";
import { DeadlineSignals } from "../../src/engine/deadline-signals.js";

/** When `signal` aborted, in ms since `t0` (performance clock); fails after `limitMs` instead of hanging. */
function abortedAfter(signal: AbortSignal, t0: number, limitMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const limit = setTimeout(() => reject(new Error(`not aborted within ${limitMs} ms`)), limitMs);
    signal.addEventListener("abort", () => {
      clearTimeout(limit);
      resolve(performance.now() - t0);
    });
  });
}

describe("deadline signals", () => {
  it("aborts no earlier than the deadline and at most one slice later", async () => {
    const deadlines = new DeadlineSignals(10);
    const t0 = performance.now();
    const signal = deadlines.after(60);
    expect(signal.aborted).toBe(false);
    const at = await abortedAfter(signal, t0, 2000);
    expect(at).toBeGreaterThanOrEqual(60);
    // One slice of lateness, plus room for a busy event loop.
    expect(at).toBeLessThan(60 + 10 + 40);
  });

  it("shares one signal within a slice and not across slices", () => {
    const deadlines = new DeadlineSignals(1000);
    const a = deadlines.after(5000);
    const b = deadlines.after(5000);
    const later = deadlines.after(9000);
    expect(b).toBe(a);
    expect(later).not.toBe(a);
  });

  it("leaves a later slice running when an earlier one fires", async () => {
    const deadlines = new DeadlineSignals(10);
    const t0 = performance.now();
    const early = deadlines.after(20);
    const late = deadlines.after(200);
    await abortedAfter(early, t0, 2000);
    expect(late.aborted).toBe(false);
    expect(await abortedAfter(late, t0, 2000)).toBeGreaterThanOrEqual(200);
  });

  it("does not warn about many attempts listening to one signal", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      const signal = new DeadlineSignals(1000).after(5000);
      const listeners = Array.from({ length: 50 }, () => () => undefined);
      for (const l of listeners) signal.addEventListener("abort", l);
      await new Promise((r) => setImmediate(r));
      for (const l of listeners) signal.removeEventListener("abort", l);
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.map((w) => w.name)).not.toContain("MaxListenersExceededWarning");
  });
});
