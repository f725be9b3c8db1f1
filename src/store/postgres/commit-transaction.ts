import type pg from "pg";
import type { FlowWindow, OpResult, WorkflowOp, WriteOp } from "../store.js";
import { messageColumns, runColumns, runFromColumns, waiterSpec } from "../columns.js";
import { CommitWave, type Move } from "./commit-wave.js";
import { DELETE_DLQ } from "./sql/dlq.js";
import { CLAIM_DEDUP, GET_DEDUP, PUT_BODY, REQUEST_CANCEL } from "./sql/messages.js";
import { NewsCollector } from "./news.js";
import { APPEND_ENTRIES, DROP_ENDED_RUN, INSERT_RUN, INSERT_RUN_COLUMNS, LOCK_RUN, UPDATE_RUN } from "./sql/runs.js";
import { DELETE_SCHEDULE, FIRE_SCHEDULE, PUT_SCHEDULE } from "./sql/schedules.js";
import {
  CREATE_URL_GROUP, DELETE_QUEUE, DELETE_URL_GROUP, DELETE_URL_GROUP_VERSION, PUT_FLOW_SETTINGS, PUT_FLOW_WINDOWS, PUT_LEADER_FLOW_WINDOWS,
  putQueueSql, REPLACE_URL_GROUP,
} from "./sql/settings.js";
import { DROP_RUN_WAITERS, PUT_RUN_EVENT, PUT_WAITER, TAKE_RUN_EVENT, TAKE_WAITER } from "./sql/waiters.js";
import type { StatementNames } from "./statement-names.js";
import { WriteCoalescer } from "./write-coalescer.js";
import type { RunRecord } from "../../model/run.js";

type InsertOp = Extract<WriteOp, { op: "insertMessage" }>;
type UpdateOp = Extract<WriteOp, { op: "updateMessage" }>;

/** An op sent to the server whose outcome may still be on its way back. */
interface Sent {
  result: Promise<OpResult>;
}

const APPLIED: Promise<OpResult> = Promise.resolve({ applied: true });

/** The committing node, when the store is shared by a cluster. */
export interface CommitMember {
  nodeId: string;
  /** The epoch of the leadership this node holds, if it leads. */
  leaderEpoch: number | undefined;
  /** The channel that carries news of commits to the other nodes. */
  channel: string;
}

/**
 * One group commit as one transaction on the writer connection, pipelined: every statement is sent without
 * waiting for the one before, and the commit waits for the server only where a decision depends on an answer
 * (a fence whose `then` must be applied or not, a run's state, a deduplication key). The hot writes (inserts,
 * fenced moves, events, DLQ entries) of consecutive ops are merged into one statement per kind (CommitWave). A
 * commit of plain inserts, fenced updates and events is then one round trip of a few statements, BEGIN to COMMIT.
 *
 * If a statement fails, the server aborts the transaction: every later statement fails too, and COMMIT rolls
 * back. The error reported is that of the first statement that failed, in the order they were sent.
 */
export class CommitTransaction {
  private readonly sent: Promise<pg.QueryResult>[] = [];
  /** Shared bodies written in this transaction: the later messages of a fan-out only name theirs. */
  private readonly bodiesWritten = new Set<string>();
  /** Hot writes held back to be sent merged; flushed before any op that reads or decides. */
  private readonly wave: CommitWave;

  /** What the other nodes of a cluster learn of this commit, sent with it. */
  private readonly news: NewsCollector | undefined;
  /** The statements sent in one turn leave in one socket write. */
  private readonly writes: WriteCoalescer;

  constructor(
    private readonly client: pg.Client,
    private readonly names: StatementNames,
    private readonly member?: CommitMember,
  ) {
    this.news = member ? new NewsCollector(member.nodeId) : undefined;
    this.wave = new CommitWave(member);
    this.writes = new WriteCoalescer(client);
  }

  async run(ops: WriteOp[]): Promise<OpResult[]> {
    this.send("BEGIN");
    let results: OpResult[];
    try {
      const pending = await this.startAll(ops);
      // Inside the transaction: delivered to the listeners after it commits, never if it rolls back.
      for (const payload of this.news?.payloads() ?? []) this.send("SELECT pg_notify($1, $2)", [this.member!.channel, payload]);
      this.send("COMMIT");
      results = await Promise.all(pending.map((p) => p.result));
      await Promise.all(this.sent);
    } catch (err) {
      throw await this.firstError(err);
    }
    return results;
  }

  /** The first statement that failed: later ones only failed because the transaction was already aborted. */
  private async firstError(fallback: unknown): Promise<unknown> {
    const outcomes = await Promise.allSettled(this.sent);
    // Ends the transaction if COMMIT was never sent (a failure met while deciding); a no-op otherwise.
    await this.client.query("ROLLBACK").catch(() => undefined);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    return failed ? failed.reason : fallback;
  }

