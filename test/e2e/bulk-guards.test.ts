import type { Client as WorkflowClient } from "@upstash/workflow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { WorkflowHost } from "../helpers/workflow.js";

/**
 * Destructive calls never widen to "everything" (DECISIONS #20): an unknown parameter, an empty id, a bad `all`
 * or a `count` outside 1–500 is a 400 that changes nothing; `count` caps every bulk call and the SDKs' loops
 * over it still finish; list endpoints refuse unknown parameters too.
 */

let sluice: TestSluice;
let dest: TestReceiver;
/** User 0's seed, which the refused calls must leave as it is; user 1 owns the items the accepted calls act on. */
let guarded: WorkflowHost;
let acting: WorkflowHost;
const seed = { messages: [] as string[], runs: [] as string[] };

/** Workflows of a host: `/broken` fails for good (a workflow DLQ entry), `/sleepy` stays started for an hour. */
function addWorkflows(host: WorkflowHost): { broken: string; sleepy: string } {
  return {
    broken: host.add("/broken", async (ctx) => {
      await ctx.run("fails", () => {
        throw new Error("broken for good");
      });
    }),
    sleepy: host.add("/sleepy", async (ctx) => {
      await ctx.sleep("long", 3600);
    }),
  };
}

async function json(res: Response): Promise<any> {
  return res.json();
}

async function workflowDlqIds(user = 0): Promise<string[]> {
  const { messages } = await json(await sluice.api("GET", "/v2/workflows/dlq?count=100", { token: sluice.token(user) }));
  return messages.map((m: { dlqId: string }) => m.dlqId).sort();
}

async function dlqIds(user = 0): Promise<string[]> {
  const { messages } = await json(await sluice.api("GET", "/v2/dlq?count=100", { token: sluice.token(user) }));
  return messages.map((m: { dlqId: string }) => m.dlqId).sort();
}

/** Everything user 0 has: which seeded messages and runs are still there, and every DLQ entry. */
async function snapshot() {
  const status = async (path: string) => (await sluice.api("GET", path)).status;
  return {
    messages: await Promise.all(seed.messages.map((id) => status(`/v2/messages/${id}`))),
    runs: await Promise.all(seed.runs.map((id) => status(`/v2/workflows/runs/${id}`))),
    dlq: await dlqIds(),
    workflowDlq: await workflowDlqIds(),
  };
}

/** Seeds `user`: pending messages, plain DLQ entries, workflow DLQ entries and started runs, `n` of each. */
async function seedUser(host: WorkflowHost, user: number, n: number) {
  const client = sluice.client(user);
  const wf = host.client();
  const urls = addWorkflows(host);
  const messages: string[] = [];
  for (let i = 0; i < n; i++) {
    messages.push((await client.publish({ url: dest.url(`/later/${i}`), body: "x", delay: 3600, label: "seed" })).messageId);
    await client.publish({ url: dest.url(`/fail/${i}`), body: "x", retries: 0, label: "seed" });
  }
  const runs: string[] = [];
  for (let i = 0; i < n; i++) {
    runs.push((await wf.trigger({ url: urls.sleepy, body: { i } })).workflowRunId);
    await wf.trigger({ url: urls.broken, body: { i }, retries: 0, label: "seed" });
  }
  await eventually(async () => (await dlqIds(user)).length === n && (await workflowDlqIds(user)).length === n, 10_000);
  // Sleeping runs have asked for their sleep: they stay started from here on.
  await eventually(async () => {
    const { runs: logs } = await wf.logs({ filter: { workflowUrl: urls.sleepy } });
    return logs.length === n && logs.every((r: any) => r.steps.some((s: any) => s.type === "next"));
  }, 10_000);
  return { messages, runs, urls };
}

beforeAll(async () => {
  quietSdkErrors();
  [sluice, dest] = await Promise.all([startSluice(), TestReceiver.start()]);
  dest.respond = (req) => (req.path.startsWith("/fail") ? { status: 500, body: "no" } : { status: 200, body: "ok" });
  [guarded, acting] = await Promise.all([WorkflowHost.start(sluice, 0), WorkflowHost.start(sluice, 1)]);
  const seeded = await seedUser(guarded, 0, 2);
  seed.messages = seeded.messages;
  seed.runs = seeded.runs;
}, 30_000);
afterAll(async () => {
  await guarded?.close();
  await acting?.close();
  await dest?.close();
  await sluice?.close();
});

