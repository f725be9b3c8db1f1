import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WorkflowNonRetryableError, WorkflowRetryAfterError } from "@upstash/workflow";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";

let sluice: TestSluice;
let host: WorkflowHost;
let plain: TestReceiver;

beforeAll(async () => {
  sluice = await startSluice();
  host = await WorkflowHost.start(sluice);
  plain = await TestReceiver.start();
});
afterAll(async () => {
  await host.close();
  await plain.close();
  await sluice.close();
});

describe("workflow failures", () => {
  it("a step that keeps failing fails the run and calls the failure function with the run's details", async () => {
    let failure: any;
    const url = host.add(
      "/fails",
      async (ctx) => {
        await ctx.run("ok", () => "fine");
        await ctx.run("boom", () => {
          throw new Error("kaput");
        });
      },
      {
        failureFunction: async ({ context, failStatus, failResponse }) => {
          failure = { runId: context.workflowRunId, payload: context.requestPayload, failStatus, failResponse, createdAt: context.workflowRunCreatedAt };
          return "handled";
        },
      },
    );
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url, body: { order: 7 }, retries: 1, retryDelay: "100" });
    const log = await waitForRun(client, workflowRunId, ["RUN_FAILED"]);
    await eventually(() => failure !== undefined, 10_000);
    expect(failure).toMatchObject({ runId: workflowRunId, payload: { order: 7 }, failStatus: 500, failResponse: "kaput" });
    expect(failure.createdAt).toBe(log.workflowRunCreatedAt);
    expect(log.dlqId).toBeTruthy();
    const next = log.steps.find((g: any) => g.type === "next");
    expect(next.steps[0]).toMatchObject({ state: "STEP_FAILED", stepName: "boom" });
    expect(next.steps[0].errors.length).toBe(2);
    // The trigger's retry delay (100 ms) applied to the step, not the default backoff (12 s for a first retry).
    expect(next.steps[0].errors[1].time - next.steps[0].errors[0].time).toBeLessThan(2000);
    await eventually(async () => {
      const again = await waitForRun(client, workflowRunId, ["RUN_FAILED"]);
      return again.failureFunction?.state === "CALLBACK_SUCCESS" ? again : undefined;
    }, 10_000);
  });

  it("failureUrl receives the failure callback JSON with workflowRunId, workflowCreatedAt and the initial payload", async () => {
    const url = host.add("/fails-to-url", async (ctx) => {
      await ctx.run("boom", () => {
        throw new WorkflowNonRetryableError("no point retrying");
      });
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url, body: "payload!", failureUrl: plain.url("/failed"), retries: 3 });
    const log = await waitForRun(client, workflowRunId, ["RUN_FAILED"]);
    await plain.waitFor(1, 10_000);
    const cb = JSON.parse(plain.requests[0].body.toString());
    expect(cb.workflowRunId).toBe(workflowRunId);
    expect(cb.workflowCreatedAt).toBe(log.workflowRunCreatedAt);
    expect(Buffer.from(cb.sourceBody, "base64").toString()).toBe("payload!");
    expect(cb.url).toBe(url);
    expect(cb.status).toBe(489);
    // Non-retryable: one attempt only, although the trigger allowed 3 retries.
    const next = log.steps.find((g: any) => g.type === "next");
    expect(next.steps[0].errors.length).toBe(1);
  });

  it("a retry-after error delays the retry by the given seconds", async () => {
    const attempts: number[] = [];
    const url = host.add("/retry-after", async (ctx) => {
      await ctx.run("flaky", () => {
        attempts.push(Date.now());
        if (attempts.length === 1) throw new WorkflowRetryAfterError("later", 1);
        return "ok";
      });
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });
    await waitForRun(client, workflowRunId);
    expect(attempts.length).toBe(2);
    expect(attempts[1] - attempts[0]).toBeGreaterThanOrEqual(900);
  });

  it("a trigger that does not reach a workflow endpoint fails the run (WF_DetectTrigger)", async () => {
    plain.respond = () => ({ status: 200, body: "just a plain endpoint" });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url: plain.url("/not-a-workflow") });
    const log = await waitForRun(client, workflowRunId, ["RUN_FAILED"]);
    const next = log.steps.find((g: any) => g.type === "next");
    expect(next.steps[0].state).toBe("STEP_FAILED");
    expect(next.steps[0].errors[0].body).toBe("just a plain endpoint");
    expect(next.steps[0].errors[0].error).toMatch(/non-workflow destination/);
    plain.respond = () => ({ status: 200, body: "ok" });
  });
});

