import type { Client as WorkflowClient } from "@upstash/workflow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { WorkflowHost } from "../helpers/workflow.js";

/**
 * The workflow DLQ (SPEC §2.10, §5.11, DECISIONS #9) with the real SDK: a run whose step fails for good is listed
 * by `client.dlq.list()` and not by the plain DLQ; resume continues from the failed step, restart from the start;
 * delete; retrying and cancelling the failure callback. State is read through the DLQ API, `GET
 * /v2/workflows/runs/{id}` (404 once a run has ended) and what the workflow functions record.
 */

let sluice: TestSluice;
let host: WorkflowHost;
let client: WorkflowClient;
let hook: TestReceiver;

interface WfDlq {
  dlqId: string;
  messageId: string;
  url: string;
  workflowRunId: string;
  workflowUrl: string;
  workflowCreatedAt: number;
  responseStatus?: number;
  responseBody?: string;
  failureCallback?: string;
  failureCallbackInfo?: { state?: string; responseStatus?: number; responseBody?: string };
  failureFunctionState?: string;
  labels?: string[];
  maxRetries: number;
  [k: string]: unknown;
}

beforeAll(async () => {
  quietSdkErrors();
  sluice = await startSluice();
  [host, hook] = await Promise.all([WorkflowHost.start(sluice), TestReceiver.start()]);
  client = host.client();
});
afterAll(async () => {
  await host?.close();
  await hook?.close();
  await sluice?.close();
});

/** A three-step workflow whose middle step throws while `broken`, counting how often each step body runs. */
function threeSteps(path: string, options: Parameters<WorkflowHost["add"]>[2] = {}) {
  const state = {
    broken: true,
    counts: { s1: 0, s2: 0, s3: 0 },
    finished: [] as { runId: string; result: string; payload: unknown }[],
    url: "",
  };
  state.url = host.add(
    path,
    async (ctx) => {
      const a = await ctx.run("s1", () => {
        state.counts.s1++;
        return "a";
      });
      const b = await ctx.run("s2", () => {
        state.counts.s2++;
        if (state.broken) throw new Error("s2 is broken");
        return a + "b";
      });
      const c = await ctx.run("s3", () => {
        state.counts.s3++;
        return b + "c";
      });
      state.finished.push({ runId: ctx.workflowRunId, result: c, payload: ctx.requestPayload });
      return c;
    },
    options,
  );
  return state;
}

async function listFor(runId: string): Promise<WfDlq[]> {
  const { messages } = await client.dlq.list({ filter: { workflowRunId: runId } });
  return messages as unknown as WfDlq[];
}

/** Waits for the run's DLQ entry (and, when given, for its failure callback to reach `ffState`). */
async function dlqEntryOf(runId: string, ffState?: string, timeoutMs = 10_000): Promise<WfDlq> {
  return eventually(async () => {
    const list = await listFor(runId);
    if (list.length !== 1) return undefined;
    if (ffState && list[0].failureCallbackInfo?.state !== ffState) return undefined;
    return list[0];
  }, timeoutMs);
}

async function runStatus(runId: string): Promise<number> {
  return (await sluice.api("GET", `/v2/workflows/runs/${runId}`)).status;
}

async function statusOf(p: Promise<unknown>): Promise<number | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
}

