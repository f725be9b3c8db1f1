import { describe, expect, it } from "vitest";
import { HttpError } from "../../src/errors.js";
import { latestTick, parseCron, type CronSpec } from "../../src/protocol/cron.js";

function thrown(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error("expected an HttpError");
}

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Every tick in [fromMs, toMs], in order, as ISO strings. */
function ticks(spec: CronSpec, fromMs: number, toMs: number): string[] {
  const out: string[] = [];
  let t = fromMs - 1;
  for (;;) {
    const n = spec.next(t);
    if (n === null || n > toMs) break;
    expect(n).toBeGreaterThan(t);
    out.push(iso(n)!);
    t = n;
  }
  return out;
}

const JAN1 = at("2026-01-01T00:00:00Z"); // a Thursday

describe("parseCron: valid expressions", () => {
  it.each([
    // [expression, timezone, withSeconds, next tick after 2026-01-01T00:00:00Z]
    ["* * * * *", "UTC", false, "2026-01-01T00:01:00.000Z"],
    ["*/5 * * * *", "UTC", false, "2026-01-01T00:05:00.000Z"],
    ["1,2,3 * * * *", "UTC", false, "2026-01-01T00:01:00.000Z"],
    ["10-20/5 3 * * *", "UTC", false, "2026-01-01T03:10:00.000Z"],
    ["0 9 * * MON-FRI", "UTC", false, "2026-01-01T09:00:00.000Z"],
    ["0 9 * * SAT", "UTC", false, "2026-01-03T09:00:00.000Z"],
    ["0 9 * * sun", "UTC", false, "2026-01-04T09:00:00.000Z"],
    ["0 9 * * 7", "UTC", false, "2026-01-04T09:00:00.000Z"], // 7 = Sunday, like 0
    ["0 0 1 JAN *", "UTC", false, "2027-01-01T00:00:00.000Z"],
    ["0 0 1 FEB-MAR *", "UTC", false, "2026-02-01T00:00:00.000Z"],
    ["0 12 15 */2 *", "UTC", false, "2026-01-15T12:00:00.000Z"],
    ["0 0 29 2 *", "UTC", false, "2028-02-29T00:00:00.000Z"], // rare but possible
    ["*/5\t*  * * *", "UTC", false, "2026-01-01T00:05:00.000Z"], // any whitespace between fields
    ["  0 0 * * *  ", "UTC", false, "2026-01-02T00:00:00.000Z"],
    ["@daily", "UTC", false, "2026-01-02T00:00:00.000Z"],
    ["@midnight", "UTC", false, "2026-01-02T00:00:00.000Z"],
    ["@hourly", "UTC", false, "2026-01-01T01:00:00.000Z"],
    ["@weekly", "UTC", false, "2026-01-04T00:00:00.000Z"],
    ["@monthly", "UTC", false, "2026-02-01T00:00:00.000Z"],
    ["@yearly", "UTC", false, "2027-01-01T00:00:00.000Z"],
    ["@annually", "UTC", false, "2027-01-01T00:00:00.000Z"],
    ["@DAILY", "UTC", false, "2026-01-02T00:00:00.000Z"],
    // Six fields: a leading seconds field.
    ["*/1 * * * * *", "UTC", true, "2026-01-01T00:00:01.000Z"],
    ["*/10 * * * * *", "UTC", true, "2026-01-01T00:00:10.000Z"],
    ["30 0 0 * * *", "UTC", true, "2026-01-01T00:00:30.000Z"],
    ["0 0 0 * * *", "UTC", true, "2026-01-02T00:00:00.000Z"],
    // Time zone prefixes.
    ["CRON_TZ=Europe/Berlin 30 2 * * *", "Europe/Berlin", false, "2026-01-01T01:30:00.000Z"],
    ["CRON_TZ=Europe/Berlin\t30 2 * * *", "Europe/Berlin", false, "2026-01-01T01:30:00.000Z"],
    ["TZ=America/New_York 0 9 * * *", "America/New_York", false, "2026-01-01T14:00:00.000Z"],
    ["TZ=Asia/Kolkata  0 0 * * *", "Asia/Kolkata", false, "2026-01-01T18:30:00.000Z"],
    ["CRON_TZ=UTC 0 0 * * *", "UTC", false, "2026-01-02T00:00:00.000Z"],
    ["CRON_TZ=Etc/GMT+5 0 0 * * *", "Etc/GMT+5", false, "2026-01-01T05:00:00.000Z"],
    ["CRON_TZ=Europe/Berlin @daily", "Europe/Berlin", false, "2026-01-01T23:00:00.000Z"],
    ["CRON_TZ=Europe/Berlin */20 * * * * *", "Europe/Berlin", true, "2026-01-01T00:00:20.000Z"],
  ])("%j", (input, timezone, withSeconds, next) => {
    const spec = parseCron(input);
    expect(spec.source).toBe(input.trim());
    expect(spec.timezone).toBe(timezone);
    expect(spec.withSeconds).toBe(withSeconds);
    expect(iso(spec.next(JAN1))).toBe(next);
  });

  it("keeps the prefix in source and strips it from the expression", () => {
    const spec = parseCron("CRON_TZ=Europe/Berlin 30 2 * * *");
    expect(spec.source).toBe("CRON_TZ=Europe/Berlin 30 2 * * *");
    expect(spec.expression).toBe("30 2 * * *");
  });

  it("lists, ranges and steps expand to the expected ticks", () => {
    expect(ticks(parseCron("0,15,45 1-2 * * *"), JAN1, at("2026-01-01T03:00:00Z"))).toEqual([
      "2026-01-01T01:00:00.000Z",
      "2026-01-01T01:15:00.000Z",
      "2026-01-01T01:45:00.000Z",
      "2026-01-01T02:00:00.000Z",
      "2026-01-01T02:15:00.000Z",
      "2026-01-01T02:45:00.000Z",
    ]);
    // Weekdays only: Thu 1st, Fri 2nd, then Mon 5th.
    expect(ticks(parseCron("0 8 * * MON-FRI"), JAN1, at("2026-01-05T23:00:00Z"))).toEqual([
      "2026-01-01T08:00:00.000Z",
      "2026-01-02T08:00:00.000Z",
      "2026-01-05T08:00:00.000Z",
    ]);
    expect(ticks(parseCron("*/20 * * * * *"), JAN1, at("2026-01-01T00:01:00Z"))).toEqual([
      "2026-01-01T00:00:00.000Z",
      "2026-01-01T00:00:20.000Z",
      "2026-01-01T00:00:40.000Z",
      "2026-01-01T00:01:00.000Z",
    ]);
  });

  it("day of month and day of week both restricted: either one matching fires (classic cron)", () => {
    // The 13th, or any Friday, in February 2026 (Fridays: 6, 13, 20, 27).
    const days = ticks(parseCron("0 0 13 2 FRI"), at("2026-02-01T00:00:00Z"), at("2026-02-28T23:59:59Z")).map((t) => t.slice(0, 10));
    expect(days).toEqual(["2026-02-06", "2026-02-13", "2026-02-20", "2026-02-27"]);
  });
});

