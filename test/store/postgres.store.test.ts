import { afterAll, describe, expect, it } from "vitest";
import pg from "pg";
import { clientConfig } from "../../src/store/postgres/connection.js";
import { parseDatabaseUrl } from "../../src/store/postgres/database-url.js";
import { MOVE_MESSAGES } from "../../src/store/postgres/sql/batches.js";
import { WRITER_PLANNER_SETTINGS } from "../../src/store/postgres/writer-connection.js";
import { PgStore, migrateDatabase } from "../../src/store/postgres/pg-store.js";
import { MIGRATIONS } from "../../src/store/postgres/migrations/index.js";
import { classifyStoreError } from "../../src/store/store-errors.js";
import { adminClient, dropSchema, schemaUrl } from "../helpers/postgres.js";
import { message } from "./contract.js";

/** What only the PostgreSQL store has: its schema, its migrations, and how its errors are classified. */

const made: string[] = [];
const stores: PgStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
  for (const url of made) await dropSchema(url);
});

async function open(url = newSchema()): Promise<PgStore> {
  const s = await PgStore.open(url);
  stores.push(s);
  return s;
}

function newSchema(): string {
  const url = schemaUrl();
  made.push(url);
  return url;
}

const schemaOf = (url: string): string => new URL(url).searchParams.get("schema")!;

