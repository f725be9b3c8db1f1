import { badRequest } from "../errors.js";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a QStash duration (`50s`, `1d10h30m`, `500ms`, or bare `30` = seconds) into milliseconds.
 * Throws a 400 naming `what` for anything else, including values beyond Number.MAX_SAFE_INTEGER ms.
 */
export function parseDuration(value: string, what: string): number {
  const text = value.trim();
  const invalid = (reason: string) => badRequest(`invalid ${what} "${value}": ${reason}`);
  if (text === "") throw invalid("expected a duration like 10s, 5m, 1h30m");
  // The workflow SDK sends `Upstash-Timeout: 30` for context.call, so a bare integer is seconds.
  if (/^\d+$/.test(text)) return checked(Number(text) * 1_000, invalid);

  // `ms` must precede `m` so "500ms" is not read as 500 minutes followed by garbage.
  const term = /(\d+)(ms|s|m|h|d)/y;
  let total = 0;
  while (term.lastIndex < text.length) {
    const match = term.exec(text);
    if (!match) throw invalid("expected a duration like 10s, 5m, 1h30m");
    total += checked(Number(match[1]) * UNIT_MS[match[2]], invalid);
  }
  return checked(total, invalid);
}

/** Returns `ms` if it is a safe integer, so arithmetic on durations stays exact; otherwise throws "too large". */
function checked(ms: number, invalid: (reason: string) => Error): number {
  if (!Number.isSafeInteger(ms)) throw invalid("duration is too large");
  return ms;
}

/** Formats ms as whole seconds (`90000` → `"90s"`), rounding up so a non-zero duration never echoes as `0s`. */
export function formatDurationSeconds(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot format duration ${ms}`);
  return `${Math.ceil(ms / 1_000)}s`;
}
