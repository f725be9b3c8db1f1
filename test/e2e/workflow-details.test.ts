import type { Client as WorkflowClient } from "@upstash/workflow";
import { WorkflowNonRetryableError } from "@upstash/workflow";
import { createWorkflow, serveMany } from "@upstash/workflow/cloudflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";

/**
 * Details of the workflow protocol that the Workflow SDK's own end-to-end suite expects of the service (issue 13
 * §2), and the run-log query options of the vendor's OpenAPI: each through the real server with the official SDK.
 */

let sluice: TestSluice;
let host: WorkflowHost;
let client: WorkflowClient;

beforeAll(async () => {
  quietSdkErrors();
  sluice = await startSluice();
  host = await WorkflowHost.start(sluice);
  client = host.client();
});
afterAll(async () => {
  await host?.close();
  await sluice?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the trigger REST API and older SDKs", () => {
  it("a run started by POST /v2/trigger fails when its endpoint answers without an SDK >= 1.0 header", async () => {
    // Speaks the protocol (its version header) like an SDK before 1.0, which cannot continue a server-started run.
    const url = host.route("/old-sdk", async () => new Response(JSON.stringify({ ok: true }), { headers: { "Upstash-Workflow-Sdk-Version": "1" } }));
    const res = await sluice.api("POST", `/v2/trigger/${url}`, { body: "{}", headers: { "content-type": "application/json", "Upstash-Retries": "0" } });
    expect(res.status).toBe(200);
    const { workflowRunId } = await res.json();
    const log = await waitForRun(client, workflowRunId, ["RUN_FAILED"]);
    expect(log.steps).toHaveLength(2);
    expect(log.steps[0].steps).toHaveLength(1);
    expect(log.steps[0].steps[0].state).toBe("STEP_SUCCESS");
    expect(log.steps[1].type).toBe("next");
    expect(log.steps[1].steps[0].state).toBe("STEP_FAILED");
    expect(log.steps[1].steps[0].errors[0].error).toBe("trigger rest api is only usable with sdk versions after v1.0.0 major version");
    expect(host.hitsTo("/old-sdk")).toHaveLength(1);
  });

  it("the same endpoint with an SDK >= 1.0 header is not failed by it", async () => {
    const url = host.route(
      "/new-sdk",
      async () => new Response("{}", { headers: { "Upstash-Workflow-Sdk-Version": "1", "Upstash-Workflow-Sdk": "v1.3.2" } }),
    );
    const res = await sluice.api("POST", `/v2/trigger/${url}`, { body: "{}", headers: { "content-type": "application/json" } });
    const { workflowRunId } = await res.json();
    await eventually(() => host.hitsTo("/new-sdk").length === 1, 5000);
    await sleep(200);
    const { runs } = await client.logs({ workflowRunId });
    expect(runs[0].workflowState).toBe("RUN_STARTED");
    await client.cancel({ ids: workflowRunId });
  });
});

describe("parallel branches and late answers in the run log", () => {
  it("a failing parallel branch is shown by name in its group; the invoked run's late result is recorded there", async () => {
    let childSteps = 0;
    const child = createWorkflow(async (ctx: any) => {
      await ctx.sleep("child sleep", 1);
      await ctx.run("child step", () => ++childSteps);
      return "child done";
    });
    const parent = createWorkflow(
      async (ctx: any) => {
        await Promise.all([
          ctx.invoke("invoke child", { workflow: child, body: "hi", retries: 0 }),
          ctx.run("failing step", async () => {
            await sleep(200);
            throw new WorkflowNonRetryableError("step failed");
          }),
        ]);
      },
      { retries: 0 } as any,
    );
    const many = serveMany({ child, parent });
    const env = host.env();
    for (const name of ["child", "parent"]) host.route(`/late/${name}`, (req) => many.fetch(req, env));
    const { workflowRunId } = await client.trigger({ url: host.url("/late/parent"), retries: 0 });
    await waitForRun(client, workflowRunId, ["RUN_FAILED"]);
    const { runs: children } = await client.logs({ workflowUrl: host.url("/late/child") } as any);
    await waitForRun(client, children[0].workflowRunId, ["RUN_SUCCESS"]);
    const parentHits = host.hitsTo("/late/parent").length;

    const log: any = await eventually(async () => {
      const { runs } = await client.logs({ workflowRunId });
      const group = runs[0]?.steps[1];
      return group?.type === "parallel" && group.steps.length === 2 ? runs[0] : undefined;
    }, 5000);
    const group = log.steps[1];
    const failing = group.steps.find((s: any) => s.stepName === "failing step");
    const invoke = group.steps.find((s: any) => s.stepName === "invoke child");
    expect(failing).toMatchObject({ stepType: "Run", state: "STEP_FAILED", concurrent: 2 });
    expect(failing.errors[0].status).toBe(489);
    expect(invoke).toMatchObject({ stepType: "Invoke", state: "STEP_SUCCESS", invokedWorkflowRunId: children[0].workflowRunId });
    expect(JSON.parse(invoke.out)).toMatchObject({ body: JSON.stringify("child done"), isFailed: false });
    // The failure is not repeated as an unnamed entry of a trailing group.
    expect(log.steps.some((g: any) => g.type === "next")).toBe(false);
    // Recorded, not delivered: the ended parent's endpoint got nothing more.
    await sleep(300);
    expect(host.hitsTo("/late/parent")).toHaveLength(parentHits);
    expect(childSteps).toBe(1);
  });
});

