import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkflow, serveMany } from "@upstash/workflow/cloudflare";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { eventually } from "../helpers/receiver.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";

let sluice: TestSluice;
let host: WorkflowHost;

beforeAll(async () => {
  sluice = await startSluice();
  host = await WorkflowHost.start(sluice);
});
afterAll(async () => {
  await host.close();
  await sluice.close();
});

describe("ways to start a run", () => {
  it("calling the endpoint directly starts a run (the SDK triggers itself through Sluice)", async () => {
    const seen: unknown[] = [];
    // A direct call carries no signature, so this endpoint does not verify them.
    const url = host.add(
      "/direct",
      async (ctx) => {
        await ctx.run("s", () => seen.push([ctx.requestPayload, ctx.headers.get("x-user")]));
      },
      { receiver: undefined },
    );
    const res = await fetch(url, { method: "POST", body: JSON.stringify({ hello: "world" }), headers: { "content-type": "application/json", "x-user": "u1" } });
    expect(res.status).toBe(200);
    const { workflowRunId } = (await res.json()) as { workflowRunId: string };
    await waitForRun(host.client(), workflowRunId);
    expect(seen).toEqual([[{ hello: "world" }, "u1"]]);
    // Sluice's deliveries carry the caller's own headers, not the transport headers of the direct call.
    const deliveries = host.hitsTo("/direct").filter((h) => h.headers["upstash-message-id"]);
    expect(deliveries.length).toBeGreaterThanOrEqual(2);
    for (const d of deliveries) {
      expect(d.headers["x-user"]).toBe("u1");
      expect(d.headers["accept-encoding"]).toBeUndefined();
      expect(d.headers["user-agent"]).toBe("Upstash-QStash");
    }
  });

  it("POST /v2/trigger/{url} starts a run with a given id and configuration", async () => {
    const seen: unknown[] = [];
    const url = host.add("/server-trigger", async (ctx) => {
      await ctx.run("s", () => seen.push([ctx.requestPayload, ctx.headers.get("x-fwd"), ctx.labels]));
    });
    const res = await sluice.api("POST", `/v2/trigger/${url}`, {
      body: "plain text",
      headers: { "Upstash-Workflow-RunId": "wfr_server-1", "Upstash-Forward-X-Fwd": "yes", "Upstash-Label": "srv", "content-type": "text/plain" },
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.workflowRunId).toBe("wfr_server-1");
    expect(typeof body.workflowCreatedAt).toBe("number");
    await waitForRun(host.client(), "wfr_server-1");
    expect(seen).toEqual([["plain text", "yes", ["srv"]]]);
    // The run has ended: its id starts a new run (DECISIONS #21).
    const again = await (await sluice.api("POST", `/v2/trigger/${url}`, { headers: { "Upstash-Workflow-RunId": "wfr_server-1" } })).json();
    expect(again.deduplicated).toBeUndefined();
    expect(again.workflowCreatedAt).toBeGreaterThan(body.workflowCreatedAt);
  });

  it("POST /v2/trigger with Upstash-Workflow-Unknown-Sdk hands the run to the SDK, which continues it", async () => {
    const seen: unknown[] = [];
    const url = host.add("/unknown-sdk", async (ctx) => {
      await ctx.run("s", () => seen.push([ctx.workflowRunId, ctx.requestPayload]));
    });
    const res = await sluice.api("POST", `/v2/trigger/${url}`, {
      body: JSON.stringify({ k: 1 }),
      headers: { "Upstash-Workflow-RunId": "wfr_unknown-1", "Upstash-Workflow-Unknown-Sdk": "true", "content-type": "application/json" },
    });
    expect(res.status).toBe(200);
    await waitForRun(host.client(), "wfr_unknown-1");
    expect(seen).toEqual([["wfr_unknown-1", { k: 1 }]]);
  });

  it("POST /v2/batch/trigger starts several runs and refuses a bad batch whole", async () => {
    const seen: unknown[] = [];
    const url = host.add("/batch-trigger", async (ctx) => {
      await ctx.run("s", () => seen.push(ctx.requestPayload));
    });
    const res = await sluice.api("POST", "/v2/batch/trigger", {
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ destination: url, body: "1" }, { destination: url, body: "2", headers: { "Upstash-Workflow-RunId": "wfr_b2" } }]),
    });
    expect(res.status).toBe(201);
    const items = await res.json();
    expect(items.length).toBe(2);
    expect(items[1].workflowRunId).toBe("wfr_b2");
    await waitForRun(host.client(), items[0].workflowRunId);
    await waitForRun(host.client(), "wfr_b2");
    expect(seen.sort()).toEqual([1, 2]);
    const bad = await sluice.api("POST", "/v2/batch/trigger", {
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ destination: url, body: "3" }, { destination: "" }]),
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatch(/batch item 1/);
  });

  it("client.trigger with several runs at once", async () => {
    const url = host.add("/multi", async (ctx) => {
      await ctx.run("s", () => ctx.requestPayload);
    });
    const client = host.client();
    const results = await client.trigger([{ url, body: "a" }, { url, body: "b", workflowRunId: "mine" }]);
    expect(results[1].workflowRunId).toBe("wfr_mine");
    for (const r of results) await waitForRun(client, r.workflowRunId);
  });
});

