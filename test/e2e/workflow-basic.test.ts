import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { WorkflowHost } from "../helpers/workflow.js";
import { eventually } from "../helpers/receiver.js";

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

describe("workflow basics", () => {
  it("runs a two-step workflow to its end", async () => {
    const results: unknown[] = [];
    const url = host.add("/two", async (ctx) => {
      const a = await ctx.run("s1", () => `got ${ctx.requestPayload}`);
      const b = await ctx.run("s2", () => a + "!");
      results.push(b);
      return b;
    });
    const { workflowRunId } = await host.client().trigger({ url, body: "hi" });
    await eventually(() => expect(results).toEqual(["got hi!"]), 10_000);
    const run = await sluice.api("GET", `/v2/workflows/runs/${workflowRunId}`);
    expect(run.status).toBe(404);
  });
});
