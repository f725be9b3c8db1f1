const MAX_BACKOFF_S = 86_400;

/** QStash's default backoff, `min(1 day, e^(2.5·n))` s, in whole ms; n = 1 is the first retry (→ 12 182 ms). */
export function defaultBackoffMs(retryNumber: number): number {
  // Anything below 1 (or NaN) is a caller slip; treat it as the first retry rather than retrying instantly.
  const n = retryNumber >= 1 ? retryNumber : 1;
  return Math.round(Math.min(MAX_BACKOFF_S, Math.exp(2.5 * n)) * 1_000);
}