  private readonly sendStatement = (text: string, values: unknown[]): Promise<pg.QueryResult> => this.send(text, values);

  private send(text: string, values?: unknown[]): Promise<pg.QueryResult> {
    this.writes.beforeSend();
    const p = this.client.query({ text, values, name: values ? this.names.of(text) : undefined });
    // Observed by `run` (all of them) or `firstError`; never left unhandled.
    p.catch(() => undefined);
    this.sent.push(p);
    return p;
  }

  private async startAll(ops: WriteOp[]): Promise<Sent[]> {
    const out: Sent[] = [];
    for (const op of ops) out.push(await this.start(op));
    this.flushWave();
    return out;
  }

  /** `then` ops, applied after a fence that held; their results become the op's `nested`. */
  private async nested(then: WriteOp[] | undefined): Promise<Sent> {
    const inner = await this.startAll(then ?? []);
    return { result: observed(Promise.all(inner.map((s) => s.result)).then((nested) => ({ applied: true, nested }))) };
  }

  private flushWave(): void {
    if (!this.wave.empty) this.wave.flush(this.sendStatement);
  }

  /** Makes room in the wave for an op on these message ids: a wave holds one op per id. */
  private waveFor(ids: string[], events?: { messageId: string }[]): void {
    if (this.wave.touches(ids) || (events && this.wave.touches(events.map((e) => e.messageId)))) this.flushWave();
  }

  /**
   * Ops that only read and write settings tables (never messages, events or DLQ) go out at once, without closing
   * the wave; any other op that is not merged closes it first, so it sees every op before it.
   */
  private async start(op: WriteOp): Promise<Sent> {
    switch (op.op) {
      case "insertMessage":
        return this.insert(op);
      case "updateMessage":
        return this.update(op);
      case "event":
        this.waveFor([op.event.messageId]);
        return { result: Promise.resolve(this.wave.event(op.event)) };
      case "insertDlq":
        return { result: Promise.resolve(this.wave.insertDlq(op.entry)) };
      case "requestCancel": {
        this.flushWave();
        this.news?.cancel(op.id);
        const flagged = this.send(REQUEST_CANCEL, [op.id, op.userId, op.events.map((e) => e.timeMs), op.events.map((e) => e.state)]);
        return { result: observed(flagged.then((r) => ({ applied: r.rows[0].flagged === 1 }))) };
      }
      case "deleteDlq": {
        this.flushWave();
        const gone = await this.send(DELETE_DLQ, [op.userId, op.dlqId]);
        if (gone.rowCount !== 1) return { result: Promise.resolve({ applied: false }) };
        return op.then ? this.nested(op.then) : { result: APPLIED };
      }
      case "putQueue": {
        const q = op.queue;
        this.news?.changedEntry("queues", q.userId, q.name);
        return this.rowWritten(putQueueSql(op.fields), [q.userId, q.name, q.parallelism, q.paused, q.createdAtMs, q.updatedAtMs]);
      }
      case "deleteQueue":
        this.news?.changedEntry("queues", op.userId, op.name);
        return this.rowWritten(DELETE_QUEUE, [op.userId, op.name]);
      case "putFlowSettings":
        this.news?.changed("flowSettings");
        this.send(PUT_FLOW_SETTINGS, [op.userId, op.key, JSON.stringify(op.settings)]);
        return { result: APPLIED };
      case "putFlowWindows": {
        if (op.windows.length === 0) return { result: APPLIED };
        // In a cluster only the leader of the epoch this node holds counts starts (see PUT_LEADER_FLOW_WINDOWS).
        if (!this.member) return this.rowWritten(PUT_FLOW_WINDOWS, windowArrays(op.windows));
        return this.rowWritten(PUT_LEADER_FLOW_WINDOWS, [...windowArrays(op.windows), this.member.nodeId, this.member.leaderEpoch ?? -1]);
      }
      case "putUrlGroup": {
        const g = op.group;
        this.news?.changedEntry("urlGroups", g.userId, g.name);
        const endpoints = JSON.stringify(g.endpoints);
        if (op.expectUpdatedAtMs === null) return this.rowWritten(CREATE_URL_GROUP, [g.userId, g.name, g.createdAtMs, g.updatedAtMs, endpoints]);
        return this.rowWritten(REPLACE_URL_GROUP, [g.userId, g.name, g.updatedAtMs, endpoints, op.expectUpdatedAtMs]);
      }
      case "deleteUrlGroup":
        this.news?.changedEntry("urlGroups", op.userId, op.name);
        if (op.expectUpdatedAtMs === undefined) return this.rowWritten(DELETE_URL_GROUP, [op.userId, op.name]);
        return this.rowWritten(DELETE_URL_GROUP_VERSION, [op.userId, op.name, op.expectUpdatedAtMs]);
      case "putSchedule": {
        const c = op.schedule;
        this.news?.changedEntry("schedules", c.userId, c.id);
        this.send(PUT_SCHEDULE, [
          c.id, c.userId, c.cron, c.destination, JSON.stringify(c.headers), c.body, c.callerIp, c.paused, c.createdAtMs,
          c.nextMs, c.lastMs, JSON.stringify(c.lastMessageIds), c.revision,
        ]);
        return { result: APPLIED };
      }
      case "deleteSchedule":
        this.news?.changedEntry("schedules", op.userId, op.id);
        return this.rowWritten(DELETE_SCHEDULE, [op.userId, op.id]);
      case "fireSchedule": {
        // Decides on the schedules table alone, which no wave writes: the wave stays open, and takes the tick's inserts.
        const ids = JSON.stringify(op.inserts.map((i) => i.message.id));
        const fired = await this.send(FIRE_SCHEDULE, [op.nextMs, op.firedMs, ids, op.userId, op.id, op.expectNextMs, op.expectRevision]);
        if (fired.rowCount !== 1) return { result: Promise.resolve({ applied: false }) };
        for (const insert of op.inserts) await this.insert(insert);
        return { result: APPLIED };
      }
      default:
        this.flushWave();
        return this.workflow(op);
    }
  }

