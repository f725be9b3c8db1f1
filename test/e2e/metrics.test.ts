import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";

/** The value of one sample line of the Prometheus text: `name{labels} value`; undefined when absent. */
function sample(text: string, name: string, labels = ""): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `) || (labels === "" && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

const USER = '{user="defaultUser"}';

let sluice: TestSluice;
let dest: TestReceiver;

beforeAll(async () => {
  const base = loadConfig("dev", { memory: true }, {});
  // Store counts recounted on every scrape, so the test sees each change at once.
  sluice = await startSluice({ observability: { ...base.observability, metricsStoreCountMs: 0 } });
  dest = await TestReceiver.start();
  dest.respond = (req) => (req.path.startsWith("/fail") ? { status: 500, body: "down" } : { status: 200, body: "ok" });
});
afterAll(async () => {
  await dest.close();
  await sluice.close();
});

const scrape = async (): Promise<string> => {
  const res = await fetch(`${sluice.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return res.text();
};

describe("GET /metrics", () => {
  it("counts publishes, deliveries, retries, failures and cancels by user, with their histograms and gauges", async () => {
    const before = await scrape();
    expect(sample(before, "sluice_messages_published_total", USER) ?? 0).toBe(0);
    const client = sluice.client();

    const a = await client.publish({ url: dest.url("/ok/1"), body: "a" });
    await client.publish({ url: dest.url("/ok/2"), body: "b" });
    const failing = await client.publish({ url: dest.url("/fail"), body: "c", retries: 1, retryDelay: "0" });
    const delayed = await client.publish({ url: dest.url("/ok/later"), body: "d", delay: 3600 });
    await client.schedules.create({ destination: dest.url("/ok/tick"), cron: "0 0 1 1 *" });

    // Two deliveries, and two attempts of the failing one: it ends in the DLQ.
    await eventually(async () => (await client.dlq.listMessages()).messages.some((m) => m.messageId === failing.messageId));
    let text = await scrape();
    expect(sample(text, "sluice_messages_published_total", USER)).toBe(4);
    expect(sample(text, "sluice_messages_delivered_total", USER)).toBe(2);
    expect(sample(text, "sluice_messages_retried_total", USER)).toBe(1);
    expect(sample(text, "sluice_messages_failed_total", USER)).toBe(1);
    expect(sample(text, "sluice_attempt_duration_seconds_count", USER)).toBe(4);
    expect(sample(text, "sluice_delivery_lag_seconds_count", USER)).toBe(4);
    expect(sample(text, "sluice_publish_to_delivery_seconds_count", USER)).toBe(2);
    expect(sample(text, "sluice_dlq_entries")).toBe(1);
    expect(sample(text, "sluice_messages_pending")).toBe(1);
    expect(sample(text, "sluice_messages_due_waiting")).toBe(0);
    expect(sample(text, "sluice_schedules")).toBe(1);
    expect(sample(text, "sluice_workflow_runs_active")).toBe(0);
    expect(sample(text, "sluice_attempts_in_flight")).toBe(0);
    expect(sample(text, "sluice_store_commit_duration_seconds_count")).toBeGreaterThan(0);
    expect(sample(text, "sluice_store_commit_ops_sum")).toBeGreaterThanOrEqual(4);
    // The default process metrics are there too.
    expect(sample(text, "sluice_process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(sample(text, "sluice_nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
    // Labels stay bounded: no message id appears anywhere.
    for (const id of [a.messageId, failing.messageId, delayed.messageId]) expect(text).not.toContain(id);

    await client.messages.cancel(delayed.messageId);
    text = await scrape();
    expect(sample(text, "sluice_messages_cancelled_total", USER)).toBe(1);
    expect(sample(text, "sluice_messages_pending")).toBe(0);
  });

  it("counts attempts in flight while a destination holds them", async () => {
    let release!: () => void;
    const held = new Promise((r) => (release = () => r(undefined)));
    const slow = await TestReceiver.start();
    slow.respond = () => ({ status: 200, until: held });
    try {
      await sluice.client().publish({ url: slow.url("/held"), body: "x" });
      await slow.waitFor(1);
      expect(sample(await scrape(), "sluice_attempts_in_flight")).toBe(1);
      release();
      await eventually(async () => sample(await scrape(), "sluice_attempts_in_flight") === 0);
    } finally {
      release();
      await slow.close();
    }
  });
});

describe("the metrics documentation", () => {
  const families = async (): Promise<string[]> => [...(await scrape()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);

  it("docs/operations.md lists every metric Sluice itself defines", async () => {
    const doc = readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8");
    const own = (await families()).filter((f) => !/^sluice_(process|nodejs)_/.test(f));
    expect(own.length).toBeGreaterThan(10);
    for (const f of own) expect(doc, f).toContain(`\`${f}\``);
  });

  it("the Grafana dashboard only queries metrics that exist", async () => {
    const dashboard = readFileSync(new URL("../../docs/grafana-dashboard.json", import.meta.url), "utf8");
    const known = new Set((await families()).flatMap((f) => [f, `${f}_bucket`, `${f}_sum`, `${f}_count`]));
    const queried = [...dashboard.matchAll(/\bsluice_[a-z0-9_]+/g)].map((m) => m[0]);
    expect(queried.length).toBeGreaterThan(10);
    for (const name of queried) expect(known.has(name), name).toBe(true);
  });
});

describe("who may read /metrics", () => {
  it("dev mode serves it without a token; serve mode needs SLUICE_METRICS_TOKEN unless SLUICE_METRICS_PUBLIC is set", () => {
    const users = { SLUICE_USERS: "alice:pw" };
    expect(loadConfig("dev", { memory: true }, {}).observability.metricsPublic).toBe(true);
    expect(loadConfig("serve", { memory: true }, users).observability).toMatchObject({ metricsPublic: false, metricsToken: undefined });
    expect(loadConfig("serve", { memory: true }, { ...users, SLUICE_METRICS_TOKEN: "t" }).observability.metricsToken).toBe("t");
    expect(loadConfig("serve", { memory: true }, { ...users, SLUICE_METRICS_PUBLIC: "true" }).observability.metricsPublic).toBe(true);
    expect(() => loadConfig("dev", { memory: true }, { SLUICE_METRICS_STORE_COUNT_INTERVAL: "soon" })).toThrow(/metricsStoreCountInterval/);
  });

  it("with a metrics token: none or a wrong one is a 401, a user's token is not enough, the right one reads", async () => {
    const base = loadConfig("dev", { memory: true }, {});
    const guarded = await startSluice({ observability: { ...base.observability, metricsPublic: false, metricsToken: "scrape-secret" } });
    try {
      const missing = await guarded.api("GET", "/metrics", { token: null });
      expect(missing.status).toBe(401);
      expect((await missing.json()).error).toMatch(/SLUICE_METRICS_TOKEN/);
      const userToken = await guarded.api("GET", "/metrics");
      expect(userToken.status).toBe(401);
      expect(await userToken.json()).toEqual({ error: "invalid metrics token" });
      const ok = await guarded.api("GET", "/metrics", { token: "scrape-secret" });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain("sluice_messages_published_total");
    } finally {
      await guarded.close();
    }
  });

  it("not public and no metrics token configured: a 403 that names the settings", async () => {
    const base = loadConfig("dev", { memory: true }, {});
    const closed = await startSluice({ observability: { ...base.observability, metricsPublic: false } });
    try {
      const res = await closed.api("GET", "/metrics", { token: null });
      expect(res.status).toBe(403);
      expect((await res.json()).error).toMatch(/SLUICE_METRICS_TOKEN.*SLUICE_METRICS_PUBLIC/);
    } finally {
      await closed.close();
    }
  });
});
