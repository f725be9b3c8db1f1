import type { Client as WorkflowClient } from "@upstash/workflow";
import { WorkflowNonRetryableError } from "@upstash/workflow";
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