  /** Applied when the statement wrote (or deleted) a row; the commit goes on without waiting for it. */
  private async rowWritten(text: string, values: unknown[]): Promise<Sent> {
    return { result: observed(this.send(text, values).then((r) => ({ applied: (r.rowCount ?? 0) > 0 }))) };
  }

  private update(op: UpdateOp): Sent {
    let kind: Move["kind"] = "plain";
    // The cluster variants: only the leader starts attempts, and an outcome applies only on the node that ran it.
    if (this.member && op.state === "active") kind = "start";
    else if (this.member && op.owner !== undefined) kind = "finish";
    if (op.state === "pending") this.news?.due(op.id, op.dueMs);
    const events = op.events ?? [];
    this.waveFor([op.id], events);
    const move: Move = {
      kind, id: op.id, state: op.state, retried: op.retried, dueMs: op.dueMs, finishedMs: op.finishedMs ?? null,
      expectState: op.expectState, owner: op.owner ?? null, events,
    };
    return { result: this.wave.move(move) };
  }

  private async insert(op: InsertOp): Promise<Sent> {
    const m = op.message;
    // A decision on the server's answer: everything before this op must have been sent.
    if (op.consumeDlq || op.dedupKey !== undefined) this.flushWave();
    if (op.consumeDlq) {
      const gone = await this.send(DELETE_DLQ, [op.consumeDlq.userId, op.consumeDlq.dlqId]);
      if (gone.rowCount !== 1) return { result: Promise.resolve({ applied: false }) };
    }
    if (op.dedupKey !== undefined) {
      const key = Buffer.from(op.dedupKey, "utf8");
      const taken = await this.send(CLAIM_DEDUP, [m.userId, key, m.id, op.dedupExpiresMs ?? m.createdAtMs, m.createdAtMs]);
      if (taken.rowCount !== 1) {
        const holder = await this.send(GET_DEDUP, [m.userId, key]);
        return { result: Promise.resolve({ applied: false, duplicateOf: holder.rows[0]?.message_id }) };
      }
    }
    const row = messageColumns(m);
    if (m.state === "active" && this.member) row.node_id = this.member.nodeId;
    if (m.state === "pending") this.news?.due(m.id, m.dueMs);
    if (op.sharedBodyId !== undefined) {
      if (!this.bodiesWritten.has(op.sharedBodyId)) {
        this.send(PUT_BODY, [op.sharedBodyId, m.body]);
        this.bodiesWritten.add(op.sharedBodyId);
      }
      row.body = null;
      row.body_id = op.sharedBodyId;
    }
    this.waveFor([m.id], op.events);
    return { result: Promise.resolve(this.wave.insert(row, op.events)) };
  }

  private async lockRun(userId: string, runId: string): Promise<RunRecord | undefined> {
    const { rows } = await this.send(LOCK_RUN, [userId, runId]);
    return rows[0] ? runFromColumns(rows[0], rows[0].labels) : undefined;
  }