describe("invoke", () => {
  it("context.invoke runs another workflow and hands its result back; the child log names its invoker", async () => {
    const child = createWorkflow(async (ctx: any) => {
      const doubled = await ctx.run("double", () => ctx.requestPayload.n * 2);
      return { doubled };
    });
    const failing = createWorkflow(async (ctx: any) => {
      await ctx.run("fail", () => {
        throw new Error("child broke");
      });
    }, { retries: 0 } as any);
    let result: any;
    let failed: any;
    const parent = createWorkflow(async (ctx: any) => {
      result = await ctx.invoke("call-child", { workflow: child, body: { n: 21 } });
      failed = await ctx.invoke("call-failing", { workflow: failing, body: {}, retries: 0 });
    });
    // The Cloudflare adapter's serveMany routes by the last path segment and reads its settings from `env`.
    const many = serveMany({ child, failing, parent });
    const env = host.env();
    for (const name of ["child", "failing", "parent"]) host.route(`/many/${name}`, (req) => many.fetch(req, env));
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url: host.url("/many/parent") });
    const log = await waitForRun(client, workflowRunId, ["RUN_SUCCESS"], 15_000);
    expect(result).toEqual({ body: { doubled: 42 }, isFailed: false, isCanceled: false });
    expect(failed.isFailed).toBe(true);
    expect(log.workflowState).toBe("RUN_SUCCESS");
    const { runs } = await client.logs({ workflowUrl: host.url("/many/child") } as any);
    expect(runs[0].invoker).toMatchObject({ workflowRunId, workflowUrl: host.url("/many/parent") });
    expect(runs[0].workflowRunResponse).toBe(JSON.stringify({ doubled: 42 }));
    // The parent's Invoke step names the run it started.
    const invokeStep = log.steps.flatMap((g: any) => g.steps).find((s: any) => s.stepName === "call-child");
    expect(invokeStep).toMatchObject({ stepType: "Invoke", invokedWorkflowRunId: runs[0].workflowRunId, invokedWorkflowUrl: host.url("/many/child") });
  });
});

describe("flow control on steps", () => {
  it("a run's flow-control key limits how many of its steps run at once", async () => {
    let active = 0;
    let maxActive = 0;
    const url = host.add("/fc", async (ctx) => {
      await Promise.all(
        [1, 2, 3, 4].map((i) =>
          ctx.run(`p${i}`, async () => {
            active++;
            maxActive = Math.max(maxActive, active);
            await new Promise((r) => setTimeout(r, 150));
            active--;
            return i;
          }),
        ),
      );
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url, flowControl: { key: "wf-key", parallelism: 1 } });
    const log = await waitForRun(client, workflowRunId, ["RUN_SUCCESS"], 15_000);
    expect(maxActive).toBe(1);
    expect(log.flowControlKey).toBe("wf-key");
    const info = await sluice.api("GET", "/v2/flowControl/wf-key");
    expect(info.status).toBe(200);
  });

  it("global parallelism caps a user's workflow steps too", async () => {
    const capped = await startSluice({ globalParallelism: 2 });
    const cappedHost = await WorkflowHost.start(capped);
    try {
      let active = 0;
      let maxActive = 0;
      const url = cappedHost.add("/gp", async (ctx) => {
        await Promise.all(
          [1, 2, 3, 4, 5, 6].map((i) =>
            ctx.run(`p${i}`, async () => {
              active++;
              maxActive = Math.max(maxActive, active);
              await new Promise((r) => setTimeout(r, 100));
              active--;
            }),
          ),
        );
      });
      const client = cappedHost.client();
      const { workflowRunId } = await client.trigger({ url });
      await waitForRun(client, workflowRunId, ["RUN_SUCCESS"], 15_000);
      expect(maxActive).toBeGreaterThanOrEqual(1);
      expect(maxActive).toBeLessThanOrEqual(2);
    } finally {
      await cappedHost.close();
      await capped.close();
    }
  });
});