describe("listing", () => {
  it("a run failed by its step is in client.dlq.list(), not in the plain DLQ", async () => {
    const wf = threeSteps("/list");
    const before = Date.now();
    const { workflowRunId } = await client.trigger({ url: wf.url, body: { n: 1 }, retries: 0, label: "listed" });
    const e = await dlqEntryOf(workflowRunId, "CALLBACK_SUCCESS");
    expect(e.workflowRunId).toBe(workflowRunId);
    expect(e.workflowUrl).toBe(wf.url);
    expect(e.url).toBe(wf.url);
    expect(e.dlqId).toEqual(expect.any(String));
    expect(e.messageId).toMatch(/^msg_/);
    expect(e.workflowCreatedAt).toBeGreaterThanOrEqual(before - 1000);
    expect(e.responseStatus).toBe(500);
    expect(e.responseBody).toContain("s2 is broken");
    expect(e.maxRetries).toBe(0);
    // client.trigger's failure URL defaults to the workflow; without a failureFunction the endpoint answers 200.
    expect(e.failureCallback).toBe(wf.url);
    expect(e.failureFunctionState).toBe("CALLBACK_SUCCESS");
    expect(e.labels).toEqual(["listed"]);
    expect(wf.counts).toEqual({ s1: 1, s2: 1, s3: 0 });
    expect(await runStatus(workflowRunId)).toBe(404);

    // The plain DLQ hides it, in the list and by id.
    const plain = await sluice.client().dlq.listMessages();
    expect(plain.messages.map((m) => m.dlqId)).not.toContain(e.dlqId);
    expect((await sluice.api("GET", `/v2/dlq/${e.dlqId}`)).status).toBe(404);

    // The same entry through the workflow paths.
    const one = await sluice.api("GET", `/v2/workflows/dlq/${e.dlqId}`);
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ dlqId: e.dlqId, workflowRunId, workflowUrl: wf.url });
    const listed = await (await sluice.api("GET", `/v2/workflows/dlq?workflowRunId=${workflowRunId}`)).json();
    expect(listed.messages.map((m: WfDlq) => m.dlqId)).toEqual([e.dlqId]);
  });

  it("filters: workflowUrl, label, failureFunctionState, workflowCreatedAt, dates; paging with a cursor", async () => {
    const wf = threeSteps("/filters");
    const a = await client.trigger({ url: wf.url, body: "a", retries: 0, label: "fa" });
    const b = await client.trigger({ url: wf.url, body: "b", retries: 0, label: "fb" });
    const ea = await dlqEntryOf(a.workflowRunId, "CALLBACK_SUCCESS");
    await dlqEntryOf(b.workflowRunId, "CALLBACK_SUCCESS");
    const ids = async (filter: Record<string, unknown>, count?: number): Promise<string[]> => {
      const { messages } = await client.dlq.list({ filter, count } as Parameters<WorkflowClient["dlq"]["list"]>[0]);
      return (messages as unknown as WfDlq[]).map((m) => m.workflowRunId);
    };
    expect((await ids({ workflowUrl: wf.url })).sort()).toEqual([a.workflowRunId, b.workflowRunId].sort());
    expect(await ids({ workflowUrl: host.url("/nothing-here") })).toEqual([]);
    expect(await ids({ workflowUrl: wf.url, label: "fb" })).toEqual([b.workflowRunId]);
    expect((await ids({ workflowUrl: wf.url, failureFunctionState: "CALLBACK_SUCCESS" })).length).toBe(2);
    expect(await ids({ workflowUrl: wf.url, failureFunctionState: "CALLBACK_FAIL" })).toEqual([]);
    expect(await ids({ workflowCreatedAt: ea.workflowCreatedAt, workflowUrl: wf.url })).toContain(a.workflowRunId);
    expect(await ids({ workflowUrl: wf.url, fromDate: Date.now() + 60_000 })).toEqual([]);
    expect(await ids({ workflowUrl: wf.url, responseStatus: 500 })).toHaveLength(2);

    // One per page, newest first, then the cursor continues and ends.
    const p1 = await client.dlq.list({ count: 1, filter: { workflowUrl: wf.url } });
    expect(p1.messages).toHaveLength(1);
    expect(p1.cursor).toEqual(expect.any(String));
    const p2 = await client.dlq.list({ count: 1, cursor: p1.cursor, filter: { workflowUrl: wf.url } });
    expect(p2.messages).toHaveLength(1);
    expect([p1.messages[0].workflowRunId, p2.messages[0].workflowRunId].sort()).toEqual([a.workflowRunId, b.workflowRunId].sort());
    expect(p2.cursor).toBeUndefined();
  });

  it("a failed context.call is the run's call result, not a DLQ entry of either kind", async () => {
    hook.respond = (req) => (req.path.startsWith("/third-party") ? { status: 503, body: "down" } : { status: 200, body: "ok" });
    const seen: number[] = [];
    const url = host.add("/call", async (ctx) => {
      const r = await ctx.call("tp", { url: hook.url("/third-party"), method: "POST", body: "x", retries: 0 });
      await ctx.run("after", () => {
        seen.push(r.status);
      });
    });
    const { workflowRunId } = await client.trigger({ url, retries: 0 });
    await eventually(() => seen.length === 1, 10_000);
    expect(seen).toEqual([503]);
    await eventually(async () => (await runStatus(workflowRunId)) === 404, 5000);
    expect(await listFor(workflowRunId)).toEqual([]);
    const plain = await sluice.client().dlq.listMessages();
    expect(plain.messages.filter((m) => m.url === hook.url("/third-party"))).toEqual([]);
  });

  it("a plain bulk delete leaves workflow entries alone; with source=workflow it deletes them", async () => {
    const wf = threeSteps("/plain-delete");
    const { workflowRunId } = await client.trigger({ url: wf.url, retries: 0 });
    const e = await dlqEntryOf(workflowRunId);
    const del = await sluice.api("DELETE", "/v2/dlq?count=100");
    expect(del.status).toBe(200);
    expect((await listFor(workflowRunId)).map((m) => m.dlqId)).toEqual([e.dlqId]);
    const wdel = await sluice.api("DELETE", `/v2/dlq?source=workflow&workflowRunId=${workflowRunId}`);
    expect(await wdel.json()).toEqual({ deleted: 1 });
    expect(await listFor(workflowRunId)).toEqual([]);
  });
});

