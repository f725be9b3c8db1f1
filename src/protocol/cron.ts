import { Cron } from "croner";
import { badRequest } from "../errors.js";

/** A validated `Upstash-Cron` value: the expression, its time zone, and whether it has a seconds field. */
export interface CronSpec {
  /** As the user wrote it, prefix included (what the API shows back). */
  source: string;
  expression: string;
  timezone: string;
  withSeconds: boolean;
  next(afterMs: number): number | null;
  /** The latest tick strictly before `beforeMs`, or null. */
  previous(beforeMs: number): number | null;
}

/**
 * Compiled expressions, shared by every schedule with the same expression and zone. UTC uses a fixed offset:
 * croner's time-zone path goes through Intl and costs ~10x more per tick.
 */
const cache = new Map<string, Cron>();
const nextMemo = new WeakMap<Cron, Map<number, number | null>>();
function compiled(expression: string, timezone: string): Cron {
  const key = `${timezone}\u0000${expression}`;
  let cron = cache.get(key);
  if (!cron) {
    cron = new Cron(expression, timezone === "UTC" ? { utcOffset: 0, paused: true } : { timezone, paused: true });
    if (cache.size >= 10_000) cache.clear();
    cache.set(key, cron);
    nextMemo.set(cron, new Map());
  }
  return cron;
}

/** Nicknames croner understands that make sense for a server schedule (`@reboot` does not). */
const NICKNAMES = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]);

/** croner's range errors name the value minus the field's offset ("day: 31" for 32); say what was written. */
const FIELDS: Record<string, { name: string; min: number; max: number; offset: number }> = {
  second: { name: "second", min: 0, max: 59, offset: 0 },
  minute: { name: "minute", min: 0, max: 59, offset: 0 },
  hour: { name: "hour", min: 0, max: 23, offset: 0 },
  day: { name: "day of month", min: 1, max: 31, offset: 1 },
  nearestWeekdays: { name: "day of month", min: 1, max: 31, offset: 1 },
  month: { name: "month", min: 1, max: 12, offset: 1 },
  dayOfWeek: { name: "day of week", min: 0, max: 7, offset: 0 },
};

function describeCronerError(message: string): string {
  const text = message.replace(/^CronPattern: /, "");
  const m = /^Invalid value for (\w+): (-?\d+)$/.exec(text);
  const f = m ? FIELDS[m[1]] : undefined;
  if (!m || !f) return text;
  return `${f.name} ${Number(m[2]) + f.offset} is out of range (${f.min}-${f.max})`;
}

/**
 * Parses `Upstash-Cron`: five fields (minute hour day-of-month month day-of-week; lists, ranges, steps and
 * names), or — an extension — six with a leading seconds field, optionally prefixed by `CRON_TZ=Area/City `
 * (or `TZ=`). When day-of-month and day-of-week are both restricted, either matching fires (classic cron).
 *
 * Daylight-saving time (croner's rules, tested in test/unit/cron.test.ts): every tick is a distinct UTC instant,
 * never one twice. A fixed wall-clock time skipped by the spring-forward gap fires once, at the first instant
 * after the gap (`30 2 * * *` in Berlin on 2026-03-29 fires at 03:00 local); one repeated by the fall-back fires
 * once, at its first occurrence. Patterns over every hour fire every UTC hour, so an hourly schedule fires
 * 23 times on the spring-forward day and 25 times on the fall-back day.
 */
export function parseCron(value: string): CronSpec {
  const source = value.trim();
  if (!source) throw badRequest("Upstash-Cron is required, e.g. \"*/5 * * * *\" or \"CRON_TZ=Europe/Berlin 30 2 * * *\"");
  let timezone = "UTC";
  let expression = source;
  if (/^(?:CRON_TZ|TZ)=(?:\s|$)/.test(source)) {
    throw badRequest(`invalid Upstash-Cron "${source}": empty time zone after the prefix, e.g. "CRON_TZ=Europe/Berlin 30 2 * * *"`);
  }
  const prefix = /^(?:CRON_TZ|TZ)=(\S+)\s+(.*)$/.exec(source);
  if (prefix) {
    timezone = prefix[1];
    expression = prefix[2].trim();
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    } catch {
      throw badRequest(`invalid time zone "${timezone}" in Upstash-Cron: use an IANA name such as Europe/Berlin`);
    }
  } else if (/^(?:CRON_TZ|TZ)=/.test(source)) {
    throw badRequest(`invalid Upstash-Cron "${source}": the time zone prefix must be followed by a space and the expression`);
  }
  const fields = expression.split(/\s+/);
  const nickname = fields.length === 1 && expression.startsWith("@");
  if (!nickname && fields.length !== 5 && fields.length !== 6) {
    throw badRequest(`invalid Upstash-Cron "${source}": expected 5 fields (minute hour day month weekday), or 6 with leading seconds`);
  }
  if (nickname && !NICKNAMES.has(expression.toLowerCase())) {
    throw badRequest(`invalid Upstash-Cron "${source}": unknown nickname ${expression}, use one of ${[...NICKNAMES].join(", ")}`);
  }
  let cron: Cron;
  try {
    cron = compiled(expression, timezone);
  } catch (e) {
    throw badRequest(`invalid Upstash-Cron "${source}": ${describeCronerError((e as Error).message)}`);
  }
  const spec: CronSpec = {
    source,
    expression,
    timezone,
    withSeconds: fields.length === 6,
    next(afterMs: number): number | null {
      // Schedules sharing an expression tick together: the first one's answer serves the rest.
      const memo = nextMemo.get(cron);
      const hit = memo?.get(afterMs);
      if (hit !== undefined) return hit;
      const d = cron.nextRun(new Date(afterMs));
      const next = d ? d.getTime() : null;
      if (memo) {
        if (memo.size >= 64) memo.clear();
        memo.set(afterMs, next);
      }
      return next;
    },
    previous(beforeMs: number): number | null {
      const [d] = cron.previousRuns(1, new Date(beforeMs));
      return d ? d.getTime() : null;
    },
  };
  if (spec.next(Date.now()) === null) throw badRequest(`invalid Upstash-Cron "${source}": it never fires`);
  return spec;
}

/** The latest tick at or before `nowMs` (a schedule that missed ticks while the server was down fires once, for this one). */
export function latestTick(spec: CronSpec, nowMs: number): number | null {
  return spec.previous(nowMs + 1);
}
