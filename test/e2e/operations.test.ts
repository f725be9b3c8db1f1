import Database from "better-sqlite3";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEV_TOKEN } from "../helpers/sluice.js";
import { killHard, runSluiceToExit, spawnSluice, type SluiceProcess } from "../helpers/process.js";

/** What docs/operations.md tells an operator to do, done against the real binary. */
const root = mkdtempSync(join(tmpdir(), "sluice-ops-"));
const procs: SluiceProcess[] = [];
afterAll(async () => {
  for (const p of procs) await killHard(p);
  rmSync(root, { recursive: true, force: true });
});

async function publishDelayed(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}/v2/publish/http://127.0.0.1:9/later/${i}`, {
      method: "POST",
      body: `m${i}`,
      headers: { Authorization: `Bearer ${DEV_TOKEN}`, "Upstash-Delay": "1h" },
    });
    expect(res.status).toBe(200);
  }
}

describe("operations", () => {
  it("backs up a running server with the documented `sluice backup` command, and the backup opens as a data folder", async () => {
    const dataDir = join(root, "live");
    const p = await spawnSluice(["dev", "--data", dataDir, "--port", "0"]);
    procs.push(p);
    await publishDelayed(p.url, 20);
    const backupDir = join(root, "restored");
    execFileSync("mkdir", ["-p", backupDir]);
    // The command in docs/operations.md, while the server keeps serving.
    const writes = publishDelayed(p.url, 20);
    const done = await runSluiceToExit(["backup", "--data", dataDir, "--to", join(backupDir, "sluice.db")]);
    expect(done.code, done.output).toBe(0);
    expect(statSync(join(backupDir, "sluice.db")).mode & 0o777).toBe(0o600);
    await writes;
    const backup = new Database(join(backupDir, "sluice.db"), { readonly: true });
    const check = backup.pragma("integrity_check", { simple: true });
    const rows = (backup.prepare("SELECT count(*) AS n FROM messages").get() as { n: number }).n;
    backup.close();
    expect(check).toBe("ok");
    expect(rows).toBeGreaterThanOrEqual(20);
    // Restored: a server on the backup folder serves what was in it.
    const restored = await spawnSluice(["dev", "--data", backupDir, "--port", "0"]);
    procs.push(restored);
    const res = await fetch(`${restored.url}/v2/events?state=CREATED&count=100`, { headers: { Authorization: `Bearer ${DEV_TOKEN}` } });
    expect(((await res.json()) as { events: unknown[] }).events.length).toBe(rows);
  }, 30_000);

  it("an older binary refuses a database whose schema is newer than it knows", async () => {
    const dataDir = join(root, "newer");
    const first = await spawnSluice(["dev", "--data", dataDir, "--port", "0"]);
    await killHard(first);
    const db = new Database(join(dataDir, "sluice.db"));
    const known = db.pragma("user_version", { simple: true }) as number;
    db.pragma(`user_version = ${known + 1}`);
    db.close();
    const run = await runSluiceToExit(["dev", "--data", dataDir, "--port", "0"]);
    expect(run.code).toBe(1);
    expect(run.output).toContain(
      `database ${join(dataDir, "sluice.db")} has schema version ${known + 1}, newer than this Sluice knows (${known}): it was written by a newer Sluice`,
    );
    expect(run.output).not.toContain("running at");
    // Nothing was changed: the version is still the newer one.
    const after = new Database(join(dataDir, "sluice.db"), { readonly: true });
    expect(after.pragma("user_version", { simple: true })).toBe(known + 1);
    after.close();
  }, 30_000);
});
