import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killHard, spawnSluice, type SluiceProcess } from "../helpers/process.js";
import { eventually } from "../helpers/receiver.js";
import { DEV_TOKEN, type TestSluice } from "../helpers/sluice.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";

const dataDir = mkdtempSync(join(tmpdir(), "sluice-wf-crash-"));
const procs: SluiceProcess[] = [];
let host: WorkflowHost | undefined;
afterAll(async () => {
  for (const p of procs) await killHard(p);
  await host?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe("workflow durability", () => {
  it("a run survives kill -9 mid-run: it completes after a restart and no finished step runs again", async () => {
    const port = await freePort();
    const args = ["dev", "--data", dataDir, "--port", String(port)];
    const first = await spawnSluice(args);
    procs.push(first);
    // The endpoint reaches Sluice at the same address before and after the restart.
    host = await WorkflowHost.start({ url: first.url, token: () => DEV_TOKEN } as unknown as TestSluice);
    const ran: Record<string, number> = {};
    const count = (name: string) => (ran[name] = (ran[name] ?? 0) + 1);
    const url = host.add("/durable", async (ctx) => {
      let total = 0;
      for (let i = 1; i <= 5; i++) {
        total += await ctx.run(`step-${i}`, () => (count(`step-${i}`), i));
        if (i === 2) await ctx.sleep("pause", 2);
      }
      return total;
    });
    const client = host.client();
    const runs = await Promise.all(Array.from({ length: 5 }, (_, i) => client.trigger({ url, body: { i } })));
    // Kill while every run sleeps after its second step.
    await eventually(() => (ran["step-2"] ?? 0) >= 5, 10_000);
    // Let the endpoints publish their sleep steps (acknowledged by Sluice) before the kill.
    await eventually(() => host!.hitsTo("/durable").length >= 15, 5000);
    await new Promise((r) => setTimeout(r, 300));
    await killHard(first);
    const second = await spawnSluice(args);
    procs.push(second);
    for (const { workflowRunId } of runs) {
      const log = await waitForRun(client, workflowRunId, ["RUN_SUCCESS"], 20_000);
      expect(log.workflowRunResponse).toBe("15");
    }
    // Steps finished before the kill were memoised in the run, not executed again.
    expect(ran["step-1"]).toBe(5);
    expect(ran["step-2"]).toBe(5);
    for (const name of ["step-3", "step-4", "step-5"]) expect(ran[name]).toBeGreaterThanOrEqual(5);
  }, 60_000);
});
