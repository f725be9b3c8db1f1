import type { FlowControlSpec } from "../model/message.js";
import type { FlowSettings } from "../model/flow-settings.js";

/**
 * The limiter of one flow-control key: parallelism (attempts in flight) and a fixed-window rate (attempt
 * starts per period), with pause and pins. Pure arithmetic: time is passed in, nothing here does I/O.
 *
 * Which limits apply (DECISIONS #14): per dimension, the most permissive value among the messages of the key
 * that are waiting or in flight; once they drain, the newest message's value. A message without a value for a
 * dimension has no limit in it. A pinned dimension ignores message values; after unpinning, the pinned value
 * stays until a message with a different value arrives.
 */
export class FlowLimiter {
  /** How many waiting or in-flight messages carry each value; `Infinity` stands for "no limit". */
  private readonly parallelismValues = new Map<number, number>();
  /** Rate values are kept as `rate/periodSec` pairs, so the pair allowing the most starts per second wins. */
  private readonly rateValues = new Map<string, number>();
  private newest: { parallelism: number; rate: number; periodSec: number } = { parallelism: Infinity, rate: Infinity, periodSec: 1 };
  private pinnedParallelism?: number;
  private pinnedRate?: { rate: number; periodSec: number };
  /** Values kept after an unpin until a message with a different value arrives. */
  private heldParallelism?: number;
  private heldRate?: { rate: number; periodSec: number };
  /** When the held values were unpinned: only a message published since then ends them (not one re-counted after a restart). */
  private heldSinceMs?: number;
  paused = false;
  inFlight = 0;
  private windowStartMs: number;
  private windowCount = 0;
  /** The rate window changed since it was last saved (`takeWindow`). */
  private windowDirty = false;

  constructor(
    readonly key: string,
    nowMs: number,
  ) {
    this.windowStartMs = nowMs;
  }

  /** Counts a message's configuration (published at `createdAtMs`) while it waits or is in flight. */
  add(spec: FlowControlSpec, createdAtMs = Infinity): void {
    const p = spec.parallelism ?? Infinity;
    const r = rateKey(spec);
    bump(this.parallelismValues, p, 1);
    bump(this.rateValues, r, 1);
    this.newest = { parallelism: p, ...parseRateKey(r) };
    if (this.heldSinceMs !== undefined && createdAtMs < this.heldSinceMs) return;
    if (this.heldParallelism !== undefined && p !== this.heldParallelism) this.heldParallelism = undefined;
    if (this.heldRate !== undefined && r !== rateKey(this.heldRate)) this.heldRate = undefined;
  }

  /** Forgets a message's configuration once it has finished (delivered, failed, cancelled). */
  remove(spec: FlowControlSpec): void {
    bump(this.parallelismValues, spec.parallelism ?? Infinity, -1);
    bump(this.rateValues, rateKey(spec), -1);
  }

  parallelismMax(): number {
    if (this.pinnedParallelism !== undefined) return this.pinnedParallelism;
    if (this.heldParallelism !== undefined) return this.heldParallelism;
    return this.parallelismValues.size ? Math.max(...this.parallelismValues.keys()) : this.newest.parallelism;
  }

  rateLimit(): { rate: number; periodSec: number } {
    if (this.pinnedRate) return this.pinnedRate;
    if (this.heldRate) return this.heldRate;
    if (this.rateValues.size === 0) return { rate: this.newest.rate, periodSec: this.newest.periodSec };
    let best = { rate: 0, periodSec: 1 };
    for (const k of this.rateValues.keys()) {
      const c = parseRateKey(k);
      if (c.rate / c.periodSec > best.rate / best.periodSec) best = c;
    }
    return best;
  }

  /** Rolls the fixed window forward if its period has passed; windows stay aligned to the last reset. */
  private roll(nowMs: number): void {
    const periodMs = this.rateLimit().periodSec * 1000;
    if (nowMs >= this.windowStartMs + periodMs) {
      this.windowStartMs += Math.floor((nowMs - this.windowStartMs) / periodMs) * periodMs;
      this.windowCount = 0;
    }
  }

  /** 0 if an attempt may start now; otherwise how long until the rate window opens (ms), or Infinity if only an in-flight attempt ending (or resume) can help. */
  waitMs(nowMs: number): number {
    if (this.paused) return Infinity;
    if (this.inFlight >= this.parallelismMax()) return Infinity;
    const { rate, periodSec } = this.rateLimit();
    if (rate === Infinity) return 0;
    this.roll(nowMs);
    if (this.windowCount < rate) return 0;
    return Math.max(1, this.windowStartMs + periodSec * 1000 - nowMs);
  }

  /** Records an attempt start (call only after `waitMs` returned 0). */
  onStart(nowMs: number): void {
    this.roll(nowMs);
    this.windowCount++;
    this.inFlight++;
    if (this.rateLimit().rate !== Infinity) this.windowDirty = true;
  }

  onFinish(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
  }

