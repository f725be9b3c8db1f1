import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { eventually } from "../helpers/receiver.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";

/** Bad input and isolation for the workflow run endpoints (SPEC §2.10): 4xx JSON errors, nothing half-applied. */

let sluice: TestSluice;
let host: WorkflowHost;
let url: string;
let runId: string;

beforeAll(async () => {
  sluice = await startSluice();
  host = await WorkflowHost.start(sluice);
  url = host.add("/sleepy", async (ctx) => {
    await ctx.sleep("zz", 60);
  });
  ({ workflowRunId: runId } = await host.client().trigger({ url, body: "x" }));
  await eventually(async () => (await host.client().logs({ workflowRunId: runId })).runs[0]?.steps.length >= 2, 5000);
});
afterAll(async () => {
  await host.close();
  await sluice.close();
});

async function error(res: Response, status: number): Promise<string> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/application\/json/);
  const body = await res.json();
  expect(typeof body.error).toBe("string");
  return body.error;
}

const step = (id: string, extra: Record<string, string> = {}) =>
  JSON.stringify([{ destination: url, headers: { "upstash-workflow-runid": id, "upstash-workflow-init": "false", ...extra }, body: "{}" }]);

describe("workflow runs: bad input", () => {
  it("answers 4xx with a JSON error for bad requests", async () => {
    expect(await error(await sluice.api("GET", "/v2/workflows/runs/wfr_nope"), 404)).toMatch(/not found/);
    expect(await error(await sluice.api("DELETE", "/v2/workflows/runs/wfr_nope?cancel=true"), 404)).toMatch(/not found/);
    expect(await error(await sluice.api("DELETE", `/v2/workflows/runs/${runId}?cancel=maybe`), 400)).toMatch(/cancel/);
    expect(await error(await sluice.api("DELETE", "/v2/workflows/runs?workflowRunIds="), 400)).toMatch(/no value/);
    expect(await error(await sluice.api("DELETE", "/v2/workflows/runs?count=abc"), 400)).toMatch(/count/);
    expect(await error(await sluice.api("GET", "/v2/workflows/events?groupBy=workflowRunId&cursor=zzz"), 400)).toMatch(/cursor/);
    expect(await error(await sluice.api("GET", "/v2/workflows/events?groupBy=workflowRunId&state=RUNNING"), 400)).toMatch(/state/);
    expect(await error(await sluice.api("GET", "/v2/workflows/logs?fromDate=yesterday"), 400)).toMatch(/fromDate/);
    expect(await error(await sluice.api("POST", "/v2/trigger/not-a-url"), 400)).toBeTruthy();
    expect(
      await error(await sluice.api("POST", `/v2/trigger/${url}`, { headers: { "Upstash-Workflow-RunId": "bad id with spaces" } }), 400),
    ).toMatch(/RunId/);
    expect(await error(await sluice.api("POST", `/v2/trigger/${url}`, { headers: { "Upstash-Retries": "lots" } }), 400)).toMatch(/Retries/);
    expect(await error(await sluice.api("POST", "/v2/batch/trigger", { body: "{}", headers: { "content-type": "application/json" } }), 400)).toMatch(
      /array/,
    );
    // A step for a run that does not exist, and an invoke whose body is not an invoke request.
    expect(
      await error(await sluice.api("POST", "/v2/batch", { body: step("wfr_never-was"), headers: { "content-type": "application/json" } }), 400),
    ).toMatch(/does not exist/);
    expect(
      await error(
        await sluice.api("POST", `/v2/publish/${url}`, {
          body: "not json",
          headers: { "upstash-workflow-runid": "wfr_child", "upstash-workflow-init": "true", "upstash-workflow-invoke": "true" },
        }),
        400,
      ),
    ).toMatch(/invoke/);
    // A run id that would not survive in a URL.
    for (const bad of ["has space", "a/b", "x".repeat(201)]) {
      const res = await sluice.api("POST", "/v2/batch", {
        body: JSON.stringify([{ destination: url, headers: { "upstash-workflow-runid": bad, "upstash-workflow-init": "true" }, body: "x" }]),
        headers: { "content-type": "application/json" },
      });
      expect(res.status).toBe(200);
      expect((await res.json())[0].error).toMatch(/invalid Upstash-Workflow-RunId/);
    }
    // Nothing was created by the refused requests.
    expect((await sluice.api("GET", "/v2/workflows/runs/wfr_child")).status).toBe(404);
    const { runs } = await host.client().logs({});
    expect(runs.map((r: any) => r.workflowRunId)).toEqual([runId]);
  });

  it("a workflow step cannot go to a URL group", async () => {
    await sluice.client().urlGroups.addEndpoints({ name: "grp", endpoints: [{ url }] });
    const res = await sluice.api("POST", "/v2/publish/grp", { headers: { "upstash-workflow-runid": runId, "upstash-workflow-init": "false" }, body: "{}" });
    expect(await error(res, 400)).toMatch(/URL group/);
  });
});

describe("workflow runs: isolation between users", () => {
  it("another user cannot see, fetch, cancel, finish, log or append to a run", async () => {
    const other = { token: sluice.token(1) };
    expect((await sluice.api("GET", `/v2/workflows/runs/${runId}`, other)).status).toBe(404);
    expect((await sluice.api("DELETE", `/v2/workflows/runs/${runId}?cancel=true`, other)).status).toBe(404);
    expect((await sluice.api("DELETE", `/v2/workflows/runs/${runId}?cancel=false`, { ...other, body: "\"stolen\"" })).status).toBe(404);
    expect(await (await sluice.api("DELETE", `/v2/workflows/runs?workflowRunIds=${runId}`, other)).json()).toEqual({ cancelled: 0 });
    expect(await (await sluice.api("DELETE", "/v2/workflows/runs?count=100", other)).json()).toEqual({ cancelled: 0 });
    const logs = await (await sluice.api("GET", `/v2/workflows/events?groupBy=workflowRunId&workflowRunId=${runId}`, other)).json();
    expect(logs.runs).toEqual([]);
    const append = await sluice.api("POST", "/v2/batch", { ...other, body: step(runId), headers: { "content-type": "application/json" } });
    expect(append.status).toBe(400);
    // Re-using the id as the other user makes that user's own run; the first user's run is untouched.
    const mine = await sluice.api("POST", `/v2/trigger/${url}`, { ...other, headers: { "Upstash-Workflow-RunId": runId } });
    expect((await mine.json()).deduplicated).toBeUndefined();
    const log = await waitForRun(host.client(), runId, ["RUN_STARTED"]);
    expect(log.steps.flatMap((g: any) => g.steps).length).toBeGreaterThanOrEqual(2);
    expect((await sluice.api("GET", `/v2/workflows/runs/${runId}`)).status).toBe(200);
    // The other user's run is delivered with that user's keys, which this endpoint does not accept: stop it.
    expect((await sluice.api("DELETE", `/v2/workflows/runs/${runId}?cancel=true`, other)).status).toBe(200);
    expect((await sluice.api("GET", `/v2/workflows/runs/${runId}`)).status).toBe(200);
  });
});