describe("run ids of ended runs (DECISIONS #21)", () => {
  it("re-triggering the id of a failed run starts a new run with none of the old run's steps, logs or DLQ entry", async () => {
    let broken = true;
    const ran: string[] = [];
    const url = host.add("/reuse", async (ctx) => {
      await ctx.run("first", () => ran.push("first"));
      await ctx.run("second", () => {
        ran.push("second");
        if (broken) throw new WorkflowNonRetryableError("second is broken");
      });
    });
    const first = await client.trigger({ url, workflowRunId: "reused-id", retries: 0 });
    const failed = await waitForRun(client, first.workflowRunId, ["RUN_FAILED"]);
    const dlq = await client.dlq.list({ filter: { workflowRunId: first.workflowRunId } });
    expect(dlq.messages).toHaveLength(1);

    broken = false;
    ran.length = 0;
    const second = await client.trigger({ url, workflowRunId: "reused-id", retries: 0 });
    expect(second.workflowRunId).toBe(first.workflowRunId);
    const log = await waitForRun(client, second.workflowRunId, ["RUN_SUCCESS"]);
    // Every step ran again: the new run's deliveries carried none of the old run's entries.
    expect(ran).toEqual(["first", "second"]);
    expect(log.workflowRunCreatedAt).toBeGreaterThan(failed.workflowRunCreatedAt);
    const { runs } = await client.logs({ workflowRunId: first.workflowRunId });
    expect(runs).toHaveLength(1);
    expect(runs[0].steps.some((g: any) => g.type === "next")).toBe(false);
    expect(runs[0].steps.flatMap((g: any) => g.steps).map((s: any) => `${s.stepName}:${s.state}`)).toEqual([
      "init:STEP_SUCCESS",
      "first:STEP_SUCCESS",
      "second:STEP_SUCCESS",
    ]);
    // The failed run's DLQ entry went with it: it could no longer be resumed.
    expect((await client.dlq.list({ filter: { workflowRunId: first.workflowRunId } })).messages).toEqual([]);
    const gone = await sluice.api("POST", `/v2/workflows/dlq/resume/${dlq.messages[0].dlqId}`);
    expect(gone.status).toBe(404);
  });

  it("a run still active deduplicates a trigger with its id", async () => {
    const url = host.add("/reuse-active", async (ctx) => {
      await ctx.sleep("long", 5);
    });
    const first = await client.trigger({ url, workflowRunId: "active-id" });
    const again = await sluice.api("POST", `/v2/trigger/${url}`, { headers: { "Upstash-Workflow-RunId": first.workflowRunId } });
    expect(await again.json()).toMatchObject({ workflowRunId: first.workflowRunId, deduplicated: true });
    await client.cancel({ ids: first.workflowRunId });
  });
});

