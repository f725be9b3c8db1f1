import type { MetricsCounts, Store } from "../store/store.js";

/**
 * The store's totals for the gauges, recounted at most once per `maxAgeMs` however often Prometheus scrapes (and
 * never twice at once): counting a table is linear in its size, so a large store pays it once per interval, not
 * once per scrape of every gauge.
 */
export class StoreCountsCache {
  private value: MetricsCounts | undefined;
  private countedAtMs = -Infinity;
  private counting: Promise<MetricsCounts> | undefined;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly maxAgeMs: number,
  ) {}

  get(): Promise<MetricsCounts> {
    if (this.value && this.now() - this.countedAtMs < this.maxAgeMs) return Promise.resolve(this.value);
    this.counting ??= this.store
      .countForMetrics(this.now())
      .then((v) => {
        this.value = v;
        this.countedAtMs = this.now();
        return v;
      })
      .finally(() => (this.counting = undefined));
    return this.counting;
  }
}
