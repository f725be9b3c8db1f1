import type { SettingEntry } from "../store/cluster.js";

/**
 * Runs a cache's reload one at a time and merges the calls that overlap. A call made while a run is reading may
 * come from a change the read started too early to see, so it is answered by the next run, which begins once the
 * current one has finished; every call made meanwhile shares that one run. A call never resolves on a read that
 * began before it, and no more than two runs (the current and the next) are ever pending.
 */
export class CoalescedReload {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  /** A run has completed: memory has been loaded from the store at least once. */
  private loaded = false;

  constructor(
    private readonly run: () => Promise<void>,
    /**
     * No other process writes what the cache holds (a SQLite data folder, which its lock keeps to one process):
     * once loaded, memory is what the store holds.
     */
    private readonly soleWriter = false,
  ) {}

  /**
   * What a change made here reads first. Until a run has completed, a run (memory holds nothing yet). After that,
   * nothing when this process is the store's only writer, else `readEntry`: a read of just what the change is
   * about, which another node may have written a moment ago. (A run before every change made creating thousands of
   * schedules or URL groups quadratic.)
   */
  beforeChange(readEntry: () => Promise<void>): Promise<void> {
    if (!this.loaded) return this.request();
    return this.soleWriter ? Promise.resolve() : readEntry();
  }

  /**
   * What news of entries another node changed reads: each of those entries (`readEntry`, all at once), or a run
   * until memory has been loaded once (there is nothing yet for a read of some entries to correct).
   */
  entriesChanged(entries: SettingEntry[], readEntry: (userId: string, key: string) => Promise<void>): Promise<void> {
    if (!this.loaded) return this.request();
    return Promise.all(entries.map(([userId, key]) => readEntry(userId, key))).then(() => undefined);
  }

  request(): Promise<void> {
    if (!this.running) return this.begin();
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.begin();
      });
    return this.next;
  }

  private begin(): Promise<void> {
    const run = this.run()
      .then(() => {
        this.loaded = true;
      })
      .finally(() => {
        if (this.running === run) this.running = undefined;
      });
    this.running = run;
    return run;
  }
}
