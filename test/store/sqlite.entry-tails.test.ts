import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { WriteOp } from "../../src/store/store.js";
import type { RunRecord } from "../../src/model/run.js";
import { message } from "./contract.js";

/**
 * The embedded store answers a run's latest entries from what it committed, without reading the entry table: these
 * check that what it answers is always what the table holds, through rollbacks, restarts and reused run ids.
 */
describe("SQLite store: a run's entries as committed", () => {
  const dirs: string[] = [];
  const open: SqliteStore[] = [];
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function folder(): string {
    const d = mkdtempSync(join(tmpdir(), "sluice-entry-tails-"));
    dirs.push(d);
    return d;
  }

  function storeIn(dir: string): SqliteStore {
    const s = new SqliteStore({ dataDir: dir });
    open.push(s);
    return s;
  }

  async function closeStore(s: SqliteStore): Promise<void> {
    open.splice(open.indexOf(s), 1);
    await s.close();
  }

  /** The entry table itself, read by a second connection: what the store must agree with. */
  function table(dir: string, userId: string, runId: string): [number, string, string][] {
    const db = new Database(join(dir, "sluice.db"), { readonly: true });
    try {
      const rows = db.prepare(`SELECT seq, message_id, body FROM wf_entries WHERE user_id = ? AND run_id = ? ORDER BY seq`).all(userId, runId) as {
        seq: number;
        message_id: string;
        body: Buffer;
      }[];
      return rows.map((r) => [r.seq, r.message_id, r.body.toString()]);
    } finally {
      db.close();
    }
  }

  async function served(s: SqliteStore, userId: string, runId: string, afterSeq = -1): Promise<[number, string, string][]> {
    return (await s.getRunEntries(userId, runId, afterSeq)).map((e) => [e.seq, e.messageId, e.body.toString()]);
  }

  const run = (runId: string, trigger: string, userId = "u1", createdAtMs = 100): RunRecord => ({
    userId,
    runId,
    url: "http://127.0.0.1:1/wf",
    state: "RUN_STARTED",
    createdAtMs,
    callerIp: "127.0.0.1",
    labels: [],
    triggerMessageId: trigger,
    inherit: {},
  });

  const step = (runId: string, id: string, opts: { userId?: string; create?: RunRecord; body?: string } = {}): WriteOp => ({
    op: "runStep",
    userId: opts.userId ?? "u1",
    runId,
    create: opts.create,
    entry: { callType: "step", body: Buffer.from(opts.body ?? `body of ${id}`) },
    insert: { op: "insertMessage", message: message({ id, userId: opts.userId ?? "u1", workflow: { runId, callType: "step" } }) },
  });

  it("numbers each step after the last, also several steps of one run in one transaction", async () => {
    const dir = folder();
    const s = storeIn(dir);
    await s.commit([step("r1", "t1", { create: run("r1", "t1") })]);
    await s.commit([step("r1", "a"), step("r1", "b")]);
    await s.commit([step("r1", "c")]);
    expect(table(dir, "u1", "r1").map(([seq, id]) => [seq, id])).toEqual([[0, "t1"], [1, "a"], [2, "b"], [3, "c"]]);
    expect(await served(s, "u1", "r1")).toEqual(table(dir, "u1", "r1"));
    expect(await served(s, "u1", "r1", 1)).toEqual(table(dir, "u1", "r1").slice(2));
    expect(await served(s, "u1", "r1", 3)).toEqual([]);
  });

  it("shows nothing of a transaction that rolled back, and numbers the next step as if it never ran", async () => {
    const dir = folder();
    const s = storeIn(dir);
    await s.commit([step("r1", "t1", { create: run("r1", "t1") }), step("r2", "u1t", { create: run("r2", "u1t") })]);
    // The second insert reuses a message id: the whole transaction fails, after the first step's entry was written.
    await expect(s.commit([step("r1", "lost"), step("r2", "t1")])).rejects.toThrow();
    expect(await served(s, "u1", "r1")).toEqual([[0, "t1", "body of t1"]]);
    expect(await served(s, "u1", "r1", 0)).toEqual([]);
    await s.commit([step("r1", "kept")]);
    expect(table(dir, "u1", "r1")).toEqual([
      [0, "t1", "body of t1"],
      [1, "kept", "body of kept"],
    ]);
    expect(await served(s, "u1", "r1", 0)).toEqual([[1, "kept", "body of kept"]]);
  });

  it("continues the numbering of runs written before a restart", async () => {
    const dir = folder();
    const first = storeIn(dir);
    await first.commit([step("r1", "t1", { create: run("r1", "t1") })]);
    await first.commit([step("r1", "a")]);
    await closeStore(first);
    const s = storeIn(dir);
    await s.commit([step("r1", "b")]);
    expect(await served(s, "u1", "r1", 0)).toEqual([
      [1, "a", "body of a"],
      [2, "b", "body of b"],
    ]);
    expect(await served(s, "u1", "r1")).toEqual(table(dir, "u1", "r1"));
    expect(table(dir, "u1", "r1").map(([seq]) => seq)).toEqual([0, 1, 2]);
  });

  it("gives a run id that a new run took only the new run's entries", async () => {
    const dir = folder();
    const s = storeIn(dir);
    await s.commit([step("r1", "t1", { create: run("r1", "t1") })]);
    await s.commit([step("r1", "old")]);
    await s.commit([{ op: "runUpdate", userId: "u1", runId: "r1", expectState: ["RUN_STARTED"], patch: { state: "RUN_SUCCESS", completedAtMs: 150 } }]);
    await s.commit([step("r1", "t2", { create: run("r1", "t2", "u1", 200) })]);
    await s.commit([step("r1", "new")]);
    expect(await served(s, "u1", "r1")).toEqual([
      [0, "t2", "body of t2"],
      [1, "new", "body of new"],
    ]);
    expect(await served(s, "u1", "r1")).toEqual(table(dir, "u1", "r1"));
  });

  it("keeps the entries of two users' runs of the same id apart", async () => {
    const dir = folder();
    const s = storeIn(dir);
    await s.commit([step("r1", "a1", { create: run("r1", "a1", "u1") })]);
    await s.commit([step("r1", "b1", { userId: "u2", create: run("r1", "b1", "u2") })]);
    await s.commit([step("r1", "a2"), step("r1", "b2", { userId: "u2" })]);
    expect(await served(s, "u1", "r1")).toEqual([
      [0, "a1", "body of a1"],
      [1, "a2", "body of a2"],
    ]);
    expect(await served(s, "u2", "r1")).toEqual([
      [0, "b1", "body of b1"],
      [1, "b2", "body of b2"],
    ]);
    expect(await served(s, "u2", "r1")).toEqual(table(dir, "u2", "r1"));
    expect(await served(s, "u1", "r1", 0)).toEqual([[1, "a2", "body of a2"]]);
    expect(await served(s, "u2", "r1", 0)).toEqual([[1, "b2", "body of b2"]]);
  });

  it("answers long runs and large entries in full", async () => {
    const dir = folder();
    const s = storeIn(dir);
    await s.commit([step("r1", "t1", { create: run("r1", "t1") })]);
    for (let i = 1; i <= 12; i++) await s.commit([step("r1", `s${i}`)]);
    const large = "x".repeat(200 * 1024);
    await s.commit([step("r1", "big", { body: large })]);
    await s.commit([step("r1", "after")]);
    const all = table(dir, "u1", "r1");
    expect(all).toHaveLength(15);
    expect(await served(s, "u1", "r1")).toEqual(all);
    expect(await served(s, "u1", "r1", 2)).toEqual(all.slice(3));
    expect(await served(s, "u1", "r1", 12)).toEqual(all.slice(13));
    expect((await served(s, "u1", "r1", 12))[0][2]).toBe(large);
  });
});