describe("resume", () => {
  it("continues from the failed step in a new run; earlier steps are not run again", async () => {
    const wf = threeSteps("/resume");
    const { workflowRunId } = await client.trigger({ url: wf.url, body: "payload", retries: 0 });
    const e = await dlqEntryOf(workflowRunId);
    expect(wf.counts).toEqual({ s1: 1, s2: 1, s3: 0 });
    wf.broken = false;

    const resumed = await client.dlq.resume({ dlqId: e.dlqId });
    expect(resumed.workflowRunId).toMatch(/^wfr_/);
    expect(resumed.workflowRunId).not.toBe(workflowRunId);
    expect(Number(resumed.workflowCreatedAt)).toBeGreaterThanOrEqual(e.workflowCreatedAt);

    await eventually(() => wf.finished.length === 1, 10_000);
    expect(wf.finished[0]).toEqual({ runId: resumed.workflowRunId, result: "abc", payload: "payload" });
    expect(wf.counts).toEqual({ s1: 1, s2: 2, s3: 1 });
    await eventually(async () => (await runStatus(resumed.workflowRunId)) === 404, 5000);
    // The entry was consumed; the old run stays failed (404) and is not listed any more.
    expect(await listFor(workflowRunId)).toEqual([]);
    // The logs: the old run failed with this entry; the new one succeeded with the first step copied over.
    const [failedLog] = (await client.logs({ workflowRunId })).runs as any[];
    expect(failedLog).toMatchObject({ workflowState: "RUN_FAILED", dlqId: e.dlqId });
    const [resumedLog] = (await client.logs({ workflowRunId: resumed.workflowRunId })).runs as any[];
    expect(resumedLog.workflowState).toBe("RUN_SUCCESS");
    expect(resumedLog.steps.flatMap((g: any) => g.steps).map((st: any) => st.stepName)).toEqual(["init", "s1", "s2", "s3"]);
    expect(await runStatus(workflowRunId)).toBe(404);
    expect((await sluice.api("GET", `/v2/workflows/dlq/${e.dlqId}`)).status).toBe(404);
  });

  it("override headers apply to the new run, which keeps the old run's configuration otherwise", async () => {
    const wf = threeSteps("/resume-overrides");
    const { workflowRunId } = await client.trigger({ url: wf.url, body: "p", retries: 0, label: "first" });
    const e = await dlqEntryOf(workflowRunId);
    // Still broken: the resumed run fails again at the same step, with the new label and the old retries (0).
    const r = await sluice.api("POST", `/v2/workflows/dlq/resume/${e.dlqId}`, { headers: { "Upstash-Label": "second" } });
    expect(r.status).toBe(200);
    const again = (await r.json()) as { workflowRunId: string; workflowCreatedAt: number };
    expect(again.workflowCreatedAt).toEqual(expect.any(Number));
    const e2 = await dlqEntryOf(again.workflowRunId, "CALLBACK_SUCCESS");
    expect(e2.labels).toEqual(["second"]);
    expect(e2.maxRetries).toBe(0);
    expect(e2.failureCallback).toBe(wf.url);
    expect(wf.counts).toEqual({ s1: 1, s2: 2, s3: 0 });

    // A resume of the resumed run, with the SDK's retries/flow-control overrides, after the fix.
    wf.broken = false;
    const third = await client.dlq.resume({ dlqId: e2.dlqId, retries: 2, flowControl: { key: "wf-dlq-key", parallelism: 1 } });
    await eventually(() => wf.finished.length === 1, 10_000);
    expect(wf.finished[0].runId).toBe(third.workflowRunId);
    expect(wf.counts).toEqual({ s1: 1, s2: 3, s3: 1 });
  });

  it("Upstash-Delay holds the redelivered step; Upstash-Failure-Callback replaces the failure URL", async () => {
    hook.respond = () => ({ status: 200 });
    const wf = threeSteps("/resume-delay");
    const { workflowRunId } = await client.trigger({ url: wf.url, retries: 0 });
    const e = await dlqEntryOf(workflowRunId, "CALLBACK_SUCCESS");
    // Still broken, to a new failure URL, after a delay.
    const r = await sluice.api("POST", `/v2/workflows/dlq/resume?dlqIds=${e.dlqId}`, {
      headers: { "Upstash-Delay": "1s", "Upstash-Failure-Callback": hook.url("/new-failure-url") },
    });
    expect(r.status).toBe(200);
    const { workflowRuns } = (await r.json()) as { workflowRuns: { workflowRunId: string }[] };
    expect(workflowRuns).toHaveLength(1);
    await new Promise((res) => setTimeout(res, 400));
    expect(wf.counts.s2).toBe(1);
    const e2 = await dlqEntryOf(workflowRuns[0].workflowRunId, "CALLBACK_SUCCESS", 5000);
    expect(wf.counts).toEqual({ s1: 1, s2: 2, s3: 0 });
    expect(e2.failureCallback).toBe(hook.url("/new-failure-url"));
    const got = hook.at("/new-failure-url");
    expect(got).toHaveLength(1);
    expect(JSON.parse(got[0].body.toString("utf8")).workflowRunId).toBe(workflowRuns[0].workflowRunId);
  });

  it("a double resume creates one run", async () => {
    const wf = threeSteps("/double");
    const { workflowRunId } = await client.trigger({ url: wf.url, retries: 0 });
    const e = await dlqEntryOf(workflowRunId);
    wf.broken = false;
    const results = await Promise.allSettled([client.dlq.resume({ dlqId: e.dlqId }), client.dlq.resume({ dlqId: e.dlqId })]);
    const runs = results.filter((r) => r.status === "fulfilled" && r.value).map((r) => (r as PromiseFulfilledResult<{ workflowRunId: string }>).value);
    expect(runs).toHaveLength(1);
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    if (failed) expect((failed.reason as { status?: number }).status).toBe(404);
    await eventually(() => wf.finished.length === 1, 10_000);
    // Give a second run time to show up if one had been created.
    await new Promise((r) => setTimeout(r, 500));
    expect(wf.finished.map((f) => f.runId)).toEqual([runs[0].workflowRunId]);
    expect(wf.counts).toEqual({ s1: 1, s2: 2, s3: 1 });
  });

  it("bulk resume by filter, a page at a time with a cursor", async () => {
    const wf = threeSteps("/bulk");
    const triggered = await Promise.all([1, 2, 3].map((n) => client.trigger({ url: wf.url, body: `b${n}`, retries: 0, label: "bulk" })));
    for (const t of triggered) await dlqEntryOf(t.workflowRunId);
    wf.broken = false;
    const first = await client.dlq.resume({ filter: { label: "bulk", workflowUrl: wf.url }, count: 2 });
    expect(first.workflowRuns).toHaveLength(2);
    expect(first.cursor).toEqual(expect.any(String));
    const second = await client.dlq.resume({ filter: { label: "bulk", workflowUrl: wf.url }, count: 2, cursor: first.cursor });
    expect(second.workflowRuns).toHaveLength(1);
    expect(second.cursor).toBeUndefined();
    await eventually(() => wf.finished.length === 3, 10_000);
    expect(wf.finished.map((f) => f.payload).sort()).toEqual(["b1", "b2", "b3"]);
    expect(wf.counts).toEqual({ s1: 3, s2: 6, s3: 3 });
  });
});

