import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { Cluster, type ClusterNode } from "../helpers/cluster.js";
import { adminClient, schemaUrl } from "../helpers/postgres.js";

/**
 * How often a node reads its caches as it starts, counted by PostgreSQL itself (pg_stat_user_tables: scans of the
 * `url_groups` table, which only the URL-group cache reads). A node that leads from its start reads them as often
 * as one that does not lead: its catch-up read, made once its listener is up, serves its lead too (Engine.lead).
 * A node that takes over later reads them once more as it takes over. Nothing changes URL groups meanwhile, so no
 * news makes a node read them again. The schema is migrated first (`sluice migrate`), so the first node's count
 * holds no migration's scans. Needs `npm run build`.
 */

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));

/** PostgreSQL 15 sends a backend's table counts at the latest 10 s after it goes idle. */
const STATS_SETTLE_MS = 12_000;

let cluster: Cluster | undefined;
afterAll(async () => {
  await cluster?.close();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function urlGroupReads(databaseUrl: string): Promise<number> {
  await sleep(STATS_SETTLE_MS);
  const schema = new URL(databaseUrl).searchParams.get("schema")!;
  const admin = await adminClient();
  try {
    const { rows } = await admin.query<{ n: string }>(
      `SELECT seq_scan + coalesce(idx_scan, 0) AS n FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'url_groups'`,
      [schema],
    );
    expect(rows).toHaveLength(1);
    return Number(rows[0].n);
  } finally {
    await admin.end();
  }
}

describe("cache reads at start", () => {
  it("a node that leads from its start reads its caches as often as one that does not lead; a later takeover reads them again", async () => {
    const databaseUrl = schemaUrl();
    await promisify(execFile)(process.execPath, [BIN, "migrate", "--database", databaseUrl], { timeout: 30_000 });
    const migrated = await urlGroupReads(databaseUrl);
    cluster = await Cluster.start(1, {}, databaseUrl);
    const a: ClusterNode = await cluster.leader();
    const byA = (await urlGroupReads(databaseUrl)) - migrated;
    // At least the engine's first load and the catch-up once the listener is up.
    expect(byA).toBeGreaterThanOrEqual(2);

    const b = await cluster.add();
    expect((await cluster.readiness(b)).leader).toBe(false);
    const byB = (await urlGroupReads(databaseUrl)) - migrated - byA;
    expect(byA).toBe(byB);

    await cluster.kill(a);
    expect((await cluster.leader(15_000)).name).toBe("B");
    const atTakeover = (await urlGroupReads(databaseUrl)) - migrated - byA - byB;
    expect(atTakeover).toBe(1);
  }, 90_000);
});
