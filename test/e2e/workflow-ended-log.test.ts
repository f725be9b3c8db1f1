import { Client as QStashClient, Receiver } from "@upstash/qstash";
import { serve } from "@upstash/workflow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSluice, DEV_KEYS, type TestSluice } from "../helpers/sluice.js";
import { eventually, gate } from "../helpers/receiver.js";
import { WorkflowHost } from "../helpers/workflow.js";

/**
 * A run ends inside a delivery: the SDK finishes the run (DELETE /v2/workflows/runs/{id}?cancel=false) while the
 * delivery that carried its last step is still open, so for a moment the run has ended and that delivery is still
 * "active". Its log must not show a step under way then (src/workflow/logs.ts: only a run still going has
 * deliveries under way). The endpoint here holds its answer after the SDK has finished the run, so the log is read
 * exactly in that moment, not by chance.
 */

let sluice: TestSluice;
/** Serves the workflow (its SDK handler wrapped, see below) on 127.0.0.1. */
let host: WorkflowHost | undefined;

beforeAll(async () => {
  sluice = await startSluice();
});
afterAll(async () => {
  await host?.close();
  await sluice?.close();
});

type Step = { state: string; stepName?: string; messageId: string };
const stepsOf = (log: any): (Step & { group: string })[] => log.steps.flatMap((g: any) => g.steps.map((s: Step) => ({ group: g.type, ...s })));

async function ok(res: Response): Promise<any> {
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text);
}

describe("the log of a run that ended while its last delivery is still open", () => {
  it("lists no step in progress, and the run is not found by state=STEP_PROGRESS", async () => {
    const held = gate();
    let reachedEnd = false;
    // The unmodified SDK, wrapped so that the delivery in which the function returned is answered only on `held`.
    const { handler } = serve(
      async (ctx) => {
        const n = await ctx.run("only", () => 41 + 1);
        reachedEnd = true;
        return { n };
      },
      {
        qstashClient: new QStashClient({ baseUrl: sluice.url, token: sluice.token() }),
        receiver: new Receiver({ currentSigningKey: DEV_KEYS.current, nextSigningKey: DEV_KEYS.next }),
        disableTelemetry: true,
      },
    );
    host = await WorkflowHost.start(sluice);
    const url = host.route("/ended", async (req) => {
      const res = await handler(req);
      if (reachedEnd) await held.wait;
      return res;
    });

    try {
      const client = host.client();
      const { workflowRunId } = await client.trigger({ url, body: { go: true } });
      const logOf = async (): Promise<any> => (await ok(await sluice.api("GET", `/v2/workflows/logs?workflowRunId=${workflowRunId}`))).runs[0];

      // The SDK has finished the run, and the delivery that did it is still held open at the endpoint.
      const ended = await eventually(async () => {
        const log = await logOf();
        return log?.workflowState === "RUN_SUCCESS" ? log : undefined;
      }, 10_000, 20);
      expect(reachedEnd).toBe(true);
      // The run's deliveries, each at its latest state: the last one is still in flight.
      const { events } = await ok(await sluice.api("GET", `/v2/workflows/events?workflowRunId=${workflowRunId}&order=earliestFirst`));
      const lastState = new Map<string, string>();
      for (const e of events as { messageId: string; state: string }[]) lastState.set(e.messageId, e.state);
      const stillActive = [...lastState].filter(([, state]) => state === "ACTIVE").map(([id]) => id);
      expect(stillActive, JSON.stringify([...lastState])).toHaveLength(1);

      // Read in that moment (the endpoint has not answered yet): the steps the run made, none under way.
      const steps = stepsOf(ended);
      expect(steps.map((s) => [s.group, s.stepName, s.state])).toEqual([
        ["sequential", "init", "STEP_SUCCESS"],
        ["sequential", "only", "STEP_SUCCESS"],
      ]);
      expect(ended.steps.some((g: any) => g.type === "next")).toBe(false);
      expect(ended.workflowRunResponse).toBe(JSON.stringify({ n: 42 }));
      const inProgress = await ok(await sluice.api("GET", `/v2/workflows/logs?state=STEP_PROGRESS`));
      expect(inProgress.runs.map((r: any) => r.workflowRunId)).not.toContain(workflowRunId);

      // Once answered, the delivery is done and the log reads the same.
      held.open();
      await eventually(async () => {
        const { logs: after } = await ok(await sluice.api("GET", `/v2/logs?messageId=${stillActive[0]}`));
        return after.some((e: any) => e.state === "DELIVERED");
      }, 10_000, 20);
      expect(stepsOf(await logOf()).map((s) => [s.group, s.stepName, s.state])).toEqual(steps.map((s) => [s.group, s.stepName, s.state]));
    } finally {
      held.open();
    }
  });
});
