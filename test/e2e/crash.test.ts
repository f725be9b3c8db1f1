import { Client } from "@upstash/qstash";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killHard, spawnSluice, type SluiceProcess } from "../helpers/process.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { DEV_TOKEN } from "../helpers/sluice.js";

const dataDir = mkdtempSync(join(tmpdir(), "sluice-crash-"));
const procs: SluiceProcess[] = [];
afterAll(async () => {
  for (const p of procs) await killHard(p);
  rmSync(dataDir, { recursive: true, force: true });
});

describe("kill -9 and restart", () => {
  it("delivers every acknowledged message at least once, and retries attempts that were in flight", async () => {
    const dest = await TestReceiver.start();
    // The first 50 requests hang, so their attempts are in flight when the process is killed.
    dest.respond = (_req, i) => (i < 50 ? { status: 200, delayMs: 60_000 } : { status: 200 });
    const first = await spawnSluice(["dev", "--data", dataDir, "--port", "0"]);
    procs.push(first);
    const client = new Client({ baseUrl: first.url, token: DEV_TOKEN });

    const acked = new Set<string>();
    // 3,000 messages: due now, delayed by 300 ms, and delayed by 2 s, so some are pending and some in flight at the kill.
    for (let b = 0; b < 30; b++) {
      const replies = await client.batchJSON(
        Array.from({ length: 100 }, (_, i) => ({
          url: dest.url(`/m/${b}/${i}`),
          body: { b, i },
          delay: i % 3 === 0 ? 0 : i % 3 === 1 ? "300ms" as never : 2,
          retries: 3,
          retryDelay: "100",
        })),
      );
      for (const r of replies) acked.add((r as { messageId: string }).messageId);
    }
    expect(acked.size).toBe(3000);
    await dest.waitFor(50, 10_000);
    await killHard(first);
    const hung = new Set(dest.requests.slice(0, 50).map((r) => r.headers["upstash-message-id"] as string));

    const second = await spawnSluice(["dev", "--data", dataDir, "--port", "0"]);
    procs.push(second);
    const seen = (): Set<string> => new Set(dest.requests.map((r) => r.headers["upstash-message-id"] as string));
    // Attempts that were in flight at the kill were counted as failed attempts and retried. (Their first arrival
    // already counts as seen, and on PostgreSQL the retries come only once the killed process's lease has passed.)
    const retriedAfterCrash = (): Set<string> =>
      new Set(
        dest.requests
          .filter((r, i) => i >= 50 && hung.has(r.headers["upstash-message-id"] as string) && r.headers["upstash-retried"] === "1")
          .map((r) => r.headers["upstash-message-id"] as string),
      );
    await eventually(() => [...acked].every((id) => seen().has(id)) && retriedAfterCrash().size === hung.size, 30_000, 100);
    expect(retriedAfterCrash().size).toBe(hung.size);
    await dest.close();
  }, 60_000);
});
