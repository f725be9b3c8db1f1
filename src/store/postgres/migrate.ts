import type pg from "pg";
import { MIGRATIONS } from "./migrations/index.js";

/**
 * Brings the schema up to this version of Sluice, in one transaction under an advisory lock (so nodes starting
 * together apply each migration once), and refuses a schema newer than this version knows: an older binary must
 * not write to tables whose meaning has moved on. Returns the versions before and after.
 */
export async function migrate(client: pg.Client, schema: string): Promise<{ from: number; to: number }> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`sluice migrations ${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query(`CREATE TABLE IF NOT EXISTS sluice_schema (version integer PRIMARY KEY, applied_ms bigint NOT NULL)`);
    const { rows } = await client.query<{ v: number }>(`SELECT COALESCE(MAX(version), 0)::integer AS v FROM sluice_schema`);
    const from = rows[0].v;
    if (from > MIGRATIONS.length) {
      throw new Error(
        `the database schema "${schema}" is at version ${from}, newer than this Sluice knows (${MIGRATIONS.length}): ` +
          `run a Sluice at least as new as the one that migrated it`,
      );
    }
    for (let v = from + 1; v <= MIGRATIONS.length; v++) {
      await client.query(MIGRATIONS[v - 1]);
      await client.query(`INSERT INTO sluice_schema (version, applied_ms) VALUES ($1, $2)`, [v, Date.now()]);
    }
    await client.query("COMMIT");
    return { from, to: Math.max(from, MIGRATIONS.length) };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}
