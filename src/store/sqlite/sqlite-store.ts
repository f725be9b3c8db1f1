import Database from "better-sqlite3";
import { join } from "node:path";
import type { DueKey, FlowWindow, MessageFilter, MetricsCounts, OpResult, Page, SigningKeyPair, Store, StoredQueue, StoredSchedule, StoredUrlGroup, WriteOp } from "../store.js";
import { Checkpointer } from "./checkpointer.js";
import { DataFolderLock } from "./data-folder-lock.js";
import { dlqDetail, dlqFromColumns as dlqFromRow, eventDetail, eventFromColumns, messageColumns, messageFromColumns, queueHolders, queueFromColumns, scheduleFromColumns, urlGroupFromColumns, type QueueHolder } from "../columns.js";
import { filterSql } from "../filter-sql.js";
import { QUEUE_FIELDS, queueConflictAction } from "../queue-upsert.js";
import { createOwnerOnlyFile, makeOwnerOnlyFolder } from "./owner-only-files.js";
import { MIGRATIONS } from "./schema.js";
import { WorkflowTables } from "./workflow-tables.js";
import type { DlqRecord } from "../../model/dlq.js";
import type { LogEvent, StoredEvent } from "../../model/log.js";
import type { MessageRecord, MessageState } from "../../model/message.js";
import type { FlowSettings } from "../../model/flow-settings.js";
import type { RunEntry, RunFilter, RunRecord } from "../../model/run.js";
import type { StoredRunEvent, StoredWaiter } from "../../model/waiter.js";

type Row = Record<string, any>;

/**
 * The connection's page cache, in KiB. Small on purpose: while SQLite splits a B-tree page it renumbers pages
 * through the lock-byte page's number (page 262,145 at 4 KiB pages), which leaves that number as the cache's
 * highest key, and the commit that follows then truncates the cache by walking its whole hash table
 * (pcache1TruncateUnsafe). Until the database passes 1 GiB nearly every commit pays that walk, so a commit costs
 * more the bigger the cache. Small commits pay it most: at 64 MiB a minimal workflow step in `npm run bench` cost
 * 10-30 µs more main-thread time, while batches of hundreds of messages per commit barely noticed. 8 MiB still
 * holds the pages every commit touches (the upper levels of the B-trees, the newest leaves); the rest is a read
 * from the operating system's page cache.
 */
const PAGE_CACHE_KIB = 8 * 1024;

export interface SqliteOptions {
  /** Folder for `sluice.db`, locked to this process while the store is open; undefined keeps everything in memory. */
  dataDir?: string;
  synchronous?: "NORMAL" | "FULL";
}