const BULK = [
  { method: "DELETE", path: "/v2/messages", ids: "messageIds" },
  { method: "DELETE", path: "/v2/dlq", ids: "dlqIds" },
  { method: "POST", path: "/v2/dlq/retry", ids: "dlqIds" },
  { method: "DELETE", path: "/v2/dlq", ids: "dlqIds", source: "workflow" },
  { method: "DELETE", path: "/v2/workflows/dlq", ids: "dlqIds" },
  { method: "POST", path: "/v2/workflows/dlq/resume", ids: "dlqIds" },
  { method: "POST", path: "/v2/workflows/dlq/restart", ids: "dlqIds" },
  { method: "DELETE", path: "/v2/workflows/runs", ids: "workflowRunIds" },
];

/** Calls that must be refused, as [path suffix, query, what the error must name]. */
function refusals(ids: string): [string, string, RegExp][] {
  const many = Array.from({ length: 501 }, (_, i) => `${ids}=id${i}`).join("&");
  return [
    ["", "lable=x", /unknown query parameter "lable"/],
    ["", "label=seed&Label=seed", /unknown query parameter "Label"/],
    ["/", "", /empty .* id/],
    ["/", "label=seed", /empty .* id/],
    ["", "count=0", /invalid count 0: must be between 1 and 500/],
    ["", "count=501", /invalid count 501/],
    ["", "count=abc", /invalid count "abc"/],
    ["", "count=-1", /invalid count -1/],
    ["", "all=yes", /invalid all "yes"/],
    ["", "all=", /invalid all ""/],
    ["", "all=true&label=seed", /all=true selects everything: leave out label/],
    ["", `all=true&${ids}=x`, new RegExp(`leave out ${ids}`)],
    ["", "label=", /filter label has no value/],
    ["", `${ids}=`, new RegExp(`filter ${ids} has no value`)],
    ["", `${ids}=a&count=1`, /count applies to filters and all=true/],
    ["", `${ids}=a&label=seed`, /leave out label/],
    ["", many, new RegExp(`too many ${ids} \\(501\\)`)],
  ];
}

describe("refused bulk calls change nothing", () => {
  for (const b of BULK) {
    const name = `${b.method} ${b.path}${b.source ? `?source=${b.source}` : ""}`;
    it(`${name}: unknown field, empty id, bad all, count 0/501/abc/-1, ids with count or filters`, async () => {
      const before = await snapshot();
      expect(before.messages).toEqual([200, 200]);
      expect(before.runs).toEqual([200, 200]);
      expect(before.dlq).toHaveLength(2);
      expect(before.workflowDlq).toHaveLength(2);
      for (const [suffix, query, error] of refusals(b.ids)) {
        const q = [b.source ? `source=${b.source}` : "", query].filter(Boolean).join("&");
        const res = await sluice.api(b.method, `${b.path}${suffix}${q ? `?${q}` : ""}`);
        const label = `${name} ${suffix}?${query.slice(0, 60)}`;
        expect(res.status, label).toBe(400);
        expect((await json(res)).error, label).toMatch(error);
        expect(await snapshot(), label).toEqual(before);
      }
    });
  }

  it("the SDK's single-run cancel with an empty id is refused, not a cancel of every run", async () => {
    const before = await snapshot();
    const res = await sluice.api("DELETE", "/v2/workflows/runs/?cancel=true");
    expect(res.status).toBe(400);
    expect((await json(res)).error).toMatch(/empty workflow run id/);
    expect(await snapshot()).toEqual(before);
  });

  it("a valid count of 1 touches exactly one item", async () => {
    const res = await sluice.api("DELETE", "/v2/messages?label=seed&count=1", { token: sluice.token(2) });
    expect(await json(res)).toEqual({ cancelled: 0 });
    const before = await snapshot();
    const one = await json(await sluice.api("DELETE", "/v2/dlq?count=1"));
    expect(one.deleted).toBe(1);
    expect(one.cursor).toEqual(expect.any(String));
    const after = await snapshot();
    expect(after.dlq).toHaveLength(1);
    expect({ ...after, dlq: before.dlq }).toEqual(before);
  });
});

