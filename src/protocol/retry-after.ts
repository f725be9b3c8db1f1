/** Header names (lower-case) that may set the next retry time, in the order QStash consults them. */
const HEADERS = ["retry-after", "x-ratelimit-reset", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"];

const MAX_DELAY_MS = 86_400_000;

const GO_UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3, // micro sign, what Go prints
  "\u03bcs": 1e-3, // Greek mu, which Go also accepts
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/**
 * The retry delay a destination asked for, in ms: the first of Retry-After / X-RateLimit-Reset(-Requests/-Tokens)
 * that parses as seconds, an HTTP date or a Go duration wins. Undefined when none parses or it asks for more than
 * a day, so the caller falls back to its backoff.
 */
export function retryAfterFromHeaders(
  headers: Record<string, string | string[] | undefined>,
  nowMs: number,
): number | undefined {
  for (const name of HEADERS) {
    const raw = headers[name];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value === undefined) continue;
    const delayMs = parseDelayMs(value.trim(), nowMs);
    if (delayMs === undefined) continue;
    return delayMs > MAX_DELAY_MS ? undefined : delayMs;
  }
  return undefined;
}

/** Delay in ms for one header value, trying plain seconds, then a Go duration, then an HTTP date. */
function parseDelayMs(value: string, nowMs: number): number | undefined {
  if (/^\d+(?:\.\d+)?$/.test(value)) return Math.round(Number(value) * 1_000);
  return parseGoDuration(value) ?? parseHttpDate(value, nowMs);
}

/** Go's time.ParseDuration without signs: `6m5s`, `1.5s`, `300ms`, `2h45m`. */
function parseGoDuration(value: string): number | undefined {
  if (value === "") return undefined;
  const term = /(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/y;
  let total = 0;
  while (term.lastIndex < value.length) {
    const match = term.exec(value);
    if (!match) return undefined;
    total += Number(match[1]) * GO_UNIT_MS[match[2]];
  }
  return Math.round(total);
}

/** IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, the RFC 1123 form every current server sends); past dates mean now. */
function parseHttpDate(value: string, nowMs: number): number | undefined {
  // Shape-check first: Date.parse would also accept things like "1" (the year 2001) in local time.
  const match =
    /^(?:[a-z]{3},\s*)?(\d{1,2})\s+([a-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2}):(\d{2})\s+(?:GMT|UTC)$/i.exec(value);
  if (!match) return undefined;
  const [day, year, hour, minute, second] = [match[1], match[3], match[4], match[5], match[6]].map(Number);
  const month = MONTHS.indexOf(match[2].toLowerCase());
  if (month < 0 || hour > 23 || minute > 59 || second > 59) return undefined;
  const dateMs = Date.UTC(year, month, day, hour, minute, second);
  // Date.UTC rolls "31 Feb" over into March; such a header is malformed, not a date.
  if (new Date(dateMs).getUTCDate() !== day) return undefined;
  return Math.max(0, dateMs - nowMs);
}