describe("cancel", () => {
  it("context.cancel ends the run as cancelled", async () => {
    const after: string[] = [];
    const url = host.add("/self-cancel", async (ctx) => {
      await ctx.run("one", () => 1);
      await ctx.cancel();
      await ctx.run("never", () => after.push("ran"));
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });
    await waitForRun(client, workflowRunId, ["RUN_CANCELED"]);
    await new Promise((r) => setTimeout(r, 200));
    expect(after).toEqual([]);
  });

  it("cancelling a sleeping run stops it: the step after the sleep never runs", async () => {
    const after: string[] = [];
    const url = host.add("/sleeper", async (ctx) => {
      await ctx.sleep("zz", 2);
      await ctx.run("after", () => after.push("ran"));
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });
    await eventually(async () => {
      const { runs } = await client.logs({ workflowRunId });
      return runs[0]?.steps.some((g: any) => g.steps.some((s: any) => s.stepName === "zz"));
    }, 5000);
    const res = await client.cancel({ ids: workflowRunId });
    expect(res).toEqual({ cancelled: 1 });
    const log = await waitForRun(client, workflowRunId, ["RUN_CANCELED"]);
    expect(log.workflowRunCompletedAt).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 2500));
    expect(after).toEqual([]);
    // Publishing a step to the cancelled run is refused with 400, as the SDK expects.
    const res2 = await sluice.api("POST", "/v2/batch", {
      headers: { "content-type": "application/json" },
      body: JSON.stringify([
        { destination: url, headers: { "upstash-workflow-runid": workflowRunId, "upstash-workflow-init": "false" }, body: "{}" },
      ]),
    });
    expect(res2.status).toBe(400);
    expect((await res2.json()).error).toMatch(/cancelled workflow/);
    expect((await sluice.api("GET", `/v2/workflows/runs/${workflowRunId}`)).status).toBe(404);
  });

  it("client.cancel by URL prefix, by label and all", async () => {
    const url = host.add("/many/sleep", async (ctx) => {
      await ctx.sleep("zz", 30);
    });
    const client = host.client();
    const a = await client.trigger({ url, label: "la" });
    const b = await client.trigger({ url, label: "lb" });
    const c = await client.trigger({ url });
    await eventually(async () => {
      const { runs } = await client.logs({ workflowUrl: url } as any);
      return runs.length === 3 && runs.every((r: any) => r.steps.some((g: any) => g.steps.some((s: any) => s.stepName === "zz")));
    }, 5000);
    expect(await client.cancel({ filter: { label: "la" } } as any)).toEqual({ cancelled: 1 });
    expect(await client.cancel({ urlStartingWith: host.url("/many") })).toEqual({ cancelled: 2 });
    await waitForRun(client, a.workflowRunId, ["RUN_CANCELED"]);
    await waitForRun(client, b.workflowRunId, ["RUN_CANCELED"]);
    await waitForRun(client, c.workflowRunId, ["RUN_CANCELED"]);
    const d = await client.trigger({ url });
    await eventually(async () => (await client.logs({ workflowRunId: d.workflowRunId })).runs.length === 1, 5000);
    expect(await client.cancel({ all: true })).toEqual({ cancelled: 1 });
  });
});
