import { Client } from "@upstash/qstash";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killHard, spawnSluice, type SluiceProcess } from "../helpers/process.js";
import { eventually, TestReceiver, type Received } from "../helpers/receiver.js";
import { DEV_TOKEN } from "../helpers/sluice.js";

/**
 * FIFO queues across a `kill -9` (SPEC §2.3): the queue, its settings and its backlog survive, and after the
 * restart the order still holds. Runs the built CLI (`npm run build` first) on a data directory.
 */

const dataDir = mkdtempSync(join(tmpdir(), "sluice-queues-restart-"));
const procs: SluiceProcess[] = [];
const receivers: TestReceiver[] = [];
const dirs = [dataDir];
afterAll(async () => {
  for (const p of procs) await killHard(p);
  for (const r of receivers) await r.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const HOLD_MS = 100;
const indexOf = (r: Received): number => Number(r.path.split("/")[2]);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("FIFO queue across kill -9 and restart", () => {
  it("delivers every message at least once and keeps the order of first deliveries", async () => {
    const dest = await TestReceiver.start();
    receivers.push(dest);
    dest.respond = () => ({ status: 200, delayMs: HOLD_MS });

    const first = await spawnSluice(["dev", "--data", dataDir, "--port", "0"]);
    procs.push(first);
    let client = new Client({ baseUrl: first.url, token: DEV_TOKEN });
    await client.queue({ queueName: "restart-q" }).upsert({ parallelism: 1 });
    await client.queue({ queueName: "restart-paused" }).upsert({ parallelism: 2, paused: true });
    const before = await client.queue({ queueName: "restart-q" }).get();

    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await client.queue({ queueName: "restart-q" }).enqueueJSON({ url: dest.url(`/r/${i}`), body: { i }, retries: 3, retryDelay: "50" });
      ids.push(res.messageId);
    }
    for (let i = 0; i < 3; i++) {
      await client.queue({ queueName: "restart-paused" }).enqueue({ url: dest.url(`/p/${i}`), body: String(i) });
    }

    // Midway, while the 10th message is held by the receiver (in flight), the process dies.
    await dest.waitFor(10, 10_000);
    await sleep(HOLD_MS / 3);
    await killHard(first);
    const atKill = dest.requests.length;
    expect(atKill).toBeLessThan(30);

    const second = await spawnSluice(["dev", "--data", dataDir, "--port", "0"]);
    procs.push(second);
    client = new Client({ baseUrl: second.url, token: DEV_TOKEN });
    await eventually(() => new Set(dest.at("/r/").map(indexOf)).size === 30, 15_000, 50);
    await sleep(HOLD_MS * 2);

    const rs = dest.at("/r/");
    const seq = rs.map(indexOf);
    // At most the one message in flight at the kill is delivered twice.
    expect(rs.length).toBeLessThanOrEqual(31);
    // Never a step back: nothing started before every earlier message was delivered (redeliveries repeat an index).
    for (let k = 1; k < seq.length; k++) expect(seq[k], `request ${k} of ${JSON.stringify(seq)}`).toBeGreaterThanOrEqual(seq[k - 1]);
    expect([...new Set(seq)]).toEqual([...Array(30).keys()]);
    const firstAt = new Map<number, Received>();
    const lastAt = new Map<number, Received>();
    for (const r of rs) {
      if (!firstAt.has(indexOf(r))) firstAt.set(indexOf(r), r);
      lastAt.set(indexOf(r), r);
    }
    expect([...firstAt.values()].map((r) => r.headers["upstash-message-id"])).toEqual(ids);
    for (let i = 1; i < 30; i++) {
      // The previous message's last delivery was answered (HOLD_MS after it arrived) before this one started.
      expect(firstAt.get(i)!.at, `message ${i}`).toBeGreaterThanOrEqual(lastAt.get(i - 1)!.at + HOLD_MS - 2);
    }
    // The message in flight at the kill was attempted again after the restart, as a retry.
    const interrupted = indexOf(rs[atKill - 1]);
    const again = rs.slice(atKill).filter((r) => indexOf(r) === interrupted);
    expect(again.length).toBeLessThanOrEqual(1);
    if (again.length) expect(again[0].headers["upstash-retried"]).toBe("1");

    // The queues and their settings survived; the paused one still holds its backlog.
    await eventually(async () => (await client.queue({ queueName: "restart-q" }).get()).lag === 0, 5000);
    expect(await client.queue({ queueName: "restart-q" }).get()).toMatchObject({ parallelism: 1, paused: false, createdAt: before.createdAt });
    expect(await client.queue({ queueName: "restart-paused" }).get()).toMatchObject({ parallelism: 2, paused: true, lag: 3 });
    expect(dest.at("/p/")).toHaveLength(0);
    await client.queue({ queueName: "restart-paused" }).resume();
    await eventually(() => dest.at("/p/").length === 3, 5000);
    // Two at a time: the first two start together, the third once one of them was answered.
    expect(dest.at("/p/").map(indexOf)[2]).toBe(2);
  }, 40_000);

  it("a callback interrupted by the kill still holds the queue slot after the restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-queues-restart-cb-"));
    dirs.push(dir);
    const dest = await TestReceiver.start();
    receivers.push(dest);
    // The first callback hangs until the kill; its retry after the restart is answered after 200 ms.
    dest.respond = (req) => (req.path.startsWith("/cb") ? { status: 200, delayMs: dest.at("/cb").length === 1 ? 10_000 : 200 } : { status: 200 });
    const first = await spawnSluice(["dev", "--data", dir, "--port", "0"]);
    procs.push(first);
    const client = new Client({ baseUrl: first.url, token: DEV_TOKEN });
    const queue = (): ReturnType<Client["queue"]> => client.queue({ queueName: "restart-cb" });
    await queue().upsert({ parallelism: 1 });
    await queue().enqueueJSON({
      url: dest.url("/m/0"),
      body: 0,
      callback: dest.url("/cb/0"),
      retries: 2,
      headers: { "Upstash-Callback-Retry-Delay": "50" },
    });
    await queue().enqueueJSON({ url: dest.url("/m/1"), body: 1 });
    await eventually(() => dest.at("/cb").length === 1, 5000);
    await sleep(100);
    expect(dest.at("/m/1")).toHaveLength(0);
    await killHard(first);

    const second = await spawnSluice(["dev", "--data", dir, "--port", "0"]);
    procs.push(second);
    await eventually(() => dest.at("/m/1").length === 1, 10_000, 20);
    const cbs = dest.at("/cb");
    expect(cbs).toHaveLength(2);
    expect(cbs[1].headers["upstash-retried"]).toBe("1");
    expect(dest.at("/m/0")).toHaveLength(1);
    // The next message started only once the callback's retry was answered.
    expect(dest.at("/m/1")[0].at).toBeGreaterThanOrEqual(cbs[1].at + 200 - 2);
  }, 30_000);
});
