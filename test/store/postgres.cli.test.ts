import { afterAll, describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../src/store/postgres/migrations/index.js";
import { killHard, runSluiceToExit, spawnSluice } from "../helpers/process.js";
import { adminClient, dropSchema, schemaUrl } from "../helpers/postgres.js";

/** `sluice migrate` and `--database` on the built binary. */

const made: string[] = [];
afterAll(async () => {
  for (const url of made) await dropSchema(url);
});

function newSchema(): string {
  const url = schemaUrl();
  made.push(url);
  return url;
}

const schemaOf = (url: string): string => new URL(url).searchParams.get("schema")!;

describe("sluice migrate and --database", () => {
  it("migrate applies the migrations once and exits; a second run finds the schema up to date", async () => {
    const url = newSchema();
    const first = await runSluiceToExit(["migrate", "--database", url]);
    expect(first).toEqual({ code: 0, output: `schema "${schemaOf(url)}" migrated from version 0 to ${MIGRATIONS.length}\n` });
    const second = await runSluiceToExit(["migrate"], { SLUICE_DATABASE_URL: url });
    expect(second).toEqual({ code: 0, output: `schema "${schemaOf(url)}" is up to date (version ${MIGRATIONS.length})\n` });
  });

  it("migrate without a database says what it needs", async () => {
    const r = await runSluiceToExit(["migrate"], { SLUICE_DATABASE_URL: "" });
    expect(r.code).toBe(1);
    expect(r.output).toContain("sluice migrate needs --database postgres://… or SLUICE_DATABASE_URL");
  });

  it("serve on a database whose schema is newer than the binary refuses to start, naming the versions", async () => {
    const url = newSchema();
    expect((await runSluiceToExit(["migrate", "--database", url])).code).toBe(0);
    const c = await adminClient();
    try {
      await c.query(`INSERT INTO "${schemaOf(url)}".sluice_schema (version, applied_ms) VALUES ($1, 0)`, [MIGRATIONS.length + 1]);
    } finally {
      await c.end();
    }
    const r = await runSluiceToExit(["serve", "--database", url, "--port", "0"], { SLUICE_USERS: "alice:secret" });
    expect(r.code).toBe(1);
    expect(r.output).toContain(`is at version ${MIGRATIONS.length + 1}, newer than this Sluice knows (${MIGRATIONS.length})`);
  });

  it("dev --database serves from PostgreSQL and the banner hides the password", async () => {
    const url = new URL(newSchema());
    url.username = "postgres";
    url.password = "not-shown";
    const p = await spawnSluice(["dev", "--database", url.toString(), "--port", "0"]);
    try {
      expect(p.output()).toContain("data in postgres://postgres:***@");
      expect(p.output()).not.toContain("not-shown");
      const res = await fetch(`${p.url}/v2/queues`, { headers: { Authorization: `Bearer ${Buffer.from(JSON.stringify({ UserID: "defaultUser", Password: "defaultPassword" })).toString("base64")}` } });
      expect(res.status).toBe(200);
    } finally {
      await killHard(p);
    }
  });

  it("a database setting that is not a PostgreSQL URL stops the start, naming the setting", async () => {
    const r = await runSluiceToExit(["dev", "--database", "mysql://127.0.0.1/x", "--port", "0"]);
    expect(r.code).toBe(1);
    expect(r.output).toContain("setting database (--database, SLUICE_DATABASE_URL) must be a postgres:// or postgresql:// URL");
  });
});
