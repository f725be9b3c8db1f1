import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { eventually } from "../helpers/receiver.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";

let sluice: TestSluice;
let host: WorkflowHost;

beforeAll(async () => {
  // A small lazy-fetch threshold, so a few kilobytes of step results make the SDK fetch its list.
  sluice = await startSluice({ limits: { lazyFetchBytes: 4000 } });
  host = await WorkflowHost.start(sluice);
});
afterAll(async () => {
  await host.close();
  await sluice.close();
});

describe("workflow basics", () => {
  it("runs a two-step workflow to its end; the ended run is gone from GET /v2/workflows/runs/{id}", async () => {
    const results: unknown[] = [];
    const url = host.add("/two", async (ctx) => {
      const a = await ctx.run("s1", () => `got ${ctx.requestPayload}`);
      const b = await ctx.run("s2", () => a + "!");
      results.push(b);
      return b;
    });
    const { workflowRunId } = await host.client().trigger({ url, body: "hi" });
    await eventually(() => expect(results).toEqual(["got hi!"]), 10_000);
    await waitForRun(host.client(), workflowRunId);
    const run = await sluice.api("GET", `/v2/workflows/runs/${workflowRunId}`);
    expect(run.status).toBe(404);
  });

  it("a step list over lazyFetchBytes is delivered empty and fetched by the SDK from GET /v2/workflows/runs/{id}", async () => {
    const big = "x".repeat(1500);
    let seen: string[] = [];
    const url = host.add("/big", async (ctx) => {
      const parts: string[] = [];
      for (let i = 0; i < 5; i++) parts.push(await ctx.run(`part-${i}`, () => `${i}:${big}`));
      seen = parts.map((p) => p.slice(0, 2));
      return parts.join("").length;
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });
    const log = await waitForRun(client, workflowRunId);
    expect(seen).toEqual(["0:", "1:", "2:", "3:", "4:"]);
    expect(log.workflowRunResponse).toBe(String(5 * 1502));
    const hits = host.hitsTo("/big");
    // Small lists went inline; the later, larger ones went empty and every delivery still succeeded.
    expect(hits[0].body.length).toBeGreaterThan(0);
    expect(hits.filter((h) => h.body === "").length).toBeGreaterThanOrEqual(2);
    expect(hits.every((h) => h.status === 200)).toBe(true);
  });

  it("client.logs pages through runs newest first with a cursor, and filters by state and URL", async () => {
    const url = host.add("/paged", async (ctx) => {
      await ctx.run("only", () => ctx.requestPayload);
    });
    const client = host.client();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { workflowRunId } = await client.trigger({ url, body: String(i) });
      ids.push(workflowRunId);
      await waitForRun(client, workflowRunId);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const res: any = await client.logs({ workflowUrl: url, count: 2, cursor } as any);
      seen.push(...res.runs.map((r: any) => r.workflowRunId));
      cursor = res.cursor;
      if (!cursor) break;
    }
    expect(seen).toEqual([...ids].reverse());
    const succeeded: any = await client.logs({ workflowUrl: url, state: "RUN_SUCCESS" } as any);
    expect(succeeded.runs.length).toBe(5);
    const failed: any = await client.logs({ workflowUrl: url, state: "RUN_FAILED" } as any);
    expect(failed.runs).toEqual([]);
  });
});
