import pg from "pg";
import { dlqFromColumns, eventFromColumns, messageFromColumns, queueHolders, queueFromColumns, scheduleFromColumns, urlGroupFromColumns, runFromColumns, waiterFromColumns, type QueueHolder } from "../columns.js";
import { Conditions, filterSql, runFilterSql } from "../filter-sql.js";
import { postgresDialect } from "../sql-dialect.js";
import type { DueKey, FlowWindow, MessageFilter, MetricsCounts, OpResult, Page, SigningKeyPair, Store, StoredQueue, StoredSchedule, StoredUrlGroup, WriteOp } from "../store.js";
import type { ClusterMembership, MembershipOptions } from "../cluster.js";
import { CommitTransaction, type CommitMember } from "./commit-transaction.js";
import { NewsCollector } from "./news.js";
import { newsChannel, PgMembership } from "./pg-membership.js";
import { clientConfig } from "./connection.js";
import { parseDatabaseUrl, type PgTarget } from "./database-url.js";
import { migrate } from "./migrate.js";
import { DLQ_COLUMNS, DLQ_WITH_MESSAGES, GET_DLQ } from "./sql/dlq.js";
import * as M from "./sql/messages.js";
import { DROP_UNUSED_BODIES, PURGE_DEDUP, PURGE_FLOW_WINDOWS, PURGE_MESSAGES, PURGE_RUNS } from "./sql/purge.js";
import { GET_ENTRIES, GET_RUN } from "./sql/runs.js";
import { GET_SCHEDULE, LIST_RECENT_SCHEDULES, LIST_SCHEDULES } from "./sql/schedules.js";
import * as S from "./sql/settings.js";
import * as W from "./sql/waiters.js";
import { StatementNames } from "./statement-names.js";
import { WriterConnection } from "./writer-connection.js";
import type { DlqRecord } from "../../model/dlq.js";
import type { LogEvent, StoredEvent } from "../../model/log.js";
import type { MessageRecord, MessageState } from "../../model/message.js";
import type { FlowSettings } from "../../model/flow-settings.js";
import type { RunEntry, RunFilter, RunRecord } from "../../model/run.js";
import type { StoredRunEvent, StoredWaiter } from "../../model/waiter.js";

type Row = Record<string, any>;

export interface PgStoreOptions {
  /** Connections for reads (every commit has its own connection besides). */
  readConnections?: number;
}

/**
 * The PostgreSQL store: commits on one pipelined writer connection (see CommitTransaction), reads from a small
 * pool. The schema is migrated when the store opens.
 */
export class PgStore implements Store {
  private readonly names = new StatementNames();
  /** Set once the store joins a cluster: its commits then carry node fences and news for the other nodes. */
  private member: CommitMember | undefined;

  private constructor(
    readonly target: PgTarget,
    private readonly writer: WriterConnection,
    private readonly pool: pg.Pool,
  ) {}

  /** Connects, migrates the schema (creating it if needed) and opens the store. */
  static async open(databaseUrl: string, opts: PgStoreOptions = {}): Promise<PgStore> {
    const target = parseDatabaseUrl(databaseUrl);
    await migrateDatabase(databaseUrl);
    const pool = new pg.Pool({ ...clientConfig(target, "read"), max: opts.readConnections ?? 4 });
    // An idle connection that breaks is dropped by the pool; without a listener the error would end the process.
    pool.on("error", () => undefined);
    return new PgStore(target, new WriterConnection(target), pool);
  }

  async commit(ops: WriteOp[]): Promise<OpResult[]> {
    return this.writer.exclusive((client) => new CommitTransaction(client, this.names, this.member).run(ops));
  }

  /**
   * Makes this store one node of a cluster on its database: from now on its commits record which node an attempt
   * is in flight on, fence starts on the leader epoch and outcomes on their node, and tell the other nodes.
   */
  joinCluster(nodeId: string, opts: MembershipOptions): ClusterMembership {
    if (this.member) throw new Error("the store is already part of a cluster");
    this.member = { nodeId, leaderEpoch: undefined, channel: newsChannel(this.target.schema) };
    return new PgMembership(this.target, this.member, opts);
  }

  /** The pid of the writer's server process, so tests can cut its connection. */
  writerPid(): Promise<number> {
    return this.writer.backendPid();
  }