describe("restart", () => {
  it("runs the workflow again from its initial payload in a new run", async () => {
    const wf = threeSteps("/restart");
    const { workflowRunId } = await client.trigger({ url: wf.url, body: { start: 1 }, retries: 0, headers: { "X-Kept": "yes" } });
    const e = await dlqEntryOf(workflowRunId);
    wf.broken = false;
    const restarted = await client.dlq.restart({ dlqId: e.dlqId });
    expect(restarted.workflowRunId).toMatch(/^wfr_/);
    expect(restarted.workflowRunId).not.toBe(workflowRunId);
    await eventually(() => wf.finished.length === 1, 10_000);
    expect(wf.finished[0]).toEqual({ runId: restarted.workflowRunId, result: "abc", payload: { start: 1 } });
    expect(wf.counts).toEqual({ s1: 2, s2: 2, s3: 1 });
    // The forwarded header of the trigger reached the restarted run's deliveries.
    const hits = host.hitsTo("/restart").filter((h) => h.headers["upstash-workflow-runid"] === restarted.workflowRunId);
    expect(hits.length).toBeGreaterThan(0);
    expect(hits.every((h) => h.headers["x-kept"] === "yes")).toBe(true);
    expect(await listFor(workflowRunId)).toEqual([]);
  });

  it("single-id restart path, and restart after a resume failed again", async () => {
    const wf = threeSteps("/restart-single");
    const { workflowRunId } = await client.trigger({ url: wf.url, body: "r", retries: 0 });
    const e = await dlqEntryOf(workflowRunId);
    const resumed = await client.dlq.resume({ dlqId: e.dlqId });
    const e2 = await dlqEntryOf(resumed.workflowRunId);
    wf.broken = false;
    const r = await sluice.api("POST", `/v2/workflows/dlq/restart/${e2.dlqId}`);
    expect(r.status).toBe(200);
    const { workflowRunId: newId } = (await r.json()) as { workflowRunId: string };
    await eventually(() => wf.finished.length === 1, 10_000);
    expect(wf.finished[0]).toMatchObject({ runId: newId, payload: "r" });
    expect(wf.counts).toEqual({ s1: 2, s2: 3, s3: 1 });
  });
});