/** Runs SQL in the test schema of `url` as the administrator. */
async function inSchema(url: string, sql: string): Promise<void> {
  const c = await adminClient();
  try {
    await c.query(`SET search_path = "${schemaOf(url)}"`);
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A trigger that makes inserting a message whose url contains `marker` fail with SQLSTATE `code`. */
async function failInsertsWith(url: string, marker: string, code: string): Promise<void> {
  await inSchema(
    url,
    `CREATE OR REPLACE FUNCTION fail_${code}() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN IF NEW.url LIKE '%${marker}%' THEN RAISE EXCEPTION 'injected ${code}' USING ERRCODE = '${code}'; END IF; RETURN NEW; END $$;
     CREATE TRIGGER fail_${code} BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION fail_${code}();`,
  );
}

describe("PostgreSQL store: schema and migrations", () => {
  it("creates its schema and tables at open, records the version, and a second open applies nothing", async () => {
    const url = newSchema();
    const first = await migrateDatabase(url);
    expect(first).toEqual({ schema: schemaOf(url), from: 0, to: MIGRATIONS.length });
    expect(await migrateDatabase(url)).toEqual({ schema: schemaOf(url), from: MIGRATIONS.length, to: MIGRATIONS.length });
    const c = await adminClient();
    try {
      const { rows } = await c.query(`SELECT version FROM "${schemaOf(url)}".sluice_schema ORDER BY version`);
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
      const tables = await c.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'messages'`, [schemaOf(url)]);
      expect(tables.rows[0].n).toBe(1);
    } finally {
      await c.end();
    }
  });

  it("nodes starting together migrate once", async () => {
    const url = newSchema();
    const results = await Promise.all([migrateDatabase(url), migrateDatabase(url), migrateDatabase(url)]);
    expect(results.map((r) => r.from).sort()).toEqual([0, MIGRATIONS.length, MIGRATIONS.length]);
  });

  it("refuses a schema newer than it knows, saying so, and touches nothing", async () => {
    const url = newSchema();
    const s = await open(url);
    await s.commit([{ op: "insertMessage", message: message({ id: "kept" }) }]);
    await inSchema(url, `INSERT INTO sluice_schema (version, applied_ms) VALUES (${MIGRATIONS.length + 5}, 0)`);
    await expect(PgStore.open(url)).rejects.toThrow(
      `the database schema "${schemaOf(url)}" is at version ${MIGRATIONS.length + 5}, newer than this Sluice knows (${MIGRATIONS.length})`,
    );
    expect((await s.getMessage("u1", "kept"))!.id).toBe("kept");
  });

  it("keeps each schema's data apart", async () => {
    const a = await open();
    const b = await open();
    await a.commit([{ op: "insertMessage", message: message({ id: "only-in-a" }) }]);
    expect(await b.getMessage("u1", "only-in-a")).toBeUndefined();
    expect((await a.getMessage("u1", "only-in-a"))!.id).toBe("only-in-a");
  });

  it("refuses a bad URL or schema name by name", async () => {
    await expect(PgStore.open("mysql://127.0.0.1/x")).rejects.toThrow("database URL must start with postgres:// or postgresql://");
    await expect(PgStore.open("postgres://127.0.0.1/test?schema=a;drop")).rejects.toThrow("database URL parameter schema must be a plain identifier");
  });

  it("drops a shared body with the last message that names it", async () => {
    const url = newSchema();
    const s = await open(url);
    const body = Buffer.from("fan-out body");
    await s.commit(["a", "b"].map((id) => ({ op: "insertMessage" as const, message: message({ id, body }), sharedBodyId: "body_1" })));
    const count = async (): Promise<number> => {
      const c = await adminClient();
      try {
        return (await c.query(`SELECT count(*)::int AS n FROM "${schemaOf(url)}".bodies`)).rows[0].n;
      } finally {
        await c.end();
      }
    };
    expect(await count()).toBe(1);
    await s.commit([{ op: "updateMessage", id: "a", expectState: "pending", state: "delivered", retried: 1, dueMs: 1, finishedMs: 1 }]);
    await s.purge(10, 10, 100);
    expect(await count()).toBe(1);
    expect((await s.getMessage("u1", "b"))!.body).toEqual(body);
    await s.commit([{ op: "updateMessage", id: "b", expectState: "pending", state: "delivered", retried: 1, dueMs: 1, finishedMs: 1 }]);
    await s.purge(10, 10, 100);
    expect(await count()).toBe(0);
  });
});

describe("PostgreSQL store: errors the committer acts on", () => {
  for (const [code, kind] of [
    ["23514", "rejected"],
    ["40001", "transient"],
    ["40P01", "transient"],
    ["53100", "full"],
  ] as const) {
    it(`a commit failing with SQLSTATE ${code} classifies as ${kind} and changes nothing`, async () => {
      const url = newSchema();
      const s = await open(url);
      await failInsertsWith(url, "poison", code);
      const err = await s
        .commit([
          { op: "insertMessage", message: message({ id: "before" }) },
          { op: "insertMessage", message: message({ id: "bad", url: "http://127.0.0.1:1/poison" }) },
          { op: "insertMessage", message: message({ id: "after" }) },
        ])
        .then(() => undefined, (e: unknown) => e);
      expect((err as { code?: string }).code).toBe(code);
      expect(classifyStoreError(err)).toBe(kind);
      expect(await s.getMessagesById(["before", "bad", "after"])).toEqual([]);
      expect(await s.commit([{ op: "insertMessage", message: message({ id: "later" }) }])).toEqual([{ applied: true }]);
    });
  }

  it("the first error of a pipelined commit is the one reported, even when a later op waited on the server", async () => {
    const url = newSchema();
    const s = await open(url);
    await failInsertsWith(url, "poison", "23514");
    const err = await s
      .commit([
        { op: "insertMessage", message: message({ id: "bad", url: "http://127.0.0.1:1/poison" }) },
        // Deciding this one needs an answer from the server, which by then has aborted the transaction.
        { op: "deleteDlq", userId: "u1", dlqId: "d", then: [] },
      ])
      .then(() => undefined, (e: unknown) => e);
    expect((err as { code?: string }).code).toBe("23514");
  });

  it("an op whose answer is read later fails with the commit, never as an unhandled rejection, when a later op waits on the server", async () => {
    const url = newSchema();
    const s = await open(url);
    await s.commit([{ op: "insertMessage", message: message({ id: "m1", state: "active" }) }]);
    await inSchema(
      url,
      `CREATE FUNCTION no_flags() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF NEW.cancel_requested THEN RAISE EXCEPTION 'injected' USING ERRCODE = '23514'; END IF; RETURN NEW; END $$;
       CREATE TRIGGER no_flags BEFORE UPDATE ON messages FOR EACH ROW EXECUTE FUNCTION no_flags();`,
    );
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const err = await s
        .commit([
          { op: "requestCancel", userId: "u1", id: "m1", events: [] },
          // Deciding this one waits for the server, which has aborted the transaction by then.
          { op: "deleteDlq", userId: "u1", dlqId: "d", then: [] },
        ])
        .then(() => undefined, (e: unknown) => e);
      expect((err as { code?: string }).code).toBe("23514");
      // Unhandled rejections are reported after the turn in which they happen.
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("a writer connection lost in the middle of a commit fails it as transient, and the next commit reconnects", async () => {
    const url = newSchema();
    const s = await open(url);
    await s.commit([{ op: "insertMessage", message: message({ id: "first" }) }]);
    const pid = await s.writerPid();
    // The server process ends its own connection while the commit is inserting this message.
    await inSchema(
      url,
      `CREATE FUNCTION cut() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF NEW.url LIKE '%cut-me%' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$;
       CREATE TRIGGER cut BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION cut();`,
    );
    const err = await s
      .commit([
        { op: "insertMessage", message: message({ id: "lost" }) },
        { op: "insertMessage", message: message({ id: "cut", url: "http://127.0.0.1:1/cut-me" }) },
      ])
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(classifyStoreError(err)).toBe("transient");
    expect(await s.getMessagesById(["lost", "cut"])).toEqual([]);
    expect(await s.commit([{ op: "insertMessage", message: message({ id: "again" }) }])).toEqual([{ applied: true }]);
    expect(await s.writerPid()).not.toBe(pid);
  });
});

describe("PostgreSQL store: the writer's plans", () => {
  /** The generic plan of the merged move (what a prepared statement settles on) on a connection made with `settings`. */
  async function genericMovePlan(url: string, settings: Record<string, string>): Promise<string> {
    const c = new pg.Client(clientConfig(parseDatabaseUrl(url), "plan-test", settings));
    await c.connect();
    try {
      await c.query("SET plan_cache_mode = force_generic_plan");
      const types = "text[],text[],text[],integer[],bigint[],bigint[],text[],text[],integer[],text[],text[],bigint[],text[],text[],bytea[],text,bigint";
      await c.query(`PREPARE move(${types}) AS ${MOVE_MESSAGES}`);
      const args = "'{a,b}','{finish,finish}','{delivered,delivered}','{1,1}','{1,1}','{1,1}','{active,active}','{n,n}','{1,2}','{u,u}','{a,b}','{1,1}','{delivered,delivered}','{NULL,NULL}','{NULL,NULL}','n',1";
      const { rows } = await c.query(`EXPLAIN EXECUTE move(${args})`);
      return rows.map((r) => r["QUERY PLAN"]).join("\n");
    } finally {
      await c.end();
    }
  }

  it("a commit's merged moves look messages up by id even on a new table, where the planner alone picks a sequential scan", async () => {
    const url = newSchema();
    const s = await open(url);
    // A new table that has grown past what the planner assumes of one never analysed.
    const ids = Array.from({ length: 2000 }, (_, i) => `m${i}`);
    await s.commit(ids.map((id) => ({ op: "insertMessage" as const, message: message({ id, state: "active" }) })));
    const plain = await genericMovePlan(url, {});
    const writer = await genericMovePlan(url, WRITER_PLANNER_SETTINGS);
    // Without the writer's settings, the plan a prepared statement keeps reads the whole table for every commit.
    expect(plain).toMatch(/Seq Scan on messages m\b/);
    expect(writer).not.toMatch(/Seq Scan on messages/);
    expect(writer).toMatch(/Index Scan using messages_pkey on messages m\b/);
  });
});
