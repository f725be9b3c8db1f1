import { Client } from "@upstash/qstash";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killHard, spawnSluice, type SluiceProcess } from "../helpers/process.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { DEV_TOKEN } from "../helpers/sluice.js";
import { publishMany, sleep, Tracker, uniqueKey } from "./flow-support.js";

/** The limiter's settings (pause, pins) survive kill -9, and the limits hold for what is redelivered. Needs `npm run build`. */

const dataDir = mkdtempSync(join(tmpdir(), "sluice-flow-"));
// A folder of its own: the first test's restarted server still holds `dataDir` (one process per data folder).
const windowDataDir = mkdtempSync(join(tmpdir(), "sluice-flow-window-"));
const procs: SluiceProcess[] = [];
let dest: TestReceiver | undefined;
afterAll(async () => {
  for (const p of procs) await killHard(p);
  await dest?.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(windowDataDir, { recursive: true, force: true });
});

describe("flow control across kill -9", () => {
  it("pause, pin and an unpinned value survive a restart; after resume every message arrives, never over its limit", async () => {
    dest = await TestReceiver.start();
    const before = new Tracker([dest], (req) => req.path.split("/")[1]);
    before.reply = () => ({ status: 200, delayMs: 30_000 }); // in flight when the process dies
    const first = await spawnSluice(["dev", "--data", dataDir, "--port", "0"]);
    procs.push(first);
    const c1 = new Client({ baseUrl: first.url, token: DEV_TOKEN });
    const key = uniqueKey("crash");
    const fc = { key, parallelism: 5 };
    const retry = { retries: 3, retryDelay: "200" };

    const ids = await publishMany(c1, 1, (i) => dest!.url(`/first/${i}`), fc, retry);
    await before.waitFor(1);
    await c1.flowControl.pin(key, { parallelism: 2 });
    await c1.flowControl.pause(key);
    ids.push(...(await publishMany(c1, 11, (i) => dest!.url(`/first/rest-${i}`), fc, retry)));
    expect(await c1.flowControl.get(key)).toMatchObject({
      isPaused: true,
      isPinnedParallelism: true,
      parallelismMax: 2,
      parallelismCount: 1,
      waitListSize: 11,
    });

    // A second key whose pin was lifted: the unpinned value (1) stays in force for its backlog (values 5).
    const heldKey = uniqueKey("crash-held");
    const heldFc = { key: heldKey, parallelism: 5 };
    const heldIds = await publishMany(c1, 1, (i) => dest!.url(`/held/${i}`), heldFc, retry);
    await before.waitFor(2);
    await c1.flowControl.pin(heldKey, { parallelism: 1 });
    heldIds.push(...(await publishMany(c1, 5, (i) => dest!.url(`/held/rest-${i}`), heldFc, retry)));
    await c1.flowControl.unpin(heldKey, { parallelism: true });
    expect(await c1.flowControl.get(heldKey)).toMatchObject({ isPinnedParallelism: false, parallelismMax: 1, waitListSize: 5 });
    await killHard(first);

    const after = new Tracker([dest], (req) => req.path.split("/")[1]);
    after.reply = () => ({ status: 200, delayMs: 150 });
    const second = await spawnSluice(["dev", "--data", dataDir, "--port", "0"]);
    procs.push(second);
    const c2 = new Client({ baseUrl: second.url, token: DEV_TOKEN });
    // The interrupted attempt counts as a failed attempt; its retry joins the paused key's waitlist.
    const restored = await eventually(async () => {
      const info = await c2.flowControl.get(key);
      return info.waitListSize === 12 && info;
    }, 5000);
    expect(restored).toMatchObject({ isPaused: true, isPinnedParallelism: true, isPinnedRate: false, parallelismMax: 2, parallelismCount: 0 });
    expect(await c2.flowControl.get(heldKey)).toMatchObject({ isPinnedParallelism: false, parallelismMax: 1 });
    await sleep(300);
    expect(after.of("first")).toHaveLength(0);

    await c2.flowControl.resume(key);
    await eventually(() => ids.every((id) => after.counts().has(id)), 8000, 10);
    await sleep(200);
    for (const id of ids) expect(after.counts().get(id)).toBeGreaterThanOrEqual(1);
    expect(after.max("first")).toBe(2);
    // Resumed, and still pinned.
    expect(await c2.flowControl.get(key)).toMatchObject({ isPaused: false, isPinnedParallelism: true, parallelismMax: 2 });

    // The second key kept its unpinned value across the restart: one at a time, not 5.
    await eventually(() => heldIds.every((id) => after.counts().has(id)), 5000, 10);
    expect(after.max("held")).toBe(1);
  }, 30_000);

  it("a key's rate window survives kill -9: the restarted server does not open a fresh window", async () => {
    const rdest = await TestReceiver.start();
    try {
      const first = await spawnSluice(["dev", "--data", windowDataDir, "--port", "0"]);
      procs.push(first);
      const c1 = new Client({ baseUrl: first.url, token: DEV_TOKEN });
      const key = uniqueKey("rate-window");
      const fc = { key, rate: 3, period: "20s" as const };
      const firstIds = await publishMany(c1, 3, (i) => rdest.url(`/w1/${i}`), fc);
      await rdest.waitFor(3, 5000);
      // The window is saved within a second; then the process dies.
      await sleep(1300);
      await killHard(first);

      const second = await spawnSluice(["dev", "--data", windowDataDir, "--port", "0"]);
      procs.push(second);
      const c2 = new Client({ baseUrl: second.url, token: DEV_TOKEN });
      const laterIds = await publishMany(c2, 3, (i) => rdest.url(`/w2/${i}`), fc);
      // The window of 3 per 20 s was used up before the kill: nothing more starts in it.
      await sleep(1500);
      // On PostgreSQL the new process leads only once the killed one's lease has run out; until then a node that
      // does not lead answers with what it holds itself, which has no window.
      await eventually(async () => ((await (await fetch(`${second.url}/health/ready`)).json()) as { leader?: boolean }).leader || undefined, 10_000);
      // A leader knows a key once it has read its waiting messages.
      const seen = await eventually(async () => {
        const info = await c2.flowControl.get(key).catch(() => undefined);
        return info?.waitListSize === 3 ? info : undefined;
      }, 10_000);
      expect(rdest.requests.filter((r) => r.path.startsWith("/w2/"))).toHaveLength(0);
      expect(seen).toMatchObject({ rateMax: 3, rateCount: 3, waitListSize: 3 });
      // The next window lets them through.
      await eventually(() => rdest.requests.filter((r) => r.path.startsWith("/w2/")).length === 3, 25_000, 50);
      expect(firstIds.length + laterIds.length).toBe(6);
    } finally {
      await rdest.close();
    }
  }, 40_000);
});