  private async rows(text: string, values: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query({ text, values, name: this.names.of(text) })).rows;
  }

  private messageOf(r: Row): MessageRecord {
    return messageFromColumns(r, r.labels, r.body ?? Buffer.alloc(0));
  }

  async getMessage(userId: string, id: string): Promise<MessageRecord | undefined> {
    const [row] = await this.rows(M.GET_MESSAGE, [userId, id]);
    return row ? this.messageOf(row) : undefined;
  }

  async listDue(after: DueKey, beforeMs: number, limit: number): Promise<DueKey[]> {
    return (await this.rows(M.LIST_DUE, [after.dueMs, after.id, beforeMs, limit])).map((r) => ({ id: r.id, dueMs: r.due_ms }));
  }

  async getMessagesById(ids: string[]): Promise<MessageRecord[]> {
    if (ids.length === 0) return [];
    return (await this.rows(M.GET_MESSAGES_BY_ID, [ids])).map((r) => this.messageOf(r));
  }

  async listActive(): Promise<MessageRecord[]> {
    return (await this.rows(M.LIST_ACTIVE)).map((r) => this.messageOf(r));
  }

  async findUnfinished(userId: string, filter: MessageFilter, limit?: number): Promise<string[]> {
    const c = new Conditions(postgresDialect);
    c.add("m.user_id = ?", userId);
    c.add("m.state IN ('pending', 'active')");
    filterSql(filter, { timeColumn: "m.created_ms" }, c);
    let tail = "";
    if (limit !== undefined) {
      // An attempt in flight stays `active` after its cancel is requested; a capped call must not pick it again.
      c.add("NOT EXISTS (SELECT 1 FROM events e WHERE e.message_id = m.id AND e.state = 'CANCEL_REQUESTED')");
      tail = `ORDER BY m.created_ms, m.id LIMIT ${c.bind(limit)}`;
    }
    return (await this.rows(`SELECT m.id FROM messages m WHERE ${c.sql()} ${tail}`, c.params)).map((r) => r.id);
  }

  async listEvents(userId: string, filter: MessageFilter, page: Page): Promise<{ items: StoredEvent[]; cursor?: string }> {
    const c = pageConditions(userId, page);
    filterSql(filter, { timeColumn: "r.time_ms", stateColumn: "r.state" }, c);
    const sql = `SELECT r.seq AS r_seq, r.time_ms AS r_time_ms, r.state AS r_state, r.detail AS r_detail,
        r.response_body AS r_response_body, ${M.MESSAGE_COLUMNS}
      FROM events r JOIN messages m ON m.id = r.message_id LEFT JOIN bodies b ON b.id = m.body_id
      WHERE ${c.sql()} ORDER BY r.seq ${page.asc ? "ASC" : "DESC"} LIMIT ${c.bind(page.count + 1)}`;
    const rows = await this.rows(sql, c.params);
    const items = rows.slice(0, page.count).map((r): StoredEvent => ({
      ...eventFromColumns(userId, r.id, { time_ms: r.r_time_ms, state: r.r_state, detail: r.r_detail, response_body: r.r_response_body }),
      seq: r.r_seq,
      message: this.messageOf(r),
    }));
    return { items, cursor: rows.length > page.count ? String(items[items.length - 1].seq) : undefined };
  }

  async listDlq(userId: string, filter: MessageFilter, page: Page): Promise<{ items: DlqRecord[]; cursor?: string }> {
    const c = pageConditions(userId, page);
    filterSql(filter, { timeColumn: "r.created_ms", dlq: true }, c);
    const sql = `SELECT ${DLQ_COLUMNS} FROM ${DLQ_WITH_MESSAGES}
      WHERE ${c.sql()} ORDER BY r.seq ${page.asc ? "ASC" : "DESC"} LIMIT ${c.bind(page.count + 1)}`;
    const rows = await this.rows(sql, c.params);
    const kept = rows.slice(0, page.count);
    return {
      items: kept.map((r) => dlqFromColumns(r, this.messageOf(r))),
      cursor: rows.length > page.count ? String(kept[kept.length - 1].r_seq) : undefined,
    };
  }

  async getDlq(userId: string, dlqId: string): Promise<DlqRecord | undefined> {
    const [row] = await this.rows(GET_DLQ, [userId, dlqId]);
    return row ? dlqFromColumns(row, this.messageOf(row)) : undefined;
  }

  async listQueues(): Promise<StoredQueue[]> {
    return (await this.rows(S.LIST_QUEUES)).map(queueFromColumns);
  }

  async getQueue(userId: string, name: string): Promise<StoredQueue | undefined> {
    const [row] = await this.rows(S.GET_QUEUE, [userId, name]);
    return row ? queueFromColumns(row) : undefined;
  }

  async countQueueLag(userId: string, queueName: string): Promise<number> {
    return (await this.rows(M.QUEUE_LAG, [userId, queueName]))[0].n;
  }

  async listUrlGroups(): Promise<StoredUrlGroup[]> {
    return (await this.rows(S.LIST_URL_GROUPS)).map(urlGroupFromColumns);
  }

  async getUrlGroup(userId: string, name: string): Promise<StoredUrlGroup | undefined> {
    const [row] = await this.rows(S.GET_URL_GROUP, [userId, name]);
    return row ? urlGroupFromColumns(row) : undefined;
  }

  async listSchedules(): Promise<StoredSchedule[]> {
    return (await this.rows(LIST_SCHEDULES)).map(scheduleFromColumns);
  }

  async getSchedule(userId: string, id: string): Promise<StoredSchedule | undefined> {
    const [row] = await this.rows(GET_SCHEDULE, [userId, id]);
    return row ? scheduleFromColumns(row) : undefined;
  }

  async listRecentSchedules(userId: string, sinceMs: number): Promise<StoredSchedule[]> {
    return (await this.rows(LIST_RECENT_SCHEDULES, [userId, sinceMs])).map(scheduleFromColumns);
  }

  async messageStates(ids: string[]): Promise<Map<string, MessageState>> {
    if (ids.length === 0) return new Map();
    return new Map((await this.rows(M.MESSAGE_STATES, [ids])).map((r) => [r.id, r.state]));
  }

  async countForMetrics(nowMs: number): Promise<MetricsCounts> {
    const [r] = await this.rows(M.COUNT_FOR_METRICS, [nowMs]);
    return { pending: r.pending, due: r.due, dlq: r.dlq, schedules: r.schedules, activeRuns: r.active_runs };
  }

  async listFlowSettings(): Promise<{ userId: string; key: string; settings: FlowSettings }[]> {
    return (await this.rows(S.LIST_FLOW_SETTINGS)).map((r) => ({ userId: r.user_id, key: r.key, settings: JSON.parse(r.settings) }));
  }

  async countActive(userId: string, flowKey?: string): Promise<number> {
    return (await this.rows(flowKey === undefined ? M.COUNT_ACTIVE : M.COUNT_ACTIVE_OF_KEY, flowKey === undefined ? [userId] : [userId, flowKey]))[0].n;
  }

  async countWaiting(userId: string, flowKey: string, nowMs: number): Promise<number> {
    return (await this.rows(M.COUNT_WAITING, [userId, flowKey, nowMs]))[0].n;
  }

  async listFlowKeysInUse(userId: string, nowMs: number, search: string, limit: number): Promise<string[]> {
    return (await this.rows(M.FLOW_KEYS_IN_USE, [userId, search, nowMs, limit])).map((r) => r.flow_key);
  }

  async listFlowWindows(): Promise<FlowWindow[]> {
    return (await this.rows(S.LIST_FLOW_WINDOWS)).map((r) => ({ userId: r.user_id, key: r.key, startMs: r.start_ms, count: r.count }));
  }

  async listQueueHolders(): Promise<QueueHolder[]> {
    const [started, waitingOnCallbacks] = await Promise.all([this.rows(M.QUEUE_HOLDERS_STARTED), this.rows(M.QUEUE_HOLDERS_CALLBACKS)]);
    return queueHolders(started, waitingOnCallbacks);
  }

  async getRun(userId: string, runId: string): Promise<RunRecord | undefined> {
    const [row] = await this.rows(GET_RUN, [userId, runId]);
    return row ? runFromColumns(row, row.labels) : undefined;
  }

  async getRunEntries(userId: string, runId: string, afterSeq = -1): Promise<RunEntry[]> {
    return (await this.rows(GET_ENTRIES, [userId, runId, afterSeq])).map((r) => ({
      seq: r.seq,
      messageId: r.message_id,
      callType: r.call_type,
      body: r.body ?? Buffer.alloc(0),
      createdMs: r.created_ms,
    }));
  }

  async listRuns(userId: string, filter: RunFilter, page: Page): Promise<{ items: RunRecord[]; cursor?: string }> {
    const c = runFilterSql(userId, filter, page.cursor, new Conditions(postgresDialect));
    const rows = await this.rows(
      `SELECT * FROM wf_runs WHERE ${c.sql()} ORDER BY created_ms DESC, run_id DESC LIMIT ${c.bind(page.count + 1)}`,
      c.params,
    );
    const items = rows.slice(0, page.count).map((r) => runFromColumns(r, r.labels));
    const last = items[items.length - 1];
    return { items, cursor: rows.length > page.count && last ? `${last.createdAtMs}_${last.runId}` : undefined };
  }

  async listRunMessages(userId: string, runId: string): Promise<{ message: MessageRecord; events: LogEvent[] }[]> {
    const rows = await this.rows(M.RUN_MESSAGES, [userId, runId]);
    if (rows.length === 0) return [];
    const events = new Map<string, LogEvent[]>();
    for (const e of await this.rows(M.EVENTS_OF_MESSAGES, [rows.map((r) => r.id)])) {
      let list = events.get(e.message_id);
      if (!list) events.set(e.message_id, (list = []));
      list.push(eventFromColumns(userId, e.message_id, e as never));
    }
    return rows.map((r) => ({ message: this.messageOf(r), events: events.get(r.id) ?? [] }));
  }

  async listWaiters(userId: string, eventId: string, runId?: string): Promise<StoredWaiter[]> {
    const rows = runId === undefined ? await this.rows(W.EVENT_WAITERS, [userId, eventId]) : await this.rows(W.EVENT_RUN_WAITERS, [userId, eventId, runId]);
    return rows.map(waiterFromColumns);
  }

  async listRunWaiters(userId: string, runId: string): Promise<StoredWaiter[]> {
    return (await this.rows(W.RUN_WAITERS, [userId, runId])).map(waiterFromColumns);
  }

  async listAllWaiters(): Promise<StoredWaiter[]> {
    return (await this.rows(W.ALL_WAITERS)).map(waiterFromColumns);
  }

  async listWaitersDue(beforeMs: number, limit: number): Promise<StoredWaiter[]> {
    return (await this.rows(W.DUE_WAITERS, [beforeMs, limit])).map(waiterFromColumns);
  }

  async findRunEvent(userId: string, runId: string, eventId: string): Promise<StoredRunEvent | undefined> {
    const [r] = await this.rows(W.FIND_RUN_EVENT, [userId, runId, eventId]);
    if (!r) return undefined;
    return { id: r.id, userId: r.user_id, runId: r.run_id, eventId: r.event_id, createdMs: r.created_ms, data: r.data ?? Buffer.alloc(0) };
  }

  async countRunEvents(userId: string, runId: string): Promise<number> {
    return (await this.rows(W.COUNT_RUN_EVENTS, [userId, runId]))[0].n;
  }

  async getSigningKeys(userId: string): Promise<SigningKeyPair | undefined> {
    const [row] = await this.rows(S.GET_SIGNING_KEYS, [userId]);
    return row ? { current: row.current_key, next: row.next_key } : undefined;
  }

  async insertSigningKeys(userId: string, keys: SigningKeyPair): Promise<SigningKeyPair> {
    const [row] = await this.rows(S.INSERT_SIGNING_KEYS, [userId, keys.current, keys.next]);
    if (row) return { current: row.current_key, next: row.next_key };
    const kept = await this.getSigningKeys(userId);
    if (!kept) throw new Error(`the signing keys of user ${userId} were neither stored nor found`);
    return kept;
  }

  async replaceSigningKeys(userId: string, expected: SigningKeyPair, keys: SigningKeyPair): Promise<boolean> {
    let payload: string | null = null;
    if (this.member) {
      const news = new NewsCollector(this.member.nodeId);
      news.changed("signingKeys");
      [payload] = news.payloads();
    }
    const values = [userId, expected.current, expected.next, keys.current, keys.next, this.member?.channel ?? null, payload];
    return (await this.rows(S.REPLACE_SIGNING_KEYS, values)).length === 1;
  }

  async purge(beforeMs: number, nowMs: number, limit: number): Promise<number> {
    // On a read connection: a large purge must not hold up the commits queued on the writer.
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const [{ n, body_ids }] = (await client.query(PURGE_MESSAGES, [beforeMs, limit])).rows;
      // A shared body goes with the last message that names it; the others of its fan-out may still be unfinished.
      if (body_ids.length > 0) await client.query(DROP_UNUSED_BODIES, [body_ids]);
      await client.query(PURGE_DEDUP, [nowMs]);
      await client.query(PURGE_FLOW_WINDOWS, [nowMs - 8 * 86_400_000]);
      const runs = (await client.query(PURGE_RUNS, [beforeMs, limit])).rows[0].n;
      await client.query("COMMIT");
      return n + runs;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.writer.close();
    await this.pool.end();
  }
}

/** One user's rows of a paged table `r` (events, DLQ), after the cursor (a `seq`). */
function pageConditions(userId: string, page: Page): Conditions {
  const c = new Conditions(postgresDialect);
  c.add("r.user_id = ?", userId);
  if (page.cursor !== undefined && page.cursor !== "") c.add(page.asc ? "r.seq > ?" : "r.seq < ?", Number(page.cursor));
  return c;
}

/** Applies the store's migrations to the database without opening the store (`sluice migrate`). */
export async function migrateDatabase(databaseUrl: string): Promise<{ schema: string; from: number; to: number }> {
  const target = parseDatabaseUrl(databaseUrl);
  const client = new pg.Client(clientConfig(target, "migrate"));
  await client.connect();
  try {
    return { schema: target.schema, ...(await migrate(client, target.schema)) };
  } finally {
    await client.end();
  }
}
