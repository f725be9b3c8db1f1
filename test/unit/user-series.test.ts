import { describe, expect, it } from "vitest";
import { Counter, Histogram, Registry } from "prom-client";
import { UserCounter, UserHistogram } from "../../src/observability/user-series.js";

const BUCKETS = [0.005, 0.01, 0.5, 1, 60];
/** Values on both sides of each bound, on a bound exactly, and above every bound. */
const VALUES: [string, number][] = [
  ["u1", 0.001],
  ["u1", 0.005],
  ["u2", 0.2],
  ["u1", 0.7],
  ["u2", 1],
  ["u1", 61],
  ["u2", 3600],
  ["u1", 0.01],
];

describe("per-user series", () => {
  it("write the same exposition as prom-client's own labelled counter and histogram", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const counter = new UserCounter("c_total", "a counter", ours);
    const histogram = new UserHistogram("h_seconds", "a histogram", ours, BUCKETS);
    const reference = new Counter({ name: "c_total", help: "a counter", labelNames: ["user"], registers: [theirs] });
    const referenceHistogram = new Histogram({ name: "h_seconds", help: "a histogram", labelNames: ["user"], buckets: BUCKETS, registers: [theirs] });
    for (const [user, value] of VALUES) {
      counter.inc(user);
      reference.inc({ user });
      histogram.observe(user, value);
      referenceHistogram.observe({ user }, value);
    }
    counter.inc("u2", 5);
    reference.inc({ user: "u2" }, 5);
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain('c_total{user="u2"} 8');
    expect(text).toContain('h_seconds_bucket{le="0.5",user="u1"} 3');
    expect(text).toContain('h_seconds_bucket{le="+Inf",user="u2"} 3');
  });

  it("start empty again after a reset", async () => {
    const registry = new Registry();
    const histogram = new UserHistogram("h", "h", registry, BUCKETS);
    histogram.observe("u", 1);
    registry.resetMetrics();
    expect((await histogram.get()).values).toEqual([]);
  });
});
