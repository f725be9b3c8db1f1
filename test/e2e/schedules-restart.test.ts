import { Client } from "@upstash/qstash";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killHard, spawnSluice, type SluiceProcess } from "../helpers/process.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { DEV_TOKEN } from "../helpers/sluice.js";

/**
 * Schedules across restarts (SPEC §2.4, docs/schedules.md "Exactly once, and missed ticks"): a tick is committed
 * together with its message, so no tick fires twice across a `kill -9` or a graceful stop, and the ticks missed
 * while the server was down collapse into ONE catch-up message, for the most recent of them. Runs the built CLI
 * (`npm run build` first) on a data directory.
 *
 * How ticks are told apart: the schedule fires every second, a tick is never fired before its instant and fires
 * within milliseconds of it, so a message's tick is the whole second of its `createdAt` (the CREATED log time).
 * The catch-up message is created at start-up for `latestTick(now)`, which is that same second.
 */

const dataDir = mkdtempSync(join(tmpdir(), "sluice-schedules-restart-"));
const procs: SluiceProcess[] = [];
let dest: TestReceiver | undefined;
afterAll(async () => {
  for (const p of procs) await killHard(p);
  await dest?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const second = (ms: number): number => Math.floor(ms / 1000);

async function start(): Promise<{ proc: SluiceProcess; client: Client; startedAt: number; readyAt: number }> {
  const startedAt = Date.now();
  const proc = await spawnSluice(["dev", "--data", dataDir, "--port", "0"]);
  procs.push(proc);
  return { proc, client: new Client({ baseUrl: proc.url, token: DEV_TOKEN }), startedAt, readyAt: Date.now() };
}

/** SIGTERM, and wait for the process to have exited by itself. */
async function stopGracefully(p: SluiceProcess): Promise<void> {
  const gone = new Promise<number | null>((r) => p.child.once("exit", (code) => r(code)));
  p.child.kill("SIGTERM");
  const code = await Promise.race([gone, sleep(8000).then(() => "timeout" as const)]);
  expect(code, p.output()).toBe(0);
}

/** messageId → creation time, from the CREATED log events of the schedule's messages. */
async function createdTimes(client: Client, scheduleId: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const res = await client.logs({ filter: { scheduleId, state: "CREATED" }, count: 100, cursor });
    for (const l of res.logs) out.set(l.messageId, l.time);
    cursor = res.cursor;
    if (!cursor) break;
  }
  return out;
}

/** Asserts `secs` (sorted) is a run of consecutive seconds, one message each. */
function expectConsecutive(secs: number[], what: string): void {
  expect(secs.length, what).toBeGreaterThan(0);
  for (let i = 1; i < secs.length; i++) expect(secs[i] - secs[i - 1], `${what}: ${JSON.stringify(secs)}`).toBe(1);
}

describe("schedules across restarts", () => {
  it("kill -9 and SIGTERM: no tick fires twice, missed ticks collapse into one catch-up, then ticks go on every second", async () => {
    dest = await TestReceiver.start();
    const d = dest;
    // First attempts only: a message whose delivery the kill interrupted is attempted again after the restart.
    const firstAttemptsAfter = (t: number): number => d.requests.filter((r) => r.at > t && r.headers["upstash-retried"] === "0").length;

    // Run 1: a schedule that fires every second.
    const run1 = await start();
    const { scheduleId } = await run1.client.schedules.create({
      destination: d.url("/tick"),
      cron: "*/1 * * * * *",
      body: "tick",
      retries: 3,
      retryDelay: "100", // an attempt interrupted by the kill is retried quickly
    });
    await d.waitFor(3, 6000);
    await killHard(run1.proc);
    const killedAt = Date.now();

    // Down for three seconds: at least two ticks are missed.
    await sleep(3000);
    const run2 = await start();
    await eventually(() => firstAttemptsAfter(run2.readyAt) >= 3, 8000, 20);

    // Graceful stop, down for ~2.5 s (at least two ticks missed, however fast the start), start again.
    await stopGracefully(run2.proc);
    const stoppedAt = Date.now();
    await sleep(2500);
    const run3 = await start();
    await eventually(() => firstAttemptsAfter(run3.readyAt) >= 3, 8000, 20);
    await run3.client.schedules.pause({ schedule: scheduleId });
    await sleep(300); // the last tick's delivery lands

    const created = await createdTimes(run3.client, scheduleId);
    const messages = [...created.entries()].map(([id, at]) => ({ id, at, sec: second(at) })).sort((a, b) => a.at - b.at);
    const secs = messages.map((m) => m.sec);
    const detail = JSON.stringify({
      times: { killedAt, run2: [run2.startedAt, run2.readyAt], stoppedAt, run3: [run3.startedAt, run3.readyAt] },
      created: messages.map((m) => [m.id.slice(-6), m.at]),
      delivered: d.requests.map((r) => [(r.headers["upstash-message-id"] as string).slice(-6), r.at, r.headers["upstash-retried"]]),
    });

    // No tick twice: one message per second, ever.
    expect(new Set(secs).size, detail).toBe(secs.length);

    const phase1 = messages.filter((m) => m.at <= killedAt).map((m) => m.sec);
    const phase2 = messages.filter((m) => m.at >= run2.startedAt && m.at <= stoppedAt).map((m) => m.sec);
    const phase3 = messages.filter((m) => m.at >= run3.startedAt).map((m) => m.sec);
    // Nothing was created while the server was down.
    expect(phase1.length + phase2.length + phase3.length, detail).toBe(messages.length);
    expect(phase1.length).toBeGreaterThanOrEqual(3);
    // Within each run, one message per second and no gaps.
    expectConsecutive(phase1, "before the kill");
    expectConsecutive(phase2, "between the kill and the stop");
    expectConsecutive(phase3, "after the stop");

    // After each restart exactly one message stands for the ticks missed while down: the first message of the
    // run is the catch-up, created while the server started, for the most recent missed tick; then ordinary ticks.
    for (const [prev, next, run] of [
      [phase1, phase2, run2],
      [phase2, phase3, run3],
    ] as const) {
      const lastBefore = prev[prev.length - 1];
      const catchUp = next[0];
      expect(catchUp - lastBefore, detail).toBeGreaterThanOrEqual(2); // ticks were missed...
      expect(catchUp).toBeGreaterThanOrEqual(second(run.startedAt)); // ...and only one message covers them,
      expect(catchUp).toBeLessThanOrEqual(second(run.readyAt)); // fired during start-up
      expect(next.length, detail).toBeGreaterThanOrEqual(2); // the catch-up, then ordinary ticks
    }
    expect(phase3[0] - phase2[phase2.length - 1]).toBeGreaterThanOrEqual(2);

    // Deliveries: every message delivered, each once (a repeat would only be the retry of an attempt the kill
    // interrupted, with the same message id and Upstash-Retried ≥ 1).
    const deliveredIds = new Map<string, number>();
    for (const r of d.requests) {
      expect(r.headers["upstash-schedule-id"]).toBe(scheduleId);
      const id = r.headers["upstash-message-id"] as string;
      expect(created.has(id), `delivered ${id} was created`).toBe(true);
      const n = (deliveredIds.get(id) ?? 0) + 1;
      deliveredIds.set(id, n);
      if (n > 1) expect(Number(r.headers["upstash-retried"])).toBeGreaterThanOrEqual(1);
    }
    const repeats = [...deliveredIds.values()].filter((n) => n > 1).length;
    expect(repeats).toBeLessThanOrEqual(1);
    await eventually(() => new Set(d.requests.map((r) => r.headers["upstash-message-id"])).size === created.size, 3000);

    // The schedule itself: the last tick is the last message's second; paused, so nothing next.
    const s = await run3.client.schedules.get(scheduleId);
    expect(s.lastScheduleTime).toBe(phase3[phase3.length - 1] * 1000);
    expect(s.isPaused).toBe(true);
  }, 40_000);
});