  /** Fixes the given dimensions; message values are ignored for them. Resets the rate window. */
  pin(opts: { parallelism?: number; rate?: number; periodSec?: number }, nowMs: number): void {
    if (opts.parallelism !== undefined) {
      this.pinnedParallelism = opts.parallelism;
      this.heldParallelism = undefined;
    }
    if (opts.rate !== undefined || opts.periodSec !== undefined) {
      const current = this.rateLimit();
      const rate = opts.rate ?? current.rate;
      // A period without any rate limits nothing; only a finite rate is pinned (and stored).
      if (Number.isFinite(rate)) {
        this.pinnedRate = { rate, periodSec: opts.periodSec ?? current.periodSec };
        this.heldRate = undefined;
      }
    }
    this.resetRate(nowMs);
  }

  /** Unpins the chosen dimensions; each keeps its pinned value until a message with a different one arrives. */
  unpin(opts: { parallelism: boolean; rate: boolean }, nowMs?: number): void {
    if (opts.parallelism && this.pinnedParallelism !== undefined) {
      this.heldParallelism = this.pinnedParallelism;
      this.pinnedParallelism = undefined;
      this.heldSinceMs = nowMs;
    }
    if (opts.rate && this.pinnedRate) {
      this.heldRate = this.pinnedRate;
      this.pinnedRate = undefined;
      this.heldSinceMs = nowMs;
    }
  }

  /** Forgets the values kept after an unpin, so the messages' own values apply at once. */
  clearHeld(): void {
    this.heldParallelism = undefined;
    this.heldRate = undefined;
  }

  resetRate(nowMs: number): void {
    this.windowStartMs = nowMs;
    this.windowCount = 0;
    this.windowDirty = true;
  }

  /** Restores a counted window after a restart. */
  restoreWindow(startMs: number, count: number): void {
    this.windowStartMs = startMs;
    this.windowCount = count;
  }

  /** The rate window, if it changed since the last call: what is saved so a restart does not open a fresh one. */
  takeWindow(): { startMs: number; count: number } | undefined {
    if (!this.windowDirty) return undefined;
    this.windowDirty = false;
    return { startMs: this.windowStartMs, count: this.windowCount };
  }

  /**
   * Nothing waits, nothing is in flight, nothing was set by hand and the rate window has closed: the limiter
   * can be forgotten without letting a new message start early.
   */
  isIdle(nowMs: number): boolean {
    this.roll(nowMs);
    return (
      this.windowCount === 0 &&
      this.inFlight === 0 &&
      this.parallelismValues.size === 0 &&
      !this.paused &&
      this.pinnedParallelism === undefined &&
      this.pinnedRate === undefined
    );
  }

  /** The persisted part: pause and pins (and the values held after an unpin). */
  settings(): FlowSettings {
    return {
      paused: this.paused,
      pinnedParallelism: this.pinnedParallelism,
      pinnedRate: this.pinnedRate,
      heldParallelism: this.heldParallelism,
      heldRate: this.heldRate,
      heldSinceMs: this.heldSinceMs,
    };
  }

  restoreSettings(s: FlowSettings): void {
    const finite = (r: { rate: number; periodSec: number } | undefined) => (r && Number.isFinite(r.rate) ? r : undefined);
    const count = (n: number | undefined) => (typeof n === "number" && Number.isFinite(n) ? n : undefined);
    s = {
      paused: s.paused === true,
      pinnedParallelism: count(s.pinnedParallelism),
      pinnedRate: finite(s.pinnedRate),
      heldParallelism: count(s.heldParallelism),
      heldRate: finite(s.heldRate),
      heldSinceMs: count(s.heldSinceMs),
    };
    this.paused = s.paused;
    this.pinnedParallelism = s.pinnedParallelism;
    this.pinnedRate = s.pinnedRate;
    this.heldParallelism = s.heldParallelism;
    this.heldRate = s.heldRate;
    this.heldSinceMs = s.heldSinceMs;
  }

  /** The public view (SPEC §2.9); a dimension without a limit shows 0. */
  info(nowMs: number, waitListSize: number): FlowInfo {
    const { rate, periodSec } = this.rateLimit();
    if (rate !== Infinity) this.roll(nowMs);
    const p = this.parallelismMax();
    return {
      flowControlKey: this.key,
      waitListSize,
      parallelismMax: p === Infinity ? 0 : p,
      parallelismCount: this.inFlight,
      rateMax: rate === Infinity ? 0 : rate,
      rateCount: this.windowCount,
      ratePeriod: periodSec,
      ratePeriodStart: Math.floor(this.windowStartMs / 1000),
      isPaused: this.paused,
      isPinnedParallelism: this.pinnedParallelism !== undefined,
      isPinnedRate: this.pinnedRate !== undefined,
    };
  }
}

export interface FlowInfo {
  flowControlKey: string;
  waitListSize: number;
  parallelismMax: number;
  parallelismCount: number;
  rateMax: number;
  rateCount: number;
  ratePeriod: number;
  ratePeriodStart: number;
  isPaused: boolean;
  isPinnedParallelism: boolean;
  isPinnedRate: boolean;
}

function rateKey(spec: { rate?: number; periodSec?: number }): string {
  return spec.rate === undefined ? "inf/1" : `${spec.rate}/${spec.periodSec ?? 1}`;
}

function parseRateKey(k: string): { rate: number; periodSec: number } {
  const [r, p] = k.split("/");
  return { rate: r === "inf" ? Infinity : Number(r), periodSec: Number(p) };
}

function bump<K>(m: Map<K, number>, k: K, by: number): void {
  const n = (m.get(k) ?? 0) + by;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}
