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