describe("delete", () => {
  it("by id, by ids, by filter; the runs stay ended", async () => {
    const wf = threeSteps("/delete");
    const runs = await Promise.all([1, 2, 3].map(() => client.trigger({ url: wf.url, retries: 0 })));
    const entries = await Promise.all(runs.map((r) => dlqEntryOf(r.workflowRunId)));
    expect(await client.dlq.delete(entries[0].dlqId)).toEqual({ deleted: 1 });
    expect(await listFor(runs[0].workflowRunId)).toEqual([]);
    expect((await sluice.api("DELETE", `/v2/workflows/dlq/${entries[0].dlqId}`)).status).toBe(404);
    // Unknown ids in a bulk delete are just not counted.
    expect(await client.dlq.delete([entries[1].dlqId, "1-0"])).toEqual({ deleted: 1 });
    const single = await sluice.api("DELETE", `/v2/workflows/dlq/${entries[2].dlqId}`);
    expect(single.status).toBe(200);
    expect(await single.json()).toEqual({ deleted: 1 });
    for (const r of runs) expect(await runStatus(r.workflowRunId)).toBe(404);

    const wf2 = threeSteps("/delete-filter");
    const more = await Promise.all([1, 2].map(() => client.trigger({ url: wf2.url, retries: 0 })));
    for (const r of more) await dlqEntryOf(r.workflowRunId);
    const other = await client.trigger({ url: wf.url, retries: 0 });
    await dlqEntryOf(other.workflowRunId);
    expect(await client.dlq.delete({ filter: { workflowUrl: wf2.url } })).toEqual({ deleted: 2 });
    expect((await client.dlq.list({ filter: { workflowUrl: wf2.url } })).messages).toEqual([]);
    expect(await listFor(other.workflowRunId)).toHaveLength(1);
    // `{all: true}` is `?count=100` with no filter: everything of this user.
    const all = await client.dlq.delete({ all: true });
    expect(all.deleted).toBeGreaterThanOrEqual(1);
    expect((await client.dlq.list()).messages).toEqual([]);
  });
});