describe("run-log query options of the vendor's OpenAPI", () => {
  let ok: { id: string; createdAt: number };
  let other: { id: string; createdAt: number };
  let failed: { id: string; createdAt: number };
  let okUrl: string;
  let failUrl: string;

  beforeAll(async () => {
    okUrl = host.add("/logs-ok", async (ctx) => {
      await ctx.run("greet", () => "hello world");
      return "héllo";
    });
    failUrl = host.add("/logs-fail", async (ctx) => {
      await ctx.run("boom", () => {
        throw new WorkflowNonRetryableError("no");
      });
    });
    const started = await Promise.all([client.trigger({ url: okUrl }), client.trigger({ url: okUrl }), client.trigger({ url: failUrl, retries: 0 })]);
    const [a, b, c] = await Promise.all([
      waitForRun(client, started[0].workflowRunId),
      waitForRun(client, started[1].workflowRunId),
      waitForRun(client, started[2].workflowRunId, ["RUN_FAILED"]),
    ]);
    [ok, other, failed] = [a, b, c].map((r) => ({ id: r.workflowRunId, createdAt: r.workflowRunCreatedAt }));
  });

  const ids = (runs: any[]) => runs.map((r) => r.workflowRunId).sort();

  it("workflowRuns=ID@TS,… returns only those runs, whatever the other filters say", async () => {
    const wanted = `${ok.id}@${ok.createdAt},${failed.id}@${failed.createdAt}`;
    const { runs } = await client.logs({ workflowRuns: wanted } as any);
    expect(ids(runs)).toEqual([ok.id, failed.id].sort());
    const ignored = await client.logs({ workflowRuns: wanted, workflowUrl: "http://127.0.0.1:1/elsewhere", state: "RUN_CANCELED" } as any);
    expect(ids(ignored.runs)).toEqual([ok.id, failed.id].sort());
    // The creation time is part of a run's identity: another one selects nothing.
    expect((await client.logs({ workflowRuns: `${other.id}@${other.createdAt + 1}` } as any)).runs).toEqual([]);
    // Paged like any other selection.
    const first = await client.logs({ workflowRuns: wanted, count: 1 } as any);
    expect(first.runs).toHaveLength(1);
    const second = await client.logs({ workflowRuns: wanted, count: 1, cursor: first.cursor } as any);
    expect(ids([...first.runs, ...second.runs])).toEqual([ok.id, failed.id].sort());
  });

  it("trimBody cuts bodies to that many bytes, and -1 leaves them out", async () => {
    const whole = (await client.logs({ workflowRunId: ok.id })).runs[0] as any;
    const greet = (log: any) => log.steps.flatMap((g: any) => g.steps).find((s: any) => s.stepName === "greet");
    expect(greet(whole).out).toBe(JSON.stringify("hello world"));
    expect(whole.workflowRunResponse).toBe(JSON.stringify("héllo"));

    const cut = (await client.logs({ workflowRunId: ok.id, trimBody: 3 } as any)).runs[0] as any;
    expect(greet(cut).out).toBe(`"he`);
    // Never inside a character: "é" is two bytes.
    expect(cut.workflowRunResponse).toBe(`"h`);
    expect(greet(cut).headers).toEqual(greet(whole).headers);

    const none = (await client.logs({ workflowRunId: ok.id, trimBody: -1 } as any)).runs[0] as any;
    expect(none.steps.flatMap((g: any) => g.steps).some((s: any) => "out" in s)).toBe(false);
    expect(none.workflowRunResponse).toBeUndefined();
    expect(none.workflowState).toBe("RUN_SUCCESS");

    for (const bad of ["-2", "some", "1.5"]) {
      const r = await sluice.api("GET", `/v2/workflows/logs?workflowRunId=${ok.id}&trimBody=${bad}`);
      expect(r.status, bad).toBe(400);
      expect((await r.json()).error).toContain("trimBody");
    }
  });

  it("STEP_* states select runs with a step in that state; OR-ed with run states", async () => {
    const inBoth = `workflowUrl=${encodeURIComponent(okUrl)}&workflowUrl=${encodeURIComponent(failUrl)}`;
    const get = async (q: string) => {
      const r = await sluice.api("GET", `/v2/workflows/logs?${inBoth}&${q}`);
      expect(r.status, q).toBe(200);
      return ids((await r.json()).runs);
    };
    expect(await get("state=STEP_FAILED")).toEqual([failed.id]);
    expect(await get("state=STEP_SUCCESS")).toEqual([ok.id, other.id, failed.id].sort());
    expect(await get("state=STEP_FAILED,RUN_SUCCESS")).toEqual([ok.id, other.id, failed.id].sort());
    expect(await get("state=STEP_RETRY")).toEqual([]);
    expect(await get("state=RUN_FAILED")).toEqual([failed.id]);
    expect(ids((await client.logs({ workflowUrl: failUrl, state: "STEP_FAILED" } as any)).runs)).toEqual([failed.id]);
  });

  it("a bad workflowRuns or state is a 400 naming it", async () => {
    for (const [q, name] of [
      ["workflowRuns=abc", "workflowRuns"],
      ["workflowRuns=@123", "workflowRuns"],
      ["workflowRuns=id@soon", "workflowRuns"],
      ["state=STEP_NOPE", "state"],
    ]) {
      const r = await sluice.api("GET", `/v2/workflows/logs?${q}`);
      expect(r.status, q).toBe(400);
      expect((await r.json()).error, q).toContain(name);
    }
  });
});

describe("DELETE /v2/workflows/dlq/callback/{dlqId} (the vendor's status codes)", () => {
  it("a failed run without a failure callback: 404 to cancel it, 400 to retry it; the entry stays", async () => {
    const url = host.add("/no-failure-callback", async (ctx) => {
      await ctx.run("boom", () => {
        throw new WorkflowNonRetryableError("no");
      });
    });
    // The trigger REST API configures no failure callback.
    const res = await sluice.api("POST", `/v2/trigger/${url}`, { body: "{}", headers: { "content-type": "application/json", "Upstash-Retries": "0" } });
    const { workflowRunId } = await res.json();
    await waitForRun(client, workflowRunId, ["RUN_FAILED"]);
    const [entry] = (await client.dlq.list({ filter: { workflowRunId } })).messages;
    expect(entry.failureCallbackInfo).toBeUndefined();
    const cancel = await sluice.api("DELETE", `/v2/workflows/dlq/callback/${entry.dlqId}`);
    expect(cancel.status).toBe(404);
    expect((await cancel.json()).error).toContain("no failure callback");
    expect((await sluice.api("POST", `/v2/workflows/dlq/callback/${entry.dlqId}`)).status).toBe(400);
    expect((await client.dlq.list({ filter: { workflowRunId } })).messages.map((m) => m.dlqId)).toEqual([entry.dlqId]);
  });
});
