import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { DEV_TOKEN, startSluice, type TestSluice } from "../helpers/sluice.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { killHard, spawnSluice, type SluiceProcess } from "../helpers/process.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";
import { subscribeEventLog } from "../../src/observability/event-log.js";

/** What an operator reads: one JSON line per event that matters at `info`, with ids; nothing per success. */
const procs: SluiceProcess[] = [];
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const p of procs) await killHard(p);
  for (const close of closers) await close();
});

type Line = Record<string, unknown> & { level: number; msg: string; event?: string };
/** Every line the process printed as JSON (the banner is plain text and skipped). */
function jsonLines(output: string): Line[] {
  return output
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Line);
}

async function publish(url: string, dest: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${url}/v2/publish/${dest}`, { method: "POST", body: "x", headers: { Authorization: `Bearer ${DEV_TOKEN}`, ...headers } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { messageId: string }).messageId;
}

describe("event log of the real binary", () => {
  it("at the default level (info): attempt failures, the DLQ and a failed workflow run, as JSON with ids; no line per success or request", async () => {
    const receiver = await TestReceiver.start();
    closers.push(() => receiver.close());
    receiver.respond = (req) => (req.path === "/fails" ? { status: 500, body: "boom" } : { status: 200, body: "ok" });
    // No SLUICE_LOG_LEVEL: the default is what an operator gets.
    const p = await spawnSluice(["dev", "--memory", "--port", "0"], { SLUICE_LOG_LEVEL: "" });
    procs.push(p);

    await publish(p.url, receiver.url("/works"));
    const failing = await publish(p.url, receiver.url("/fails"), { "Upstash-Retries": "1", "Upstash-Retry-Delay": "0" });

    const host = await WorkflowHost.start({ url: p.url, token: () => DEV_TOKEN } as unknown as TestSluice);
    closers.push(() => host.close());
    const wfUrl = host.add("/wf-fails", async (ctx) => {
      await ctx.run("explode", () => {
        throw new Error("step exploded");
      });
    }, { retries: 0 } as never);
    const { workflowRunId } = await host.client().trigger({ url: wfUrl, retries: 0 });
    await waitForRun(host.client(), workflowRunId, ["RUN_FAILED"], 15_000);

    const lines = await eventually(() => {
      const all = jsonLines(p.output());
      expect(all.some((l) => l.event === "runFailed")).toBe(true);
      expect(all.some((l) => l.event === "messageFailed" && l.messageId === failing)).toBe(true);
      return all;
    }, 10_000);
    const mine = lines.filter((l) => l.messageId === failing);
    expect(mine.map((l) => [l.event, l.msg, l.attempt ?? null])).toEqual([
      ["attemptFailed", "attempt failed; will retry", 1],
      ["attemptFailed", "attempt failed; no retries left", 2],
      ["messageFailed", "message failed into the DLQ", null],
    ]);
    expect(mine[0]).toMatchObject({ level: 30, userId: "defaultUser", url: receiver.url("/fails"), status: 500, error: "destination responded with status 500" });
    expect(typeof mine[0].nextDeliveryTime).toBe("string");
    expect(mine[2].dlqId).toMatch(/./);
    expect(lines.find((l) => l.event === "runFailed")).toMatchObject({ level: 30, userId: "defaultUser", workflowRunId, msg: "workflow run failed" });
    // Nothing per successful delivery or per request at info.
    expect(lines.filter((l) => l.event === "delivered" || l.msg === "incoming request" || l.msg === "request completed")).toEqual([]);
  }, 30_000);

  it("at debug, every successful delivery has its line", async () => {
    const receiver = await TestReceiver.start();
    closers.push(() => receiver.close());
    const p = await spawnSluice(["dev", "--memory", "--port", "0"], { SLUICE_LOG_LEVEL: "debug" });
    procs.push(p);
    const id = await publish(p.url, receiver.url("/ok"));
    await eventually(() => expect(jsonLines(p.output()).find((l) => l.event === "delivered")).toMatchObject({ level: 20, messageId: id, msg: "message delivered" }), 10_000);
  }, 20_000);

  it("a schedule tick that fires late says by how much", async () => {
    let offset = 0;
    const sluice = await startSluice({}, { now: () => Date.now() + offset });
    const receiver = await TestReceiver.start();
    closers.push(() => sluice.close(), () => receiver.close());
    const lines: Line[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString()) as Line), done()) });
    subscribeEventLog(sluice.engine, pino({ level: "info" }, sink));
    await sluice.client().schedules.create({ destination: receiver.url("/tick"), cron: "* * * * * *", scheduleId: "late-one" });
    await receiver.waitFor(1, 5000);
    expect(lines.filter((l) => l.event === "scheduleLate")).toEqual([]);
    offset += 5 * 60_000;
    await eventually(() => expect(lines.find((l) => l.event === "scheduleLate")).toMatchObject({ userId: "defaultUser", scheduleId: "late-one", msg: "schedule fired late" }), 5000);
    expect(lines.find((l) => l.event === "scheduleLate")!.lateMs as number).toBeGreaterThan(4 * 60_000);
    await sluice.client().schedules.delete("late-one");
  }, 20_000);
});
