import type { Metric, Registry } from "prom-client";

/** One sample as prom-client's registry writes it: `metricName{labels,sharedLabels} value`. */
interface Sample {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName?: string;
}

/**
 * A counter and a histogram labelled by user alone, for the metrics fed on every message. prom-client's own
 * `inc({user})` and `observe({user}, v)` validate and hash the label object on each call (about 0.1 and 0.4 µs,
 * and garbage: five of them ran per delivered message); here a call is a map lookup and an addition. They are
 * registered in a prom-client registry beside its own metrics and read the same way: `get()` returns what
 * prom-client's Counter and Histogram return, so the exposition is the same text.
 */
abstract class UserSeries<T> {
  readonly aggregator = "sum" as const;
  protected readonly byUser = new Map<string, T>();

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    // prom-client's types list its own classes; the registry reads any metric through name, help, type and get().
    registry.registerMetric(this as unknown as Metric);
  }

  abstract readonly type: "counter" | "histogram";

  /** What a scrape reads (as prom-client's metrics return it). */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values: Sample[] = [];
    for (const [user, series] of this.byUser) this.valuesOf(user, series, values);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.byUser.clear();
  }

  protected abstract valuesOf(user: string, series: T, into: Sample[]): void;
}

export class UserCounter extends UserSeries<number> {
  readonly type = "counter" as const;

  inc(user: string, by = 1): void {
    this.byUser.set(user, (this.byUser.get(user) ?? 0) + by);
  }

  protected valuesOf(user: string, count: number, into: Sample[]): void {
    into.push({ labels: { user }, value: count });
  }
}

interface Buckets {
  /** Observations per bucket (not cumulative); the last counts those above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

export class UserHistogram extends UserSeries<Buckets> {
  readonly type = "histogram" as const;

  constructor(
    name: string,
    help: string,
    registry: Registry,
    /** Upper bounds, ascending. */
    private readonly bounds: readonly number[],
  ) {
    super(name, help, registry);
  }

  observe(user: string, value: number): void {
    if (!Number.isFinite(value)) return;
    let series = this.byUser.get(user);
    if (!series) {
      series = { counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.byUser.set(user, series);
    }
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    series.counts[i]++;
    series.sum += value;
    series.count++;
  }

  protected valuesOf(user: string, { counts, sum, count }: Buckets, into: Sample[]): void {
    // As prom-client writes a histogram: cumulative buckets `le` first, then `+Inf`, the sum and the count.
    const shared = { user };
    let cumulative = 0;
    this.bounds.forEach((le, i) => {
      cumulative += counts[i];
      into.push({ labels: { le }, sharedLabels: shared, value: cumulative, metricName: `${this.name}_bucket` });
    });
    into.push({ labels: { le: "+Inf" }, sharedLabels: shared, value: count, metricName: `${this.name}_bucket` });
    into.push({ labels: {}, sharedLabels: shared, value: sum, metricName: `${this.name}_sum` });
    into.push({ labels: {}, sharedLabels: shared, value: count, metricName: `${this.name}_count` });
  }
}