describe("failure callback", () => {
  it("retryFailureFunction sends a failed failureFunction again", async () => {
    let ffBroken = true;
    const ffCalls: { runId: string; failStatus: number; ok: boolean; payload: unknown }[] = [];
    const wf = threeSteps("/ff", {
      failureFunction: async ({ context, failStatus }) => {
        ffCalls.push({ runId: context.workflowRunId, failStatus, ok: !ffBroken, payload: context.requestPayload });
        if (ffBroken) throw new Error("failure function is broken too");
        return "handled";
      },
    });
    const { workflowRunId } = await client.trigger({ url: wf.url, body: { p: 1 }, retries: 0 });
    const e = await dlqEntryOf(workflowRunId, "CALLBACK_FAIL");
    expect(e.failureCallbackInfo?.responseStatus).toBe(500);
    expect(ffCalls).toHaveLength(1);
    const byState = await client.dlq.list({ filter: { failureFunctionState: "CALLBACK_FAIL", workflowRunId } });
    expect(byState.messages).toHaveLength(1);

    ffBroken = false;
    const r = (await client.dlq.retryFailureFunction({ dlqId: e.dlqId })) as unknown as { workflowRunId: string; workflowCreatedAt: number };
    expect(r).toEqual({ workflowRunId, workflowCreatedAt: e.workflowCreatedAt });
    const after = await dlqEntryOf(workflowRunId, "CALLBACK_SUCCESS");
    expect(after.dlqId).toBe(e.dlqId);
    expect(ffCalls).toHaveLength(2);
    expect(ffCalls[1]).toEqual({ runId: workflowRunId, failStatus: 500, ok: true, payload: { p: 1 } });

    // Not failed any more: a second retry is refused.
    expect(await statusOf(client.dlq.retryFailureFunction({ dlqId: e.dlqId }))).toBe(400);
  });

  it("retries a failureUrl that failed; cancelling needs one in progress", async () => {
    let healed = false;
    hook.respond = (req) => (req.path.startsWith("/fail-hook") ? (healed ? { status: 200 } : { status: 500, body: "hook down" }) : { status: 200 });
    const wf = threeSteps("/furl");
    const { workflowRunId } = await client.trigger({ url: wf.url, body: "fu", retries: 0, failureUrl: hook.url("/fail-hook") });
    const e = await dlqEntryOf(workflowRunId, "CALLBACK_FAIL");
    expect(e.failureCallback).toBe(hook.url("/fail-hook"));
    expect(e.failureCallbackInfo?.responseBody).toBe("hook down");
    const first = hook.at("/fail-hook");
    expect(first).toHaveLength(1);
    const body = JSON.parse(first[0].body.toString("utf8"));
    expect(body).toMatchObject({ workflowRunId, status: 500, url: wf.url, dlqId: e.dlqId });
    expect(Buffer.from(body.sourceBody, "base64").toString("utf8")).toBe("fu");

    // Cancel needs an in-progress callback.
    expect((await sluice.api("DELETE", `/v2/workflows/dlq/callback/${e.dlqId}`)).status).toBe(400);

    healed = true;
    const r = await sluice.api("POST", `/v2/workflows/dlq/callback/${e.dlqId}`);
    expect(r.status).toBe(200);
    await dlqEntryOf(workflowRunId, "CALLBACK_SUCCESS");
    expect(hook.at("/fail-hook")).toHaveLength(2);
    expect(JSON.parse(hook.at("/fail-hook")[1].body.toString("utf8"))).toMatchObject({ workflowRunId, dlqId: e.dlqId, status: 500 });
  });

  it("cancels a failure callback in progress", async () => {
    // The hook answers slowly, so the failure callback is in flight when it is cancelled.
    hook.respond = (req) => (req.path.startsWith("/slow-hook") ? { status: 500, body: "late", delayMs: 1500 } : { status: 200 });
    const wf = threeSteps("/fcancel");
    const { workflowRunId } = await client.trigger({ url: wf.url, retries: 0, failureUrl: hook.url("/slow-hook") });
    const e = await dlqEntryOf(workflowRunId, "CALLBACK_INPROGRESS");
    await eventually(() => hook.at("/slow-hook").length === 1, 5000);
    // The vendor's OpenAPI answers with a bare 302.
    const r = await sluice.api("DELETE", `/v2/workflows/dlq/callback/${e.dlqId}`);
    expect(r.status).toBe(302);
    expect(await r.text()).toBe("");
    expect((await listFor(workflowRunId))[0].failureCallbackInfo?.state).toBe("CALLBACK_CANCELED");
    // The attempt in flight ends as cancelled, not failed; a cancelled callback is not retried.
    await new Promise((res) => setTimeout(res, 1800));
    expect((await listFor(workflowRunId))[0].failureCallbackInfo?.state).toBe("CALLBACK_CANCELED");
    expect((await sluice.api("POST", `/v2/workflows/dlq/callback/${e.dlqId}`)).status).toBe(400);
    expect((await sluice.api("DELETE", `/v2/workflows/dlq/callback/${e.dlqId}`)).status).toBe(400);
    expect(hook.at("/slow-hook")).toHaveLength(1);
  });
});

