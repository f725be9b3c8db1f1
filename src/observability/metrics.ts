import { collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Engine, EngineEvents } from "../engine/engine.js";
import { StoreCountsCache } from "./metrics-store-counts.js";
import { UserCounter, UserHistogram } from "./user-series.js";

/** Seconds from a message being due to its attempt starting: sub-millisecond on an idle server, minutes in a backlog. */
const LAG_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800];
/** Seconds one attempt's request took, up to the longest per-attempt timeout. */
const ATTEMPT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 900];
/** Seconds from publish to delivery, retries and delays included. */
const LATENCY_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600, 86_400];
const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const GROUP_BUCKETS = [1, 2, 5, 10, 50, 100, 500, 1000, 5000, 20_000];

/**
 * Sluice's Prometheus metrics, in a registry of its own (two servers in one process never share counts). Counters
 * and histograms are fed by the engine's events, labelled by user only: message ids and flow-control keys are
 * unbounded, a user list is not. Gauges are read when scraped, from memory or from store counts cached for
 * `metricsStoreCountMs`, so scraping often costs the store nothing extra.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly engine: Engine, storeCountMs: number) {
    const registers = [this.registry];
    // Fed on every message: per-user series of our own, cheaper per call than prom-client's labelled ones.
    const counter = (name: string, help: string) => new UserCounter(name, help, this.registry);
    const histogram = (name: string, help: string, buckets: number[]) => new UserHistogram(name, help, this.registry, buckets);

    const published = counter("sluice_messages_published_total", "Messages accepted (publish, batch, enqueue, schedule ticks, callbacks, workflow steps).");
    const delivered = counter("sluice_messages_delivered_total", "Messages delivered (a 2xx answer).");
    const retried = counter("sluice_messages_retried_total", "Attempts that failed and were scheduled to be retried.");
    const failed = counter("sluice_messages_failed_total", "Messages that failed for good and went to the DLQ.");
    const cancelled = counter("sluice_messages_cancelled_total", "Messages cancelled before they were delivered.");
    const lag = histogram("sluice_delivery_lag_seconds", "From a message being due to its attempt starting.", LAG_BUCKETS);
    const attemptDuration = histogram("sluice_attempt_duration_seconds", "How long one attempt's HTTP request took.", ATTEMPT_BUCKETS);
    const latency = histogram("sluice_publish_to_delivery_seconds", "From publish to delivery, delays and retries included.", LATENCY_BUCKETS);
    // Once per group commit, unlabelled: prom-client's own.
    const commitDuration = new Histogram({ name: "sluice_store_commit_duration_seconds", help: "How long one group commit took.", buckets: COMMIT_BUCKETS, registers });
    const commitOps = new Histogram({ name: "sluice_store_commit_ops", help: "Write operations in one group commit.", buckets: GROUP_BUCKETS, registers });

    const now = () => engine.clock.now();
    this.on("accepted", (m) => published.inc(m.userId));
    this.on("attempt", (m) => lag.observe(m.userId, Math.max(0, now() - m.dueMs) / 1000));
    this.on("attemptEnded", (m, _result, ms) => attemptDuration.observe(m.userId, ms / 1000));
    this.on("delivered", (m) => {
      delivered.inc(m.userId);
      latency.observe(m.userId, Math.max(0, now() - m.createdAtMs) / 1000);
    });
    this.on("retry", (m) => retried.inc(m.userId));
    this.on("failed", (m) => failed.inc(m.userId));
    this.on("cancelled", (m) => cancelled.inc(m.userId));
    this.on("committed", (ms, ops) => {
      commitDuration.observe(ms / 1000);
      commitOps.observe(ops);
    });

    const counts = new StoreCountsCache(engine.store, now, storeCountMs);
    const gauge = (name: string, help: string, read: () => number | Promise<number>) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          this.set(await read());
        },
      });
    gauge("sluice_messages_pending", "Messages waiting for an attempt (first or retry), due or not.", async () => (await counts.get()).pending);
    gauge("sluice_messages_due_waiting", "Pending messages already due: waiting for a delivery slot.", async () => (await counts.get()).due);
    gauge("sluice_attempts_in_flight", "Attempts whose HTTP request is under way.", () => engine.inFlightCount);
    gauge("sluice_dlq_entries", "Entries in the dead-letter queue, all users.", async () => (await counts.get()).dlq);
    gauge("sluice_schedules", "Schedules, paused ones included.", async () => (await counts.get()).schedules);
    gauge("sluice_workflow_runs_active", "Workflow runs started and not yet ended.", async () => (await counts.get()).activeRuns);

    collectDefaultMetrics({ register: this.registry, prefix: "sluice_" });
  }

  /** Subscribes to an engine event, remembering how to let go of it at close. */
  private on<E extends keyof EngineEvents>(event: E, listener: (...args: EngineEvents[E]) => void): void {
    const l = listener as (...args: any[]) => void;
    this.engine.on(event as any, l);
    this.unsubscribe.push(() => this.engine.off(event as any, l));
  }

  /** The Prometheus text exposition. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    for (const off of this.unsubscribe) off();
    this.registry.clear();
  }
}