  private async workflow(op: WorkflowOp): Promise<Sent> {
    switch (op.op) {
      case "runStep": {
        const existing = await this.lockRun(op.userId, op.runId);
        let appendEntry = op.entry !== undefined;
        if (op.create) {
          if (existing?.state === "RUN_STARTED") {
            if (!op.continueExisting) return { result: Promise.resolve({ applied: false, duplicateOf: existing.triggerMessageId }) };
            // The SDK taking over a run the server started: the run, its configuration and its first entry stay.
            appendEntry = false;
          } else {
            // An id whose run has ended names a new run (DECISIONS #21): the old one goes, with what only it used,
            // and the DLQ entry it failed with (which could no longer be resumed or restarted).
            if (existing) {
              this.send(DROP_ENDED_RUN, [op.userId, op.runId]);
              if (existing.dlqId) this.send(DELETE_DLQ, [op.userId, existing.dlqId]);
            }
            const row = runColumns(op.create);
            this.send(INSERT_RUN, INSERT_RUN_COLUMNS.map((c) => row[c]));
          }
        } else {
          if (!existing) return { result: Promise.resolve({ applied: false, rejected: "unknown" }) };
          if (existing.state !== "RUN_STARTED") return { result: Promise.resolve({ applied: false, rejected: existing.state }) };
        }
        const inserted = await (await this.insert(op.insert)).result;
        if (!inserted.applied) return { result: Promise.resolve(inserted) };
        if (op.entry && appendEntry) {
          const m = op.insert.message;
          this.send(APPEND_ENTRIES, [op.userId, op.runId, [m.id], [op.entry.callType], [m.createdAtMs], [op.entry.body]]);
        }
        return { result: APPLIED };
      }
      case "runUpdate": {
        const current = await this.lockRun(op.userId, op.runId);
        if (!current || !op.expectState.includes(current.state)) {
          return { result: Promise.resolve({ applied: false, rejected: current ? current.state : "unknown" }) };
        }
        // A newer run of the same id is not the run this update was meant for.
        if (op.expectCreatedAtMs !== undefined && current.createdAtMs !== op.expectCreatedAtMs) {
          return { result: Promise.resolve({ applied: false, rejected: current.state }) };
        }
        const row = runColumns({ ...current, ...op.patch });
        this.send(UPDATE_RUN, [op.userId, op.runId, row.state, row.completed_ms, row.spec, row.response]);
        // A run that ended waits for nothing any more.
        if (op.patch.state && op.patch.state !== "RUN_STARTED") this.send(DROP_RUN_WAITERS, [op.userId, op.runId]);
        return this.nested(op.then);
      }
      case "runCopyEntries": {
        if (op.entries.length > 0) {
          const e = op.entries;
          this.send(APPEND_ENTRIES, [op.userId, op.runId, e.map((x) => x.messageId), e.map((x) => x.callType), e.map((x) => x.createdMs), e.map((x) => x.body)]);
        }
        return { result: APPLIED };
      }
      case "putWaiter": {
        this.news?.changed("waiters");
        const w = op.waiter;
        const put = this.send(PUT_WAITER, [w.userId, w.eventId, w.runId, w.createdMs, w.deadlineMs, waiterSpec(w)]);
        return { result: observed(put.then((r) => ((w.id = r.rows[0].id), { applied: true }))) };
      }
      case "takeWaiter":
        return this.taken(TAKE_WAITER, [op.userId, op.id], op.then);
      case "putRunEvent": {
        const e = op.event;
        const put = this.send(PUT_RUN_EVENT, [e.userId, e.runId, e.eventId, e.createdMs, e.data]);
        return { result: observed(put.then((r) => ((e.id = r.rows[0].id), { applied: true }))) };
      }
      case "takeRunEvent":
        return this.taken(TAKE_RUN_EVENT, [op.userId, op.id], op.then);
    }
  }

  /** A delete that happens once: applied (with its `then`) only when the row was still there. */
  private async taken(text: string, values: unknown[], then: WriteOp[] | undefined): Promise<Sent> {
    const gone = await this.send(text, values);
    if (gone.rowCount !== 1) return { result: Promise.resolve({ applied: false }) };
    return this.nested(then);
  }
}

/**
 * A result read only once the whole commit is sent: if its statement fails while the commit still waits on a later
 * one, the commit reports the failure (`firstError`), so this rejection is marked handled rather than ending the
 * process as an unhandled one.
 */
function observed<T>(result: Promise<T>): Promise<T> {
  result.catch(() => undefined);
  return result;
}

/** One row per key, the last given winning (as if written one after the other). */
function windowArrays(windows: FlowWindow[]): unknown[] {
  const byKey = new Map<string, FlowWindow>();
  for (const w of windows) byKey.set(`${w.userId}\u0000${w.key}`, w);
  const list = [...byKey.values()];
  return [list.map((w) => w.userId), list.map((w) => w.key), list.map((w) => w.startMs), list.map((w) => w.count)];
}