describe("parseCron: invalid expressions → 400 naming the problem", () => {
  it.each([
    ["", /Upstash-Cron is required/],
    ["   ", /Upstash-Cron is required/],
    ["* * * *", /expected 5 fields.*or 6 with leading seconds/],
    ["* * * * * * *", /expected 5 fields.*or 6 with leading seconds/],
    ["0 0 * * * 2026 *", /expected 5 fields/],
    ["foo", /expected 5 fields/],
    ["60 * * * *", /minute 60 is out of range \(0-59\)/],
    ["1-60 * * * *", /minute 60 is out of range \(0-59\)/],
    ["* 24 * * *", /hour 24 is out of range \(0-23\)/],
    ["* * 32 * *", /day of month 32 is out of range \(1-31\)/],
    ["* * 0 * *", /day of month 0 is out of range \(1-31\)/],
    ["* * * 13 *", /month 13 is out of range \(1-12\)/],
    ["* * * 0 *", /month 0 is out of range \(1-12\)/],
    ["* * * * 8", /day of week 8 is out of range \(0-7\)/],
    ["99 * * * * *", /second 99 is out of range \(0-59\)/],
    ["*/0 * * * *", /illegal stepping: 0/],
    ["*/61 * * * *", /steps cannot be greater/],
    ["5-1 * * * *", /From value is larger than to value: '5-1'/],
    ["a b c d e", /\(a\) contains illegal characters/],
    ["1.5 * * * *", /\(1\.5\) contains illegal characters/],
    ["* * * * FOO", /FOO/],
    ["0 0 30 2 *", /it never fires/],
    ["0 0 31 4 *", /it never fires/],
    ["@foo", /unknown nickname @foo/],
    ["@reboot", /unknown nickname @reboot/],
    ["CRON_TZ=Mars/Olympus * * * * *", /invalid time zone "Mars\/Olympus"/],
    ["TZ=Not_A_Zone 0 0 * * *", /invalid time zone "Not_A_Zone"/],
    ["CRON_TZ=+02:00 0 0 * * *", /invalid time zone "\+02:00"/],
    ["CRON_TZ=Europe/Berlin", /time zone prefix must be followed by a space and the expression/],
    ["CRON_TZ=Europe/Berlin ", /time zone prefix must be followed by a space and the expression/],
    ["TZ=Europe/Berlin", /time zone prefix must be followed/],
    ["CRON_TZ=", /empty time zone/],
    ["TZ= * * * * *", /empty time zone/],
    ["CRON_TZ=Europe/Berlin * * *", /expected 5 fields/],
    ["CRON_TZ=Europe/Berlin 61 * * * *", /minute 61 is out of range/],
    ["cron_tz=Europe/Berlin * * * * *", /contains illegal characters/],
  ])("%j", (input, message) => {
    const err = thrown(() => parseCron(input));
    expect(err.status).toBe(400);
    expect(err.message).toMatch(message);
  });
});

