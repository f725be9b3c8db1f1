import type Database from "better-sqlite3";
import type { OpResult, Page, WorkflowOp, WriteOp } from "../store.js";
import { runColumns, runFromColumns, waiterFromColumns as waiterFromRow, waiterSpec } from "../columns.js";
import { runFilterSql } from "../filter-sql.js";
import type { RunEntry, RunFilter, RunRecord, RunState } from "../../model/run.js";
import type { StoredRunEvent, StoredWaiter } from "../../model/waiter.js";
import { EntryTails } from "./entry-tails.js";

type Row = Record<string, any>;

/** The workflow tables of the embedded store: runs, their entries, waiters and events kept for lookback. */
export class WorkflowTables {
  private readonly stmts;

  constructor(
    private readonly db: Database.Database,
    /** Prepares a statement built from a filter once per distinct SQL text (the store's statement cache). */
    private readonly cached: (sql: string) => Database.Statement,
  ) {
    this.stmts = {
      getRun: db.prepare(`SELECT * FROM wf_runs WHERE user_id = ? AND run_id = ?`),
      insertRun: db.prepare(
        `INSERT INTO wf_runs (user_id, run_id, url, host, path, state, created_ms, completed_ms, caller_ip, labels, flow_key,
           spec, response)
         VALUES (@user_id, @run_id, @url, @host, @path, @state, @created_ms, @completed_ms, @caller_ip, @labels, @flow_key,
           @spec, @response)`,
      ),
      updateRun: db.prepare(
        `UPDATE wf_runs SET state = @state, completed_ms = @completed_ms, spec = @spec, response = @response
         WHERE user_id = @user_id AND run_id = @run_id`,
      ),
      // From the entries' primary key: cheaper than rewriting the run's row for every step.
      nextSeq: db.prepare(`SELECT COALESCE(MAX(seq), -1) + 1 AS seq FROM wf_entries WHERE user_id = ? AND run_id = ?`),
      insertEntry: db.prepare(
        `INSERT INTO wf_entries (user_id, run_id, seq, message_id, call_type, created_ms, body) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      entries: db.prepare(`SELECT * FROM wf_entries WHERE user_id = ? AND run_id = ? AND seq > ? ORDER BY seq`),
      putWaiter: db.prepare(
        `INSERT INTO wf_waiters (user_id, event_id, run_id, created_ms, deadline_ms, spec) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      takeWaiter: db.prepare(`DELETE FROM wf_waiters WHERE user_id = ? AND id = ?`),
      waitersOfRun: db.prepare(`SELECT * FROM wf_waiters WHERE user_id = ? AND run_id = ? ORDER BY id`),
      dropRunWaiters: db.prepare(`DELETE FROM wf_waiters WHERE user_id = ? AND run_id = ?`),
      waiters: db.prepare(`SELECT * FROM wf_waiters WHERE user_id = ? AND event_id = ? ORDER BY id`),
      runWaiters: db.prepare(`SELECT * FROM wf_waiters WHERE user_id = ? AND event_id = ? AND run_id = ? ORDER BY id`),
      allWaiters: db.prepare(`SELECT * FROM wf_waiters ORDER BY deadline_ms`),
      dueWaiters: db.prepare(`SELECT * FROM wf_waiters WHERE deadline_ms < ? ORDER BY deadline_ms, id LIMIT ?`),
      putEvent: db.prepare(`INSERT INTO wf_run_events (user_id, run_id, event_id, created_ms, data) VALUES (?, ?, ?, ?, ?)`),
      takeEvent: db.prepare(`DELETE FROM wf_run_events WHERE user_id = ? AND id = ?`),
      findEvent: db.prepare(`SELECT * FROM wf_run_events WHERE user_id = ? AND run_id = ? AND event_id = ? ORDER BY id LIMIT 1`),
      dropEntries: db.prepare(`DELETE FROM wf_entries WHERE user_id = ? AND run_id = ?`),
      dropEvents: db.prepare(`DELETE FROM wf_run_events WHERE user_id = ? AND run_id = ?`),
      dropRun: db.prepare(`DELETE FROM wf_runs WHERE user_id = ? AND run_id = ?`),
      countEvents: db.prepare(`SELECT COUNT(*) AS n FROM wf_run_events WHERE user_id = ? AND run_id = ?`),
    };
  }

  /** Applies one workflow operation inside the caller's transaction; `applyOp` applies nested operations. */
  apply(op: WorkflowOp, applyOp: (op: WriteOp) => OpResult): OpResult {
    switch (op.op) {
      case "runStep": {
        const existing = this.getRun(op.userId, op.runId);
        let appendEntry = op.entry !== undefined;
        if (op.create) {
          if (existing?.state === "RUN_STARTED") {
            if (!op.continueExisting) return { applied: false, duplicateOf: existing.triggerMessageId };
            // The SDK taking over a run the server started: the run, its configuration and its first entry stay.
            appendEntry = false;
          } else {
            // An id whose run has ended names a new run (DECISIONS #21): the old one goes, with what only it used.
            if (existing) this.dropEndedRun(existing, applyOp);
            this.forget(op.userId, op.runId);
            this.stmts.insertRun.run(runToRow(op.create));
            // A new run has no entries yet: its first append needs no look at the table.
            this.entryTails.created(op.userId, op.runId);
          }
        } else {
          if (!existing) return { applied: false, rejected: "unknown" };
          if (existing.state !== "RUN_STARTED") return { applied: false, rejected: existing.state as RunState };
        }
        const inserted = applyOp(op.insert);
        if (!inserted.applied) return inserted;
        if (op.entry && appendEntry) {
          const m = op.insert.message;
          this.appendEntry(op.userId, op.runId, { messageId: m.id, callType: op.entry.callType, body: op.entry.body, createdMs: m.createdAtMs });
        }
        return { applied: true };
      }
      case "runUpdate": {
        const current = this.getRun(op.userId, op.runId);
        if (!current || !op.expectState.includes(current.state)) return { applied: false, rejected: current ? current.state : "unknown" };
        // A newer run of the same id is not the run this update was meant for.
        if (op.expectCreatedAtMs !== undefined && current.createdAtMs !== op.expectCreatedAtMs) return { applied: false, rejected: current.state };
        const run = { ...current, ...op.patch };
        this.forget(op.userId, op.runId);
        this.stmts.updateRun.run(runToRow(run));
        // A run that ended waits for nothing any more.
        if (op.patch.state && op.patch.state !== "RUN_STARTED") {
          this.stmts.dropRunWaiters.run(op.userId, op.runId);
          // Nor is it delivered to again: its entries need not stay at hand.
          this.entryTails.ended(op.userId, op.runId);
        }
        return { applied: true, nested: (op.then ?? []).map(applyOp) };
      }
      case "runCopyEntries": {
        for (const e of op.entries) this.appendEntry(op.userId, op.runId, e);
        return { applied: true };
      }
      case "putWaiter": {
        const w = op.waiter;
        const info = this.stmts.putWaiter.run(w.userId, w.eventId, w.runId, w.createdMs, w.deadlineMs, waiterSpec(w));
        w.id = Number(info.lastInsertRowid);
        return { applied: true };
      }
      case "takeWaiter": {
        if (this.stmts.takeWaiter.run(op.userId, op.id).changes === 0) return { applied: false };
        return { applied: true, nested: (op.then ?? []).map(applyOp) };
      }
      case "putRunEvent": {
        const e = op.event;
        const info = this.stmts.putEvent.run(e.userId, e.runId, e.eventId, e.createdMs, e.data);
        e.id = Number(info.lastInsertRowid);
        return { applied: true };
      }
      case "takeRunEvent": {
        if (this.stmts.takeEvent.run(op.userId, op.id).changes === 0) return { applied: false };
        return { applied: true, nested: (op.then ?? []).map(applyOp) };
      }
    }
  }

  /**
   * Removes an ended run whose id a new trigger takes: its record, entries, waiters, stored events and the DLQ
   * entry it failed with (which could no longer be resumed or restarted). Its messages stay, with their logs, until
   * retention; being older than the new run, they are not part of it.
   */
  private dropEndedRun(run: RunRecord, applyOp: (op: WriteOp) => OpResult): void {
    this.forget(run.userId, run.runId);
    this.entryTails.ended(run.userId, run.runId);
    this.stmts.dropEntries.run(run.userId, run.runId);
    this.stmts.dropEvents.run(run.userId, run.runId);
    this.stmts.dropRunWaiters.run(run.userId, run.runId);
    this.stmts.dropRun.run(run.userId, run.runId);
    if (run.dlqId) applyOp({ op: "deleteDlq", userId: run.userId, dlqId: run.dlqId });
  }

  /**
   * Runs read recently, frozen. Every step of a run reads its run several times (to publish, to deliver, after the
   * attempt), and parsing the record is most of that cost. Entries are dropped on every write to their run, before
   * the write (a rolled-back transaction then only costs a re-read), so a cached run is never stale. Keyed by run
   * id alone (a key built from user and run would be a new string to hash on every read); the user is checked.
   */
  private readonly cache = new Map<string, RunRecord>();

  /** The last entries of runs being delivered, so a step's append and its delivery need not read the table. */
  private readonly entryTails = new EntryTails();

  private forget(_userId: string, runId: string): void {
    this.cache.delete(runId);
  }

  getRun(userId: string, runId: string): RunRecord | undefined {
    const hit = this.cache.get(runId);
    if (hit && hit.userId === userId) return hit;
    const row = this.stmts.getRun.get(userId, runId) as Row | undefined;
    if (!row) return undefined;
    const run = Object.freeze(runFromRow(row));
    if (this.cache.size >= 10_000) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(runId, run);
    return run;
  }

  /** Appends one entry after the run's last, inside the caller's transaction. */
  private appendEntry(userId: string, runId: string, e: Omit<RunEntry, "seq">): void {
    const seq = this.entryTails.nextSeq(userId, runId) ?? (this.stmts.nextSeq.get(userId, runId) as Row).seq;
    this.stmts.insertEntry.run(userId, runId, seq, e.messageId, e.callType, e.createdMs, e.body);
    this.entryTails.appended(userId, runId, { ...e, seq });
  }

  /** The transaction the workflow writes were part of has committed: what they appended is known from now on. */
  committed(): void {
    this.entryTails.committed();
  }

  /** ...or was rolled back: nothing it did is remembered. */
  rolledBack(): void {
    this.entryTails.rolledBack();
  }

  getEntries(userId: string, runId: string, afterSeq = -1): RunEntry[] {
    const known = this.entryTails.after(userId, runId, afterSeq);
    if (known) return known;
    return (this.stmts.entries.all(userId, runId, afterSeq) as Row[]).map((r) => ({
      seq: r.seq,
      messageId: r.message_id,
      callType: r.call_type,
      body: r.body ?? Buffer.alloc(0),
      createdMs: r.created_ms,
    }));
  }

  listRuns(userId: string, filter: RunFilter, page: Page): { items: RunRecord[]; cursor?: string } {
    const c = runFilterSql(userId, filter, page.cursor);
    const rows = this.cached(`SELECT * FROM wf_runs WHERE ${c.where.join(" AND ")} ORDER BY created_ms DESC, run_id DESC LIMIT ?`).all(
      ...c.params,
      page.count + 1,
    ) as Row[];
    const more = rows.length > page.count;
    const items = rows.slice(0, page.count).map(runFromRow);
    const last = items[items.length - 1];
    return { items, cursor: more && last ? `${last.createdAtMs}_${last.runId}` : undefined };
  }

  listWaiters(userId: string, eventId: string, runId?: string): StoredWaiter[] {
    const rows = (runId === undefined ? this.stmts.waiters.all(userId, eventId) : this.stmts.runWaiters.all(userId, eventId, runId)) as Row[];
    return rows.map(waiterFromRow);
  }

  listAllWaiters(): StoredWaiter[] {
    return (this.stmts.allWaiters.all() as Row[]).map(waiterFromRow);
  }

  listRunWaiters(userId: string, runId: string): StoredWaiter[] {
    return (this.stmts.waitersOfRun.all(userId, runId) as Row[]).map(waiterFromRow);
  }

  listWaitersDue(beforeMs: number, limit: number): StoredWaiter[] {
    return (this.stmts.dueWaiters.all(beforeMs, limit) as Row[]).map(waiterFromRow);
  }

  findRunEvent(userId: string, runId: string, eventId: string): StoredRunEvent | undefined {
    const r = this.stmts.findEvent.get(userId, runId, eventId) as Row | undefined;
    if (!r) return undefined;
    return { id: r.id, userId: r.user_id, runId: r.run_id, eventId: r.event_id, createdMs: r.created_ms, data: r.data ?? Buffer.alloc(0) };
  }

  countRunEvents(userId: string, runId: string): number {
    return (this.stmts.countEvents.get(userId, runId) as { n: number }).n;
  }

  /** Deletes finished runs older than `beforeMs` with their entries and stored events. */
  purge(beforeMs: number, limit: number): number {
    this.cache.clear();
    this.entryTails.clear();
    const runs = this.db
      .prepare(`SELECT user_id, run_id FROM wf_runs WHERE completed_ms IS NOT NULL AND completed_ms < ? LIMIT ?`)
      .all(beforeMs, limit) as Row[];
    for (const r of runs) {
      this.stmts.dropEntries.run(r.user_id, r.run_id);
      this.stmts.dropEvents.run(r.user_id, r.run_id);
      this.stmts.dropRun.run(r.user_id, r.run_id);
    }
    return runs.length;
  }
}

/** A run's row with its labels as SQLite keeps them (a JSON array). */
function runToRow(r: RunRecord): Row {
  const row = runColumns(r);
  row.labels = JSON.stringify(r.labels);
  return row;
}

function runFromRow(r: Row): RunRecord {
  return runFromColumns(r, JSON.parse(r.labels));
}