describe("list endpoints refuse unknown parameters", () => {
  const lists = [
    "/v2/events", "/v2/logs", "/v2/dlq", "/v2/dlq?source=workflow", "/v2/workflows/dlq", "/v2/workflows/logs",
    "/v2/workflows/events?groupBy=workflowRunId", "/v2/workflows/events", "/v2/schedules", "/v2/queues", "/v2/topics",
    "/v2/flowControl",
  ];
  for (const path of lists) {
    it(`GET ${path}`, async () => {
      const res = await sluice.api("GET", `${path}${path.includes("?") ? "&" : "?"}lable=x`);
      expect(res.status).toBe(400);
      expect((await json(res)).error).toMatch(/unknown query parameter "lable"/);
      // The token in the query is not an unknown parameter.
      const ok = await sluice.api("GET", `${path}${path.includes("?") ? "&" : "?"}qstash_token=${sluice.token()}`, { token: null });
      expect(ok.status, path).toBe(200);
    });
  }
});

/** The `cancelled` of each call until one reports 0 (at most 5 calls). */
async function cancelLoop(call: () => Promise<{ cancelled: number }>): Promise<number[]> {
  const counts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const { cancelled } = await call();
    counts.push(cancelled);
    if (cancelled === 0) break;
  }
  return counts;
}

/** The SDKs' documented loop: pass the cursor back until there is none (at most 10 calls); the total deleted. */
async function deleteInPages(call: (cursor?: string) => Promise<{ deleted: number; cursor?: string }>): Promise<number> {
  let deleted = 0;
  let cursor: string | undefined;
  for (let i = 0; i < 10; i++) {
    const res = await call(cursor);
    deleted += res.deleted;
    cursor = res.cursor;
    if (!cursor) break;
  }
  return deleted;
}