describe("bad input", () => {
  it("unknown and other users' entries are 404; wrong state and bad overrides are 400", async () => {
    const wf = threeSteps("/bad");
    const { workflowRunId } = await client.trigger({ url: wf.url, retries: 0 });
    const e = await dlqEntryOf(workflowRunId, "CALLBACK_SUCCESS");

    expect(await statusOf(client.dlq.resume({ dlqId: "1700000000000-1" }))).toBe(404);
    expect(await statusOf(client.dlq.restart({ dlqId: "1700000000000-1" }))).toBe(404);
    expect(await statusOf(client.dlq.retryFailureFunction({ dlqId: "1700000000000-1" }))).toBe(404);
    for (const [method, path] of [
      ["GET", "/v2/workflows/dlq/nope"],
      ["DELETE", "/v2/workflows/dlq/nope"],
      ["POST", "/v2/workflows/dlq/resume/nope"],
      ["POST", "/v2/workflows/dlq/restart/nope"],
      ["POST", "/v2/workflows/dlq/callback/nope"],
      ["DELETE", "/v2/workflows/dlq/callback/nope"],
    ]) {
      expect((await sluice.api(method, path)).status, `${method} ${path}`).toBe(404);
    }

    // Another user sees nothing of it.
    const other = sluice.token(1);
    for (const [method, path] of [
      ["GET", `/v2/workflows/dlq/${e.dlqId}`],
      ["DELETE", `/v2/workflows/dlq/${e.dlqId}`],
      ["POST", `/v2/workflows/dlq/resume/${e.dlqId}`],
      ["POST", `/v2/workflows/dlq/restart/${e.dlqId}`],
      ["POST", `/v2/workflows/dlq/callback/${e.dlqId}`],
      ["POST", `/v2/workflows/dlq/resume?dlqIds=${e.dlqId}`],
    ]) {
      expect((await sluice.api(method, path, { token: other })).status, `${method} ${path}`).toBe(404);
    }
    const theirs = await (await sluice.api("GET", "/v2/dlq?source=workflow", { token: other })).json();
    expect(theirs.messages).toEqual([]);
    expect(await (await sluice.api("DELETE", "/v2/workflows/dlq?count=100", { token: other })).json()).toEqual({ deleted: 0 });

    // The failure callback succeeded: nothing to retry or cancel.
    expect(await statusOf(client.dlq.retryFailureFunction({ dlqId: e.dlqId }))).toBe(400);
    expect((await sluice.api("DELETE", `/v2/workflows/dlq/callback/${e.dlqId}`)).status).toBe(400);

    // Bad overrides and filters change nothing.
    expect((await sluice.api("POST", `/v2/workflows/dlq/resume/${e.dlqId}`, { headers: { "Upstash-Retries": "lots" } })).status).toBe(400);
    expect((await sluice.api("POST", `/v2/workflows/dlq/restart?dlqIds=${e.dlqId}`, { headers: { "Upstash-Flow-Control-Value": "parallelism=1" } })).status).toBe(400);
    expect((await sluice.api("GET", "/v2/workflows/dlq?failureFunctionState=SOMETIMES")).status).toBe(400);
    expect((await sluice.api("GET", "/v2/workflows/dlq?workflowCreatedAt=yesterday")).status).toBe(400);
    expect((await sluice.api("DELETE", "/v2/workflows/dlq?label=")).status).toBe(400);
    expect((await sluice.api("POST", "/v2/workflows/dlq/resume?host=x")).status).toBe(400);
    expect((await sluice.api("POST", `/v2/dlq/retry?source=workflow&dlqIds=${e.dlqId}`)).status).toBe(400);
    expect((await sluice.api("POST", `/v2/dlq/retry/${e.dlqId}`)).status).toBe(404);
    expect((await sluice.api("DELETE", `/v2/dlq/${e.dlqId}`)).status).toBe(404);
    expect((await listFor(workflowRunId)).map((m) => m.dlqId)).toEqual([e.dlqId]);

    // Too many ids for one resume call (the bulk limit, DECISIONS #20).
    const many = Array.from({ length: 501 }, (_, i) => `dlqIds=1-${i}`).join("&");
    expect((await sluice.api("POST", `/v2/workflows/dlq/resume?${many}`)).status).toBe(400);
  });
});
