import type { OpResult, Store, WriteOp } from "../store/store.js";

interface Waiter {
  start: number;
  count: number;
  resolve: (r: OpResult[]) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit: writes asked for during one turn of the event loop are applied in a single transaction,
 * then every caller is answered. Under load this turns thousands of small transactions into a few large
 * ones; when idle it adds no delay beyond one `setImmediate`.
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

  private flush(): void {
    this.scheduled = false;
    const ops = this.ops;
    const waiters = this.waiters;
    this.ops = [];
    this.waiters = [];
    this.running = this.running.then(() => this.apply(ops, waiters));
  }

  private async apply(ops: WriteOp[], waiters: Waiter[]): Promise<void> {
    // Split oversized batches on waiter boundaries so each caller's ops stay in one transaction.
    let i = 0;
    while (i < waiters.length) {
      let j = i;
      let n = 0;
      while (j < waiters.length && (n === 0 || n + waiters[j].count <= this.maxOps)) n += waiters[j++].count;
      const group = waiters.slice(i, j);
      const from = group[0].start;
      const slice = ops.slice(from, from + n);
      try {
        const results = await this.store.commit(slice);
        for (const w of group) w.resolve(results.slice(w.start - from, w.start - from + w.count));
      } catch (err) {
        for (const w of group) w.reject(err);
      }
      i = j;
    }
  }
}
