import type { OpResult, Store, WriteOp } from "../store/store.js";
import { callerError, classifyStoreError } from "../store/store-errors.js";

interface Waiter {
  start: number;
  count: number;
  resolve: (r: OpResult[]) => void;
  reject: (e: unknown) => void;
}

/** How a commit that failed on a busy store is tried again before its callers are told (503). */
const TRANSIENT_RETRY_DELAYS_MS = [5, 25, 100, 250];

/**
 * Group commit: writes asked for during one turn of the event loop (and while the transaction before was under
 * way) are applied in a single transaction, then every caller is answered. Under load this turns thousands of small transactions into a few large
 * ones; when idle it adds no delay beyond one `setImmediate`.
 *
 * One caller's bad write must not fail the others of its group: when a group's transaction is refused for
 * its content, the group is split in halves and each half committed on its own, down to the caller whose ops
 * are at fault (a failed transaction changed nothing, so trying again is safe). A busy store is retried a few
 * times; a full one fails the group with a 507 at once, since splitting cannot make room.
 */
export class Committer {
  private ops: WriteOp[] = [];
  private waiters: Waiter[] = [];
  private scheduled = false;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    /** Upper bound on operations in one transaction, so one flush cannot stall the loop for long. */
    private readonly maxOps = 20_000,
    /** Told of every failure before its callers are (once per group rejected, not per split), for logs and metrics. */
    private readonly onFailure: (err: unknown) => void = () => undefined,
    /** Told of every transaction that committed: how long it took (retries included) and how many ops it held. */
    private readonly onCommitted: (durationMs: number, ops: number) => void = () => undefined,
  ) {}

  /** Resolves once `ops` are durably committed, with their results in order. */
  run(ops: WriteOp[]): Promise<OpResult[]> {
    if (ops.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.waiters.push({ start: this.ops.length, count: ops.length, resolve, reject });
      for (const op of ops) this.ops.push(op);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Resolves when everything asked for so far has been committed. */
  async idle(): Promise<void> {
    while (this.scheduled || this.ops.length > 0) {
      await new Promise<void>((r) => setImmediate(r));
      await this.running;
    }
    await this.running;
  }

  /**
   * Takes what was asked for once the transaction before has ended, not when this turn ends: while a commit is on
   * its way to the store (milliseconds on a network database), later writes gather into the next group instead of
   * queueing as many small transactions behind it.
   */
  private flush(): void {
    this.running = this.running.then(() => {
      this.scheduled = false;
      const ops = this.ops;
      const waiters = this.waiters;
      this.ops = [];
      this.waiters = [];
      return waiters.length ? this.apply(ops, waiters) : undefined;
    });
  }

  private async apply(ops: WriteOp[], waiters: Waiter[]): Promise<void> {
    // Split oversized batches on waiter boundaries so each caller's ops stay in one transaction.
    let i = 0;
    while (i < waiters.length) {
      let j = i;
      let n = 0;
      while (j < waiters.length && (n === 0 || n + waiters[j].count <= this.maxOps)) n += waiters[j++].count;
      await this.commitGroup(ops, waiters.slice(i, j));
      i = j;
    }
  }

  /** Commits the ops of `group` (consecutive waiters) together; on a refused write, isolates the caller at fault. */
  private async commitGroup(ops: WriteOp[], group: Waiter[]): Promise<void> {
    const from = group[0].start;
    const last = group[group.length - 1];
    const slice = ops.slice(from, last.start + last.count);
    let results: OpResult[];
    const startedMs = performance.now();
    try {
      results = await this.commitWithRetries(slice);
      this.onCommitted(performance.now() - startedMs, slice.length);
    } catch (err) {
      if (group.length > 1 && classifyStoreError(err) === "rejected") {
        const mid = group.length >> 1;
        await this.commitGroup(ops, group.slice(0, mid));
        await this.commitGroup(ops, group.slice(mid));
        return;
      }
      this.onFailure(err);
      const answer = callerError(err);
      for (const w of group) w.reject(answer);
      return;
    }
    for (const w of group) w.resolve(results.slice(w.start - from, w.start - from + w.count));
  }

  private async commitWithRetries(ops: WriteOp[]): Promise<OpResult[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.store.commit(ops);
      } catch (err) {
        if (classifyStoreError(err) !== "transient" || attempt >= TRANSIENT_RETRY_DELAYS_MS.length) throw err;
        await new Promise((r) => setTimeout(r, TRANSIENT_RETRY_DELAYS_MS[attempt]));
      }
    }
  }
}