describe("daylight-saving time (Europe/Berlin, 2026)", () => {
  it("spring forward (2026-03-29, 02:00 → 03:00): 02:30 fires exactly once that day, at 03:00 local = 01:00Z", () => {
    const spec = parseCron("CRON_TZ=Europe/Berlin 30 2 * * *");
    // The local day 2026-03-29 runs from 23:00Z (CET) to 22:00Z (CEST).
    expect(ticks(spec, at("2026-03-28T23:00:00Z"), at("2026-03-29T21:59:59Z"))).toEqual(["2026-03-29T01:00:00.000Z"]);
    // The days around it are ordinary.
    expect(ticks(spec, at("2026-03-27T12:00:00Z"), at("2026-03-31T12:00:00Z"))).toEqual([
      "2026-03-28T01:30:00.000Z", // 02:30 CET
      "2026-03-29T01:00:00.000Z", // 02:30 does not exist: first instant after the gap
      "2026-03-30T00:30:00.000Z", // 02:30 CEST
      "2026-03-31T00:30:00.000Z",
    ]);
  });

  it("fall back (2026-10-25, 03:00 → 02:00): 02:30 fires exactly once that day, at the first 02:30 = 00:30Z", () => {
    const spec = parseCron("CRON_TZ=Europe/Berlin 30 2 * * *");
    // The local day 2026-10-25 runs from 22:00Z (CEST) to 23:00Z (CET): 25 hours.
    expect(ticks(spec, at("2026-10-24T22:00:00Z"), at("2026-10-25T22:59:59Z"))).toEqual(["2026-10-25T00:30:00.000Z"]);
    expect(ticks(spec, at("2026-10-23T12:00:00Z"), at("2026-10-27T12:00:00Z"))).toEqual([
      "2026-10-24T00:30:00.000Z", // 02:30 CEST
      "2026-10-25T00:30:00.000Z", // the first 02:30 (CEST), not the second (01:30Z, CET)
      "2026-10-26T01:30:00.000Z", // 02:30 CET
      "2026-10-27T01:30:00.000Z",
    ]);
  });

  it("hourly across the fall-back night: every UTC hour fires once, both 02:00s included, no instant twice", () => {
    const spec = parseCron("CRON_TZ=Europe/Berlin 0 * * * *");
    const fired = ticks(spec, at("2026-10-24T22:00:00Z"), at("2026-10-25T04:00:00Z"));
    // 22:00Z..04:00Z inclusive is 7 UTC hours; local 00:00, 01:00, 02:00 CEST, 02:00 CET, 03:00, 04:00, 05:00.
    expect(fired).toEqual([
      "2026-10-24T22:00:00.000Z",
      "2026-10-24T23:00:00.000Z",
      "2026-10-25T00:00:00.000Z",
      "2026-10-25T01:00:00.000Z",
      "2026-10-25T02:00:00.000Z",
      "2026-10-25T03:00:00.000Z",
      "2026-10-25T04:00:00.000Z",
    ]);
    expect(new Set(fired).size).toBe(fired.length);
    // The whole local day: 25 ticks on the fall-back day, 23 on the spring-forward day.
    expect(ticks(spec, at("2026-10-24T22:00:00Z"), at("2026-10-25T22:59:59Z"))).toHaveLength(25);
    expect(ticks(spec, at("2026-03-28T23:00:00Z"), at("2026-03-29T21:59:59Z"))).toHaveLength(23);
  });

  it.each(["0 * * * *", "30 * * * *", "0 2 * * *", "0 1-3 * * *", "*/15 * * * *", "0 2,3 * * *", "*/30 2 * * *", "0 0-23/2 * * *"])(
    "%j in Berlin never yields the same UTC instant twice across both transitions",
    (expr) => {
      const spec = parseCron(`CRON_TZ=Europe/Berlin ${expr}`);
      for (const [from, to] of [
        ["2026-03-28T20:00:00Z", "2026-03-29T06:00:00Z"],
        ["2026-10-24T20:00:00Z", "2026-10-25T06:00:00Z"],
      ]) {
        const fired = ticks(spec, at(from), at(to)); // `ticks` also asserts strictly increasing
        expect(new Set(fired).size).toBe(fired.length);
      }
    },
  );

  it("previous() agrees with next() across the fall-back: the latest 02:30 tick is the first one", () => {
    const spec = parseCron("CRON_TZ=Europe/Berlin 30 2 * * *");
    expect(iso(spec.previous(at("2026-10-25T01:10:00Z")))).toBe("2026-10-25T00:30:00.000Z");
    expect(iso(spec.previous(at("2026-10-25T12:00:00Z")))).toBe("2026-10-25T00:30:00.000Z");
    expect(iso(spec.previous(at("2026-03-29T12:00:00Z")))).toBe("2026-03-29T01:00:00.000Z");
  });
});

