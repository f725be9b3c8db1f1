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
 * Parses `Upstash-Cron`: five fields (minute hour day-of-month month day-of-week; lists, ranges, steps and
 * names), or — an extension — six with a leading seconds field, optionally prefixed by `CRON_TZ=Area/City `
 * (or `TZ=`). When day-of-month and day-of-week are both restricted, either matching fires (classic cron).
 */
export function parseCron(value: string): CronSpec {
  const source = value.trim();
  if (!source) throw badRequest("Upstash-Cron is required, e.g. \"*/5 * * * *\" or \"CRON_TZ=Europe/Berlin 30 2 * * *\"");
  let timezone = "UTC";
  let expression = source;
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
  let cron: Cron;
  try {
    cron = new Cron(expression, { timezone, paused: true });
  } catch (e) {
    throw badRequest(`invalid Upstash-Cron "${source}": ${(e as Error).message.replace(/^CronPattern: /, "")}`);
  }
  const spec: CronSpec = {
    source,
    expression,
    timezone,
    withSeconds: fields.length === 6,
    next(afterMs: number): number | null {
      const d = cron.nextRun(new Date(afterMs));
      return d ? d.getTime() : null;
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