describe("what the SDKs send is accepted, and their loops over count finish", () => {
  let wf: WorkflowClient;
  let acted: Awaited<ReturnType<typeof seedUser>>;
  beforeAll(async () => {
    acted = await seedUser(acting, 1, 3);
    wf = acting.client();
  }, 30_000);

  it("qstash: messages.cancel with every filter field, callerIp and callerIP; one call cancels every match", async () => {
    const client = sluice.client(1);
    const every = {
      url: [dest.url("/later/0"), dest.url("/later/1")], urlGroup: "g", scheduleId: "s", queueName: "q", label: "seed",
      flowControlKey: "k", callerIp: "127.0.0.1", host: "127.0.0.1", path: "/later/0", fromDate: 0, toDate: Date.now() + 1000,
    };
    expect(await client.messages.cancel({ filter: every })).toEqual({ cancelled: 0 });
    expect(await client.logs({ filter: { ...every, state: "CREATED", topicName: "g" }, count: 10 })).toMatchObject({ logs: [] });
    expect(await client.dlq.listMessages({ filter: { ...every, messageId: "m", responseStatus: [500, 502] } })).toMatchObject({ messages: [] });
    // Both spellings of the caller's address select; several values of one filter are OR-ed, filters AND-ed.
    const byIP = await json(await sluice.api("GET", "/v2/dlq?callerIP=127.0.0.1&callerIP=10.0.0.1&label=seed", { token: sluice.token(1) }));
    expect(byIP.messages).toHaveLength(3);
    const byIp = await json(await sluice.api("GET", "/v2/dlq?callerIp=10.0.0.1,127.0.0.1&label=other", { token: sluice.token(1) }));
    expect(byIp.messages).toHaveLength(0);

    // One call cancels every match, as the SDK documents; count is checked but does not cut the selection short.
    // (A filter here: the sleeping runs' step messages are unfinished too.)
    expect(await cancelLoop(() => client.messages.cancel({ filter: { label: "seed" }, count: 2 }))).toEqual([3, 0]);
    for (const id of acted.messages) expect((await sluice.api("GET", `/v2/messages/${id}`, { token: sluice.token(1) })).status).toBe(404);

    // {all: true} is sent as count=100 alone (or the count given).
    const other = sluice.client(2);
    for (let i = 0; i < 3; i++) await other.publish({ url: dest.url("/later/all"), body: "x", delay: 3600 });
    expect(await cancelLoop(() => other.messages.cancel({ all: true, count: 2 }))).toEqual([3, 0]);
    await other.publish({ url: dest.url("/later/all"), body: "x", delay: 3600 });
    expect(await other.messages.deleteAll()).toBe(1);
  });

  it("qstash: dlq.retry and dlq.delete by filter with count and cursor", async () => {
    const client = sluice.client(1);
    const retried = await client.dlq.retry({ filter: { label: "seed", callerIp: "127.0.0.1" }, count: 1 });
    expect(retried.responses).toHaveLength(1);
    expect(retried.cursor).toEqual(expect.any(String));
    // The retried message fails again, so a fresh entry joins: delete everything a page at a time.
    await eventually(async () => (await dlqIds(1)).length === 3);
    expect(await deleteInPages((cursor) => client.dlq.delete({ all: true, count: 2, cursor }))).toBe(3);
    expect(await dlqIds(1)).toEqual([]);
  });

  it("workflow: logs and dlq.list with every filter field, and the legacy logs fields", async () => {
    const [run] = acted.runs;
    const filter = {
      workflowUrl: acted.urls.sleepy, workflowRunId: run, label: ["seed", "x"], fromDate: 0, toDate: Date.now() + 1000,
      callerIp: "127.0.0.1", flowControlKey: ["k"], host: new URL(acted.urls.sleepy).host, path: "/sleepy", state: "RUN_STARTED" as const,
    };
    expect((await wf.logs({ filter })).runs).toEqual([]);
    const { label: _label, flowControlKey: _key, ...matching } = filter;
    expect((await wf.logs({ filter: matching })).runs.map((r) => r.workflowRunId)).toEqual([run]);
    const legacy = await wf.logs({ workflowRunId: run, state: "RUN_STARTED", workflowUrl: acted.urls.sleepy, count: 5 });
    expect(legacy.runs.map((r) => r.workflowRunId)).toEqual([run]);
    const dlqFilter = {
      workflowUrl: acted.urls.broken, label: "seed", callerIp: ["127.0.0.1"], fromDate: 0, toDate: Date.now() + 1000,
      failureFunctionState: "CALLBACK_SUCCESS", responseStatus: 500, url: acted.urls.broken, workflowCreatedAt: 1,
    };
    expect((await wf.dlq.list({ filter: dlqFilter, count: 10 })).messages).toEqual([]);
    const { failureFunctionState: _ff, workflowCreatedAt: _at, responseStatus: _rs, ...listed } = dlqFilter;
    expect((await wf.dlq.list({ filter: listed })).messages).toHaveLength(3);
  });

  it("workflow: dlq.resume in a cursor loop, dlq.delete, and cancel of all runs capped by count", async () => {
    const first = await wf.dlq.resume({ filter: { label: "seed", workflowUrl: acted.urls.broken }, count: 2 });
    expect(first.workflowRuns).toHaveLength(2);
    expect(first.cursor).toEqual(expect.any(String));
    const second = await wf.dlq.resume({ filter: { label: "seed", workflowUrl: acted.urls.broken }, count: 2, cursor: first.cursor });
    expect(second.workflowRuns).toHaveLength(1);
    expect(second.cursor).toBeUndefined();
    // The resumed runs fail again; delete all their new entries in pages of 2.
    await eventually(async () => (await workflowDlqIds(1)).length === 3, 10_000);
    expect(await deleteInPages((cursor) => wf.dlq.delete({ all: true, count: 2, cursor }))).toBe(3);

    expect(await wf.cancel({ filter: { workflowUrlStartingWith: acted.urls.sleepy.replace("/sleepy", "/none") } })).toEqual({ cancelled: 0 });
    expect(await wf.cancel({ filter: { workflowUrl: acted.urls.sleepy, label: "nothing" } })).toEqual({ cancelled: 0 });
    expect(await cancelLoop(() => wf.cancel({ all: true, count: 2 }))).toEqual([2, 1, 0]);
    for (const id of acted.runs) expect((await sluice.api("GET", `/v2/workflows/runs/${id}`, { token: sluice.token(1) })).status).toBe(404);
  });
});
