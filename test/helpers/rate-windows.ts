/**
 * Whether starts seen from outside fit a fixed-window rate limit (`rate` per `periodMs`), for the cluster audits.
 *
 * The limiter counts a start when it releases the message, before the activation commit; the request leaves
 * after that commit, so it reaches a receiver up to `lagMs` later (PostgreSQL commit time, a busy box; the first
 * request to a destination also opens its connection). A start seen at `t` therefore began in [t − lagMs, t].
 * The windows open at `phase + k·periodMs`; the first run of starts was cut by a limiter that opened its first
 * window at a time between `openedAfterMs` and the first start seen, so those are its phases. A later run, after
 * a gap of more than a period (and the lag), may come from a limiter rebuilt elsewhere (a takeover) at a phase
 * only the server knows; it gets the alignment that suits it best, a weaker check, since a lone burst over the
 * limit could be split across two windows (a limit passed window after window still shows).
 *
 * Returns the most starts one window must hold, under the phase and the placement of each start within its lag
 * that suit the starts best: `≤ rate` means the limit can have held.
 */
export function mostStartsInOneWindow(seen: number[], limit: { rate: number; periodMs: number; openedAfterMs: number; lagMs: number }): number {
  const { periodMs, lagMs } = limit;
  const times = [...seen].sort((a, b) => a - b);
  const runs: number[][] = [];
  for (const t of times) {
    const run = runs[runs.length - 1];
    if (run && t - run[run.length - 1] <= periodMs + lagMs) run.push(t);
    else runs.push([t]);
  }
  return Math.max(
    0,
    ...runs.map((run, i) => {
      const lead = Math.max(0, Math.min(periodMs, run[0] - limit.openedAfterMs));
      const phases = i === 0 ? Array.from({ length: lead + 1 }, (_, ms) => run[0] - ms) : run.flatMap((t) => [t, t - lagMs]);
      return Math.min(...phases.map((phase) => mostInOneWindow(run, phase, limit)));
    }),
  );
}

/**
 * The fullest window when the windows open at `phase`: each start goes to the window it was seen in, or, seen
 * within `lagMs` of that window's opening, to the one before while that one has room (earliest first, which
 * leaves the most room later: the greedy choice is the best one).
 */
function mostInOneWindow(sorted: number[], phase: number, { rate, periodMs, lagMs }: { rate: number; periodMs: number; lagMs: number }): number {
  const counts = new Map<number, number>();
  for (const t of sorted) {
    const k = Math.floor((t - phase) / periodMs);
    const before = counts.get(k - 1) ?? 0;
    if (t - (phase + k * periodMs) < lagMs && before < rate) counts.set(k - 1, before + 1);
    else counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return Math.max(0, ...counts.values());
}