/** The embedded store: one SQLite file in WAL mode, written by group commits. */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly checkpointer?: Checkpointer;
  private readonly wf: WorkflowTables;
  private readonly lock?: DataFolderLock;

  constructor(opts: SqliteOptions = {}) {
    let file = ":memory:";
    if (opts.dataDir) {
      makeOwnerOnlyFolder(opts.dataDir);
      // Before the database is opened: a second process must not read, recover or migrate anything.
      this.lock = DataFolderLock.acquire(opts.dataDir);
      file = join(opts.dataDir, "sluice.db");
      createOwnerOnlyFile(file);
    }
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    // NORMAL in WAL mode loses nothing when the process dies (kill -9); FULL also covers power loss.
    this.db.pragma(`synchronous = ${opts.synchronous ?? "NORMAL"}`);
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
    this.db.pragma("temp_store = MEMORY");
    this.migrate();
    this.stmts = this.prepare();
    this.transaction = this.db.transaction((list: WriteOp[]) => this.applyAll(list));
    this.wf = new WorkflowTables(this.db, (sql) => this.cached(sql));
    if (opts.dataDir) {
      // Checkpoints run on a worker thread; the main connection checkpoints only as a fallback if the WAL
      // grows past ~256 MB (the worker stuck or gone).
      this.db.pragma("wal_autocheckpoint = 65536");
      this.checkpointer = new Checkpointer(file, opts.synchronous ?? "NORMAL");
    }
  }

  private migrate(): void {
    const version = this.db.pragma("user_version", { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      // A newer Sluice wrote this schema: reading or writing it with older code could lose or corrupt data.
      const where = this.db.name;
      this.db.close();
      this.lock?.release();
      throw new Error(
        `database ${where} has schema version ${version}, newer than this Sluice knows (${MIGRATIONS.length}): ` +
          `it was written by a newer Sluice. Run that version (or newer), or restore a backup taken before the upgrade`,
      );
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  private prepare() {
    const db = this.db;
    return {
      // Bound by position (see MESSAGE_COLUMNS): binding 22 named parameters from an object costs more than the insert.
      insertMessage: db.prepare(`INSERT INTO messages (${MESSAGE_COLUMNS.join(", ")}) VALUES (${MESSAGE_COLUMNS.map(() => "?").join(", ")})`),
      // OR IGNORE: a body already kept (named again by a later request) is left as it is.
      putBody: db.prepare(`INSERT OR IGNORE INTO bodies (id, body) VALUES (?, ?)`),
      getBody: db.prepare(`SELECT body FROM bodies WHERE id = ?`),
      dropUnusedBody: db.prepare(`DELETE FROM bodies WHERE id = ? AND NOT EXISTS (SELECT 1 FROM messages WHERE body_id = ?)`),
      updateMessage: db.prepare(
        `UPDATE messages SET state = ?, retried = ?, due_ms = ?, finished_ms = ? WHERE id = ? AND state = ?`,
      ),
      insertDlq: db.prepare(
        `INSERT INTO dlq (dlq_id, user_id, message_id, created_ms, response_status, detail, response_body)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      deleteDlq: db.prepare(`DELETE FROM dlq WHERE user_id = ? AND dlq_id = ?`),
      getDedup: db.prepare(`SELECT message_id, expires_ms FROM dedup WHERE user_id = ? AND dedup_key = ?`),
      putDedup: db.prepare(
        `INSERT INTO dedup (user_id, dedup_key, message_id, expires_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id, dedup_key) DO UPDATE SET message_id = excluded.message_id, expires_ms = excluded.expires_ms`,
      ),
      getMessage: db.prepare(`SELECT * FROM messages WHERE user_id = ? AND id = ?`),
      getMessageAny: db.prepare(`SELECT * FROM messages WHERE id = ?`),
      messageState: db.prepare(`SELECT state FROM messages WHERE id = ?`),
      listDue: db.prepare(
        `SELECT id, due_ms FROM messages WHERE state = 'pending' AND (due_ms > ? OR (due_ms = ? AND id > ?)) AND due_ms < ?
         ORDER BY due_ms, id LIMIT ?`,
      ),
      listActive: db.prepare(`SELECT * FROM messages WHERE state = 'active'`),
      isActive: db.prepare(`SELECT 1 FROM messages WHERE id = ? AND user_id = ? AND state = 'active'`),
      deleteQueue: db.prepare(`DELETE FROM queues WHERE user_id = ? AND name = ?`),
      putFlow: db.prepare(
        `INSERT INTO flow_keys (user_id, key, settings) VALUES (?, ?, ?)
         ON CONFLICT (user_id, key) DO UPDATE SET settings = excluded.settings`,
      ),
      putWindow: db.prepare(
        `INSERT INTO flow_windows (user_id, key, start_ms, count) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id, key) DO UPDATE SET start_ms = excluded.start_ms, count = excluded.count`,
      ),
      createGroup: db.prepare(
        `INSERT INTO url_groups (user_id, name, created_ms, updated_ms, endpoints) VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, name) DO NOTHING`,
      ),
      replaceGroup: db.prepare(`UPDATE url_groups SET updated_ms = ?, endpoints = ? WHERE user_id = ? AND name = ? AND updated_ms = ?`),
      deleteGroup: db.prepare(`DELETE FROM url_groups WHERE user_id = ? AND name = ?`),
      deleteGroupVersion: db.prepare(`DELETE FROM url_groups WHERE user_id = ? AND name = ? AND updated_ms = ?`),
      putSchedule: db.prepare(
        `INSERT OR REPLACE INTO schedules (id, user_id, cron, destination, headers, body, caller_ip, paused, created_ms,
           next_ms, last_ms, last_ids, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      deleteSchedule: db.prepare(`DELETE FROM schedules WHERE user_id = ? AND id = ?`),
      fireSchedule: db.prepare(
        `UPDATE schedules SET next_ms = ?, last_ms = ?, last_ids = ?
         WHERE user_id = ? AND id = ? AND next_ms = ? AND revision = ? AND paused = 0`,
      ),
      queueLag: db.prepare(
        `SELECT COUNT(*) AS n FROM messages WHERE user_id = ? AND queue_name = ? AND state IN ('pending', 'active')`,
      ),
      getKeys: db.prepare(`SELECT current_key, next_key FROM signing_keys WHERE user_id = ?`),
      insertKeys: db.prepare(`INSERT INTO signing_keys (user_id, current_key, next_key) VALUES (?, ?, ?) ON CONFLICT (user_id) DO NOTHING`),
      replaceKeys: db.prepare(
        `UPDATE signing_keys SET current_key = ?, next_key = ? WHERE user_id = ? AND current_key = ? AND next_key = ?`,
      ),
    };
  }

  /**
   * Statements built from a filter are prepared once per distinct SQL text: the set is small (one per combination
   * of filters in use), and preparing costs more than running these queries.
   */
  private readonly statements = new Map<string, Database.Statement>();

  private cached(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      if (this.statements.size >= 500) this.statements.clear();
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  async commit(ops: WriteOp[]): Promise<OpResult[]> {
    return this.commitSync(ops);
  }

  /** Applies a group of ops in one transaction; the workflow tables learn whether it was stored. */
  private commitSync(ops: WriteOp[]): OpResult[] {
    let results: OpResult[];
    try {
      results = this.transaction(ops);
    } catch (err) {
      this.wf.rolledBack();
      throw err;
    }
    // The workflow tables keep what this transaction appended to runs only now that it is stored.
    this.wf.committed();
    return results;
  }

  /** `applyAll` in a transaction (made once in the constructor: better-sqlite3 builds four wrappers per `transaction()`). */
  private readonly transaction: (ops: WriteOp[]) => OpResult[];

  private applyAll(list: WriteOp[]): OpResult[] {
    this.bodiesWritten.clear();
    this.eventRows.length = 0;
    const results = list.map((op) => this.applyOp(op));
    this.insertEventRows();
    return results;
  }

  /**
   * Event rows of the current transaction, six values each, inserted together at its end: one multi-row INSERT
   * costs much less per row than a statement per row (each also reads and writes the AUTOINCREMENT counter).
   * Nothing in a transaction reads the events it wrote, and the rows keep their order, so their `seq`s are those
   * row-by-row inserts would have given.
   */
  private readonly eventRows: unknown[] = [];
  private readonly messageValues: unknown[] = new Array(MESSAGE_COLUMNS.length);
  private readonly eventInserts = new Map<number, Database.Statement>();

  private insertEventRows(): void {
    const values = this.eventRows;
    const total = values.length / EVENT_VALUES;
    for (let from = 0; from < total; from += MAX_EVENT_ROWS_PER_INSERT) {
      const n = Math.min(MAX_EVENT_ROWS_PER_INSERT, total - from);
      const chunk = n === total ? values : values.slice(from * EVENT_VALUES, (from + n) * EVENT_VALUES);
      this.eventInsert(n).run(chunk);
    }
    values.length = 0;
  }

  /** The INSERT of `rows` event rows, prepared on first use (at most MAX_EVENT_ROWS_PER_INSERT of them). */
  private eventInsert(rows: number): Database.Statement {
    let stmt = this.eventInserts.get(rows);
    if (!stmt) {
      const tuples = Array.from({ length: rows }, () => "(?, ?, ?, ?, ?, ?)").join(", ");
      stmt = this.db.prepare(`INSERT INTO events (user_id, message_id, time_ms, state, detail, response_body) VALUES ${tuples}`);
      this.eventInserts.set(rows, stmt);
    }
    return stmt;
  }

  /** Shared bodies written in the current transaction: the later messages of a fan-out only name theirs. */
  private readonly bodiesWritten = new Set<string>();

  /**
   * Shared bodies read recently. The messages of a fan-out are read together (they are due together), and each
   * would otherwise get its own copy of the bytes in memory; a body never changes under its id.
   */
  private readonly bodyCache = new Map<string, Buffer>();

  /** Applies one operation inside the current transaction. */
  private applyOp(op: WriteOp): OpResult {
        let result: OpResult = { applied: true };
        switch (op.op) {
          case "insertMessage":
            result = this.applyInsert(op);
            break;
          case "updateMessage": {
            const info = this.stmts.updateMessage.run(op.state, op.retried, op.dueMs, op.finishedMs ?? null, op.id, op.expectState);
            result = { applied: info.changes === 1 };
            if (result.applied) for (const e of op.events ?? []) this.writeEvent(e);
            break;
          }
          case "requestCancel": {
            // One node: the attempt in flight is this process's own, told directly; only the log and the answer remain.
            result = { applied: this.stmts.isActive.get(op.id, op.userId) !== undefined };
            if (result.applied) for (const e of op.events) this.writeEvent(e);
            break;
          }
          case "event":
            this.writeEvent(op.event);
            break;
          case "insertDlq": {
            const e = op.entry;
            this.stmts.insertDlq.run(e.dlqId, e.userId, e.messageId, e.createdMs, e.responseStatus ?? null, dlqDetail(e), e.responseBody ?? null);
            break;
          }
          case "deleteDlq":
            result = { applied: this.stmts.deleteDlq.run(op.userId, op.dlqId).changes === 1 };
            if (result.applied && op.then) result.nested = op.then.map((o) => this.applyOp(o));
            break;
          case "putQueue": {
            const q = op.queue;
            const put = this.cached(
              `INSERT INTO queues (user_id, name, parallelism, paused, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (user_id, name) ${queueConflictAction(op.fields ?? QUEUE_FIELDS)}`,
            );
            result = { applied: put.run(q.userId, q.name, q.parallelism, q.paused ? 1 : 0, q.createdAtMs, q.updatedAtMs).changes === 1 };
            break;
          }
          case "deleteQueue":
            result = { applied: this.stmts.deleteQueue.run(op.userId, op.name).changes === 1 };
            break;
          case "putFlowWindows":
            for (const w of op.windows) this.stmts.putWindow.run(w.userId, w.key, w.startMs, w.count);
            break;
          case "putFlowSettings":
            this.stmts.putFlow.run(op.userId, op.key, JSON.stringify(op.settings));
            break;
          case "putUrlGroup": {
            const g = op.group;
            const endpoints = JSON.stringify(g.endpoints);
            const written =
              op.expectUpdatedAtMs === null ? this.stmts.createGroup.run(g.userId, g.name, g.createdAtMs, g.updatedAtMs, endpoints)
              : this.stmts.replaceGroup.run(g.updatedAtMs, endpoints, g.userId, g.name, op.expectUpdatedAtMs);
            result = { applied: written.changes === 1 };
            break;
          }
          case "deleteUrlGroup": {
            const gone =
              op.expectUpdatedAtMs === undefined ? this.stmts.deleteGroup.run(op.userId, op.name)
              : this.stmts.deleteGroupVersion.run(op.userId, op.name, op.expectUpdatedAtMs);
            result = { applied: gone.changes === 1 };
            break;
          }
          case "putSchedule": {
            const c = op.schedule;
            this.stmts.putSchedule.run(
              c.id, c.userId, c.cron, c.destination, JSON.stringify(c.headers), c.body, c.callerIp, c.paused ? 1 : 0,
              c.createdAtMs, c.nextMs, c.lastMs, JSON.stringify(c.lastMessageIds), c.revision,
            );
            break;
          }
          case "deleteSchedule":
            result = { applied: this.stmts.deleteSchedule.run(op.userId, op.id).changes === 1 };
            break;
          case "fireSchedule": {
            const ids = JSON.stringify(op.inserts.map((i) => i.message.id));
            const fenced = this.stmts.fireSchedule.run(op.nextMs, op.firedMs, ids, op.userId, op.id, op.expectNextMs, op.expectRevision).changes === 1;
            result = { applied: fenced };
            if (fenced) for (const insert of op.inserts) this.applyInsert(insert);
            break;
          }
          case "runStep":
          case "runUpdate":
          case "runCopyEntries":
          case "putWaiter":
          case "takeWaiter":
          case "putRunEvent":
          case "takeRunEvent":
            result = this.wf.apply(op, (o) => this.applyOp(o));
            break;
          default:
            assertNever(op);
        }
        return result;
  }

  private applyInsert(op: Extract<WriteOp, { op: "insertMessage" }>): OpResult {
    const m = op.message;
    if (op.consumeDlq && this.stmts.deleteDlq.run(op.consumeDlq.userId, op.consumeDlq.dlqId).changes === 0) {
      return { applied: false };
    }
    if (op.dedupKey !== undefined) {
      const existing = this.stmts.getDedup.get(m.userId, op.dedupKey) as Row | undefined;
      if (existing && existing.expires_ms > m.createdAtMs) return { applied: false, duplicateOf: existing.message_id };
      this.stmts.putDedup.run(m.userId, op.dedupKey, m.id, op.dedupExpiresMs ?? m.createdAtMs);
    }
    const row = toRow(m);
    if (op.sharedBodyId !== undefined) {
      if (!this.bodiesWritten.has(op.sharedBodyId)) {
        this.stmts.putBody.run(op.sharedBodyId, m.body);
        this.bodiesWritten.add(op.sharedBodyId);
      }
      row.body = null;
      row.body_id = op.sharedBodyId;
    }
    // One array for every insert: the statement has bound its values when `run` returns.
    const values = this.messageValues;
    for (let i = 0; i < MESSAGE_COLUMNS.length; i++) values[i] = row[MESSAGE_COLUMNS[i]];
    this.stmts.insertMessage.run(values);
    for (const e of op.events ?? []) this.writeEvent(e);
    return { applied: true };
  }

  /** Queues an event row of the current transaction (see `eventRows`). */
  private writeEvent(e: LogEvent): void {
    this.eventRows.push(e.userId, e.messageId, e.timeMs, e.state, eventDetail(e), e.responseBody ?? null);
  }

  /** A message row as a record, with its body read from `bodies` when it shares one. */
  private messageOf(r: Row): MessageRecord {
    return messageFromColumns(r, JSON.parse(r.labels), r.body ?? (r.body_id ? this.sharedBody(r.body_id) : Buffer.alloc(0)));
  }

  private sharedBody(id: string): Buffer {
    const hit = this.bodyCache.get(id);
    if (hit) return hit;
    const body = (this.stmts.getBody.get(id) as Row | undefined)?.body ?? Buffer.alloc(0);
    if (this.bodyCache.size >= 64) this.bodyCache.delete(this.bodyCache.keys().next().value!);
    this.bodyCache.set(id, body);
    return body;
  }

  async getMessage(userId: string, id: string): Promise<MessageRecord | undefined> {
    const row = this.stmts.getMessage.get(userId, id) as Row | undefined;
    return row ? this.messageOf(row) : undefined;
  }

  async listDue(after: DueKey, beforeMs: number, limit: number): Promise<DueKey[]> {
    return (this.stmts.listDue.all(after.dueMs, after.dueMs, after.id, beforeMs, limit) as Row[]).map((r) => ({
      id: r.id,
      dueMs: r.due_ms,
    }));
  }

  async getMessagesById(ids: string[]): Promise<MessageRecord[]> {
    const out: MessageRecord[] = [];
    for (const id of ids) {
      const row = this.stmts.getMessageAny.get(id) as Row | undefined;
      if (row) out.push(this.messageOf(row));
    }
    return out;
  }

  async listActive(): Promise<MessageRecord[]> {
    return (this.stmts.listActive.all() as Row[]).map((r) => this.messageOf(r));
  }

  async findUnfinished(userId: string, filter: MessageFilter, limit?: number): Promise<string[]> {
    const { where, params } = filterSql(filter, { timeColumn: "m.created_ms" });
    // An attempt in flight stays `active` after its cancel is requested; a capped call must not pick it again.
    const capped = limit === undefined ? "" : `AND NOT EXISTS (SELECT 1 FROM events e WHERE e.message_id = m.id AND e.state = 'CANCEL_REQUESTED')
      ORDER BY m.created_ms, m.id LIMIT ?`;
    const sql = `SELECT m.id FROM messages m WHERE m.user_id = ? AND m.state IN ('pending', 'active')
      ${where.map((w) => ` AND ${w}`).join("")} ${capped}`;
    const bound = limit === undefined ? params : [...params, limit];
    return (this.cached(sql).all(userId, ...bound) as Row[]).map((r) => r.id);
  }

  async listEvents(userId: string, filter: MessageFilter, page: Page): Promise<{ items: StoredEvent[]; cursor?: string }> {
    const { where, params } = filterSql(filter, { timeColumn: "r.time_ms", stateColumn: "r.state" });
    const { clause, cursorParams, order } = cursorSql(page);
    const sql = `SELECT r.seq AS r_seq, r.time_ms AS r_time_ms, r.state AS r_state, r.detail AS r_detail,
        r.response_body AS r_response_body, m.*
      FROM events r JOIN messages m ON m.id = r.message_id
      WHERE r.user_id = ? ${clause} ${where.map((w) => ` AND ${w}`).join("")}
      ORDER BY r.seq ${order} LIMIT ?`;
    const rows = this.cached(sql).all(userId, ...cursorParams, ...params, page.count + 1) as Row[];
    const more = rows.length > page.count;
    const items = rows.slice(0, page.count).map((r): StoredEvent => ({
      ...eventFromColumns(userId, r.id, { time_ms: r.r_time_ms, state: r.r_state, detail: r.r_detail, response_body: r.r_response_body }),
      seq: r.r_seq,
      message: this.messageOf(r),
    }));
    return { items, cursor: more ? String(items[items.length - 1].seq) : undefined };
  }

  async listDlq(userId: string, filter: MessageFilter, page: Page): Promise<{ items: DlqRecord[]; cursor?: string }> {
    const { where, params } = filterSql(filter, { timeColumn: "r.created_ms", dlq: true });
    const { clause, cursorParams, order } = cursorSql(page);
    const sql = `SELECT r.seq AS r_seq, r.dlq_id AS r_dlq_id, r.created_ms AS r_created_ms,
        r.response_status AS r_response_status, r.detail AS r_detail, r.response_body AS r_response_body, m.*
      FROM dlq r JOIN messages m ON m.id = r.message_id
      WHERE r.user_id = ? ${clause} ${where.map((w) => ` AND ${w}`).join("")}
      ORDER BY r.seq ${order} LIMIT ?`;
    const rows = this.cached(sql).all(userId, ...cursorParams, ...params, page.count + 1) as Row[];
    const more = rows.length > page.count;
    const kept = rows.slice(0, page.count);
    return {
      items: kept.map((r) => dlqFromRow(r, this.messageOf(r))),
      cursor: more ? String(kept[kept.length - 1].r_seq) : undefined,
    };
  }

  async getDlq(userId: string, dlqId: string): Promise<DlqRecord | undefined> {
    const row = this.db
      .prepare(
        `SELECT r.seq AS r_seq, r.dlq_id AS r_dlq_id, r.created_ms AS r_created_ms,
          r.response_status AS r_response_status, r.detail AS r_detail, r.response_body AS r_response_body, m.*
         FROM dlq r JOIN messages m ON m.id = r.message_id WHERE r.user_id = ? AND r.dlq_id = ?`,
      )
      .get(userId, dlqId) as Row | undefined;
    return row ? dlqFromRow(row, this.messageOf(row)) : undefined;
  }

  async listQueues(): Promise<StoredQueue[]> {
    return (this.db.prepare(`SELECT * FROM queues`).all() as Row[]).map(queueFromColumns);
  }

  async getQueue(userId: string, name: string): Promise<StoredQueue | undefined> {
    const row = this.cached(`SELECT * FROM queues WHERE user_id = ? AND name = ?`).get(userId, name) as Row | undefined;
    return row ? queueFromColumns(row) : undefined;
  }

  async countQueueLag(userId: string, queueName: string): Promise<number> {
    return (this.stmts.queueLag.get(userId, queueName) as Row).n;
  }

  async listUrlGroups(): Promise<StoredUrlGroup[]> {
    return (this.db.prepare(`SELECT * FROM url_groups`).all() as Row[]).map(urlGroupFromColumns);
  }

  async getUrlGroup(userId: string, name: string): Promise<StoredUrlGroup | undefined> {
    const row = this.cached(`SELECT * FROM url_groups WHERE user_id = ? AND name = ?`).get(userId, name) as Row | undefined;
    return row ? urlGroupFromColumns(row) : undefined;
  }

  async listSchedules(): Promise<StoredSchedule[]> {
    return (this.db.prepare(`SELECT * FROM schedules`).all() as Row[]).map(scheduleFromColumns);
  }

  async getSchedule(userId: string, id: string): Promise<StoredSchedule | undefined> {
    const row = this.cached(`SELECT * FROM schedules WHERE user_id = ? AND id = ?`).get(userId, id) as Row | undefined;
    return row ? scheduleFromColumns(row) : undefined;
  }

  async listRecentSchedules(userId: string, sinceMs: number): Promise<StoredSchedule[]> {
    // The primary key's prefix narrows the scan to the user's schedules.
    return (this.cached(`SELECT * FROM schedules WHERE user_id = ? AND created_ms >= ?`).all(userId, sinceMs) as Row[]).map(scheduleFromColumns);
  }

  async messageStates(ids: string[]): Promise<Map<string, MessageState>> {
    const out = new Map<string, MessageState>();
    for (const id of ids) {
      const row = this.stmts.messageState.get(id) as Row | undefined;
      if (row) out.set(id, row.state);
    }
    return out;
  }

  async countForMetrics(nowMs: number): Promise<MetricsCounts> {
    const n = (sql: string, ...args: unknown[]): number => (this.cached(sql).get(...args) as Row).n;
    // The message counts read the partial index of pending messages only; runs have no index on their state, so
    // theirs reads the run table (the metrics cache bounds how often).
    return {
      pending: n(`SELECT COUNT(*) AS n FROM messages WHERE state = 'pending'`),
      due: n(`SELECT COUNT(*) AS n FROM messages WHERE state = 'pending' AND due_ms <= ?`, nowMs),
      dlq: n(`SELECT COUNT(*) AS n FROM dlq`),
      schedules: n(`SELECT COUNT(*) AS n FROM schedules`),
      activeRuns: n(`SELECT COUNT(*) AS n FROM wf_runs WHERE state = 'RUN_STARTED'`),
    };
  }

  async countActive(userId: string, flowKey?: string): Promise<number> {
    const row = (flowKey === undefined
      ? this.cached(`SELECT COUNT(*) AS n FROM messages WHERE user_id = ? AND state = 'active'`).get(userId)
      : this.cached(`SELECT COUNT(*) AS n FROM messages WHERE user_id = ? AND flow_key = ? AND state = 'active'`).get(userId, flowKey)) as Row;
    return row.n;
  }

  async countWaiting(userId: string, flowKey: string, nowMs: number): Promise<number> {
    const row = this.cached(
      `SELECT COUNT(*) AS n FROM messages WHERE user_id = ? AND flow_key = ? AND state = 'pending' AND due_ms <= ?`,
    ).get(userId, flowKey, nowMs) as Row;
    return row.n;
  }

  async listFlowKeysInUse(userId: string, nowMs: number, search: string, limit: number): Promise<string[]> {
    // instr(x, '') is 1: an empty search matches every key.
    const rows = this.cached(
      `SELECT DISTINCT flow_key FROM messages WHERE user_id = ? AND flow_key IS NOT NULL AND instr(flow_key, ?) > 0
         AND (state = 'active' OR (state = 'pending' AND due_ms <= ?)) ORDER BY flow_key LIMIT ?`,
    ).all(userId, search, nowMs, limit) as Row[];
    return rows.map((r) => r.flow_key);
  }

  async listFlowWindows(): Promise<FlowWindow[]> {
    return (this.db.prepare(`SELECT * FROM flow_windows`).all() as Row[]).map((r) => ({
      userId: r.user_id,
      key: r.key,
      startMs: r.start_ms,
      count: r.count,
    }));
  }

  async listFlowSettings(): Promise<{ userId: string; key: string; settings: FlowSettings }[]> {
    return (this.db.prepare(`SELECT * FROM flow_keys`).all() as Row[]).map((r) => ({
      userId: r.user_id,
      key: r.key,
      settings: JSON.parse(r.settings),
    }));
  }

  async listQueueHolders(): Promise<QueueHolder[]> {
    const started = this.db
      .prepare(
        `SELECT id, user_id, queue_name, state FROM messages
         WHERE queue_name IS NOT NULL AND state IN ('pending', 'active') AND (retried > 0 OR state = 'active')`,
      )
      .all() as Row[];
    const waitingOnCallbacks = this.db
      .prepare(
        `SELECT s.id, s.user_id, s.queue_name, s.state, COUNT(*) AS n FROM messages c JOIN messages s ON s.id = c.source_id
         WHERE c.source_id IS NOT NULL AND c.state IN ('pending', 'active') AND s.queue_name IS NOT NULL GROUP BY s.id`,
      )
      .all() as Row[];
    return queueHolders(started, waitingOnCallbacks);
  }

  async getRun(userId: string, runId: string): Promise<RunRecord | undefined> {
    return this.wf.getRun(userId, runId);
  }

  async getRunEntries(userId: string, runId: string, afterSeq = -1): Promise<RunEntry[]> {
    return this.wf.getEntries(userId, runId, afterSeq);
  }

  async listRuns(userId: string, filter: RunFilter, page: Page): Promise<{ items: RunRecord[]; cursor?: string }> {
    return this.wf.listRuns(userId, filter, page);
  }

  async listRunMessages(userId: string, runId: string): Promise<{ message: MessageRecord; events: LogEvent[] }[]> {
    const rows = this.cached(`SELECT * FROM messages WHERE user_id = ? AND run_id = ? ORDER BY id`).all(userId, runId) as Row[];
    const events = this.cached(`SELECT * FROM events WHERE message_id = ? ORDER BY seq`);
    return rows.map((r) => ({
      message: this.messageOf(r),
      events: (events.all(r.id) as Parameters<typeof eventFromColumns>[2][]).map((e) => eventFromColumns(userId, r.id, e)),
    }));
  }

  async listWaiters(userId: string, eventId: string, runId?: string): Promise<StoredWaiter[]> {
    return this.wf.listWaiters(userId, eventId, runId);
  }

  async listAllWaiters(): Promise<StoredWaiter[]> {
    return this.wf.listAllWaiters();
  }

  async listRunWaiters(userId: string, runId: string): Promise<StoredWaiter[]> {
    return this.wf.listRunWaiters(userId, runId);
  }

  async listWaitersDue(beforeMs: number, limit: number): Promise<StoredWaiter[]> {
    return this.wf.listWaitersDue(beforeMs, limit);
  }

  async findRunEvent(userId: string, runId: string, eventId: string): Promise<StoredRunEvent | undefined> {
    return this.wf.findRunEvent(userId, runId, eventId);
  }

  async countRunEvents(userId: string, runId: string): Promise<number> {
    return this.wf.countRunEvents(userId, runId);
  }

  async getSigningKeys(userId: string): Promise<SigningKeyPair | undefined> {
    return this.signingKeys(userId);
  }

  async insertSigningKeys(userId: string, keys: SigningKeyPair): Promise<SigningKeyPair> {
    // One connection, both statements without a turn between them: nothing can come in between.
    this.stmts.insertKeys.run(userId, keys.current, keys.next);
    return this.signingKeys(userId)!;
  }

  async replaceSigningKeys(userId: string, expected: SigningKeyPair, keys: SigningKeyPair): Promise<boolean> {
    return this.stmts.replaceKeys.run(keys.current, keys.next, userId, expected.current, expected.next).changes === 1;
  }

  private signingKeys(userId: string): SigningKeyPair | undefined {
    const row = this.stmts.getKeys.get(userId) as Row | undefined;
    return row ? { current: row.current_key, next: row.next_key } : undefined;
  }

  async purge(beforeMs: number, nowMs: number, limit: number): Promise<number> {
    return this.db.transaction(() => {
      const rows = this.db
        .prepare(`SELECT id, body_id FROM messages WHERE finished_ms IS NOT NULL AND finished_ms < ? LIMIT ?`)
        .all(beforeMs, limit) as Row[];
      const delEvents = this.db.prepare(`DELETE FROM events WHERE message_id = ?`);
      const delDlq = this.db.prepare(`DELETE FROM dlq WHERE message_id = ?`);
      const delMsg = this.db.prepare(`DELETE FROM messages WHERE id = ?`);
      const sharedBodies = new Set<string>();
      for (const { id, body_id } of rows) {
        delEvents.run(id);
        delDlq.run(id);
        delMsg.run(id);
        if (body_id) sharedBodies.add(body_id);
      }
      // A shared body goes with the last message that names it; the others of its fan-out may still be unfinished.
      for (const id of sharedBodies) this.stmts.dropUnusedBody.run(id, id);
      this.db.prepare(`DELETE FROM dedup WHERE expires_ms < ?`).run(nowMs);
      // Periods are at most a week: an older window cannot limit anything.
      this.db.prepare(`DELETE FROM flow_windows WHERE start_ms < ?`).run(nowMs - 8 * 86_400_000);
      return rows.length + this.wf.purge(beforeMs, limit);
    })();
  }

  async close(): Promise<void> {
    await this.checkpointer?.stop();
    if (this.db.open) this.db.close();
    this.lock?.release();
  }
}

function cursorSql(page: Page): { clause: string; cursorParams: unknown[]; order: string } {
  const order = page.asc ? "ASC" : "DESC";
  if (page.cursor === undefined || page.cursor === "") return { clause: "", cursorParams: [], order };
  return { clause: page.asc ? "AND r.seq > ?" : "AND r.seq < ?", cursorParams: [Number(page.cursor)], order };
}

/** Values bound per event row, and rows per multi-row INSERT (64 × 6 stays far below SQLite's bound on parameters). */
const EVENT_VALUES = 6;
const MAX_EVENT_ROWS_PER_INSERT = 64;

/** The columns a message insert writes, in the order its parameters are bound. */
const MESSAGE_COLUMNS = [
  "id", "user_id", "state", "due_ms", "retried", "created_ms", "finished_ms", "url", "host", "path", "topic_name",
  "endpoint_name", "queue_name", "schedule_id", "flow_key", "caller_ip", "labels", "spec", "body", "body_id", "source_id", "run_id",
] as const;

/** A message's row with its labels as SQLite keeps them (a JSON array). */
function toRow(m: MessageRecord): Row {
  const row = messageColumns(m);
  row.labels = JSON.stringify(m.labels);
  return row;
}

function assertNever(x: never): never {
  throw new Error(`unhandled write op ${JSON.stringify(x)}`);
}
