import { Client } from "@upstash/qstash";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killHard, runSluiceToExit, spawnSluice, type SluiceProcess } from "../helpers/process.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { DEV_TOKEN, startSluice } from "../helpers/sluice.js";

const root = mkdtempSync(join(tmpdir(), "sluice-lock-"));
const procs: SluiceProcess[] = [];
const receivers: TestReceiver[] = [];
afterAll(async () => {
  for (const p of procs) await killHard(p);
  for (const r of receivers) await r.close();
  rmSync(root, { recursive: true, force: true });
});

const start = async (dataDir: string): Promise<SluiceProcess> => {
  const p = await spawnSluice(["dev", "--data", dataDir, "--port", "0"]);
  procs.push(p);
  return p;
};

describe("one process per data folder", () => {
  it("a second process on the folder refuses to start, and the first one's attempt in flight is not disturbed", async () => {
    const dataDir = join(root, "shared");
    const dest = await TestReceiver.start();
    receivers.push(dest);
    // The first attempt is held open for the whole time the second process tries to start.
    const holdMs = 8000;
    dest.respond = (_req, i) => (i === 0 ? { status: 200, delayMs: holdMs } : { status: 200 });
    const first = await start(dataDir);
    const client = new Client({ baseUrl: first.url, token: DEV_TOKEN });
    // Retried at once if anything marked the attempt as interrupted, so a duplicate would show up within the hold.
    const { messageId } = await client.publish({ url: dest.url("/held"), body: "x", retries: 3, retryDelay: "0" });
    await dest.waitFor(1);
    const heldSince = Date.now();

    const firstPort = new URL(first.url).port;
    // On a free port, and on the first one's port (a start that would fail on "port in use" anyway).
    for (const port of ["0", firstPort]) {
      const refused = await runSluiceToExit(["dev", "--data", dataDir, "--port", port]);
      expect(refused.code).not.toBe(0);
      expect(refused.output).toContain(`data folder ${dataDir} is in use by another Sluice process (pid ${first.child.pid})`);
      expect(refused.output).not.toMatch(/running at|EADDRINUSE/);
    }
    expect(Date.now() - heldSince).toBeLessThan(holdMs);

    const delivered = await eventually(async () => {
      const { logs } = await client.logs({ filter: { messageId } });
      return logs.some((l) => l.state === "DELIVERED") ? logs : undefined;
    }, holdMs + 5000, 100);
    expect(delivered.map((l) => l.state).sort()).toEqual(["ACTIVE", "CREATED", "DELIVERED"]);
    expect(dest.requests).toHaveLength(1);
    expect(dest.requests[0].headers["upstash-retried"]).toBe("0");
  }, 30_000);

  it("the lock goes with its process: after kill -9 a new process takes the folder at once", async () => {
    const dataDir = join(root, "killed");
    const first = await start(dataDir);
    const { messageId } = await new Client({ baseUrl: first.url, token: DEV_TOKEN }).publish({ url: "http://127.0.0.1:9/x", body: "x", delay: 3600 });
    await killHard(first);

    const second = await start(dataDir);
    const res = await fetch(`${second.url}/v2/messages/${messageId}`, { headers: { Authorization: `Bearer ${DEV_TOKEN}` } });
    expect(res.status).toBe(200);
  }, 30_000);

  it("creates the data folder readable by its owner only, and every file in it too", async () => {
    const dataDir = join(root, "new", "data");
    const p = await start(dataDir);
    // A publish makes sure the WAL and its index exist.
    await new Client({ baseUrl: p.url, token: DEV_TOKEN }).publish({ url: "http://127.0.0.1:9/x", body: "x", delay: 3600 });

    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dataDir);
    expect(files).toEqual(expect.arrayContaining(["sluice.db", "sluice.db-wal", "sluice.db-shm", "sluice.lock", "sluice.pid"]));
    for (const f of files) expect({ f, mode: (statSync(join(dataDir, f)).mode & 0o777).toString(8) }).toEqual({ f, mode: "600" });
  }, 30_000);

  it("a start that fails on a port in use lets go of the folder, so the next start can take it", async () => {
    const holder = await startSluice();
    try {
      const dataDir = join(root, "port-in-use");
      await expect(startSluice({ dataDir, port: holder.port })).rejects.toThrow(/EADDRINUSE/);
      const next = await startSluice({ dataDir });
      try {
        expect((await next.api("GET", "/v2/keys")).status).toBe(200);
        // Two servers in one process are refused too.
        await expect(startSluice({ dataDir })).rejects.toThrow(`data folder ${dataDir} is in use by another Sluice process (pid ${process.pid})`);
      } finally {
        await next.close();
      }
    } finally {
      await holder.close();
    }
  }, 30_000);
});