describe("latestTick", () => {
  const five = parseCron("*/5 * * * *");
  const secs = parseCron("*/1 * * * * *");
  it.each([
    ["exactly on a tick → that tick", five, "2026-01-01T00:10:00.000Z", "2026-01-01T00:10:00.000Z"],
    ["just before a tick → the one before", five, "2026-01-01T00:09:59.999Z", "2026-01-01T00:05:00.000Z"],
    ["just after a tick → that tick", five, "2026-01-01T00:10:00.001Z", "2026-01-01T00:10:00.000Z"],
    ["long after (a missed run of ticks) → only the most recent", five, "2026-01-01T07:33:20.000Z", "2026-01-01T07:30:00.000Z"],
    ["seconds field, mid-second → that second", secs, "2026-01-01T00:10:00.500Z", "2026-01-01T00:10:00.000Z"],
    ["seconds field, on the second → that second", secs, "2026-01-01T00:10:07.000Z", "2026-01-01T00:10:07.000Z"],
    ["seconds field, last ms of a second → that second", secs, "2026-01-01T00:10:07.999Z", "2026-01-01T00:10:07.000Z"],
  ])("%s", (_name, spec, now, expected) => {
    expect(iso(latestTick(spec, at(now)))).toBe(expected);
  });

  it("is never after now and is a tick next() would produce", () => {
    const spec = parseCron("CRON_TZ=Europe/Berlin 7,37 */3 * * *");
    for (let now = at("2026-10-24T00:00:00Z"); now < at("2026-10-26T00:00:00Z"); now += 17 * 60_000 + 3_001) {
      const last = latestTick(spec, now)!;
      expect(last).toBeLessThanOrEqual(now);
      expect(spec.next(last - 1)).toBe(last);
      // Nothing between it and now.
      const after = spec.next(last);
      expect(after === null || after > now).toBe(true);
    }
  });
});
