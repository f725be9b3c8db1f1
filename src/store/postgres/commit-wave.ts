import type pg from "pg";
import type { OpResult } from "../store.js";
import { dlqDetail, eventDetail } from "../columns.js";
import { INSERT_DLQ_ENTRIES, INSERT_MESSAGES, INSERT_MESSAGES_COLUMNS, MOVE_MESSAGES, type MoveKind } from "./sql/batches.js";
import { INSERT_DLQ } from "./sql/dlq.js";
import { FINISH_MESSAGE, INSERT_EVENTS, INSERT_MESSAGE, INSERT_MESSAGE_COLUMNS, START_MESSAGE, UPDATE_MESSAGE } from "./sql/messages.js";
import type { DlqEntry } from "../../model/dlq.js";
import type { LogEvent } from "../../model/log.js";

type Row = Record<string, any>;

/** A fenced move of one message, as UPDATE_MESSAGE and its cluster variants take it. */
export interface Move {
  kind: MoveKind;
  id: string;
  state: string;
  retried: number;
  dueMs: number;
  finishedMs: number | null;
  expectState: string;
  owner: string | null;
  events: LogEvent[];
}

/** Sends one statement of the transaction (in order on the pipelined connection). */
type Send = (text: string, values: unknown[]) => Promise<pg.QueryResult>;

const APPLIED: OpResult = { applied: true };

/**
 * The hot writes of a run of consecutive ops, held back and sent merged when the run ends (sql/batches.ts): one
 * statement for the message inserts, one for the fenced moves of every kind (plain, start, outcome) together with
 * every event of the run, in op order, and one for the DLQ entries. A lone insert, DLQ entry, or move without
 * other events is sent as that op's own statement, whose plan is cheaper than an unnest of one (the common case
 * when the node is not busy).
 *
 * Merging is exact because a wave never holds two ops on one message id (`touches` says when an op must start a
 * new wave), so no op of a wave sees another's effect; the commit flushes the wave before any op that reads what
 * the wave writes or decides on an answer; and the log's events are numbered in op order, as if written one by one.
 */
export class CommitWave {
  private readonly inserts: Row[] = [];
  /** Every event of the wave in op order, with the move (1-based) it depends on, if any. */
  private readonly events: { move: number | null; event: LogEvent }[] = [];
  private readonly moves: Move[] = [];
  private readonly settle: ((r: Promise<pg.QueryResult>) => void)[] = [];
  private readonly dlq: DlqEntry[] = [];
  private readonly ids = new Set<string>();

  constructor(private readonly member: { nodeId: string; leaderEpoch: number | undefined } | undefined) {}

  /** Whether an op on these message ids must wait for a new wave (one of them is already written by this one). */
  touches(ids: Iterable<string>): boolean {
    for (const id of ids) if (this.ids.has(id)) return true;
    return false;
  }

  get empty(): boolean {
    return this.ids.size === 0 && this.dlq.length === 0;
  }

  insert(row: Row, events: LogEvent[] | undefined): OpResult {
    this.claim(row.id, events);
    this.inserts.push(row);
    for (const event of events ?? []) this.events.push({ move: null, event });
    return APPLIED;
  }

  event(e: LogEvent): OpResult {
    this.claim(e.messageId, undefined);
    this.events.push({ move: null, event: e });
    return APPLIED;
  }

  insertDlq(entry: DlqEntry): OpResult {
    this.dlq.push(entry);
    return APPLIED;
  }

  /** Resolves once the wave is sent and answered: whether the message moved. */
  move(m: Move): Promise<OpResult> {
    this.claim(m.id, m.events);
    const i = this.moves.push(m) - 1;
    // The events of a move are its message's, whatever they name.
    for (const event of m.events) this.events.push({ move: i + 1, event: { ...event, messageId: m.id } });
    const answered = new Promise<pg.QueryResult>((resolve) => this.settle.push(resolve));
    const result = answered.then((r): OpResult => ({ applied: r.rows[i].moved === 1 }));
    // Awaited with the commit's other results; a failed statement is reported by the commit, never left unhandled.
    result.catch(() => undefined);
    return result;
  }

  private claim(id: string, events: LogEvent[] | undefined): void {
    this.ids.add(id);
    for (const e of events ?? []) this.ids.add(e.messageId);
  }

  /** Sends what the wave holds and empties it. */
  flush(send: Send): void {
    if (this.inserts.length === 1) send(INSERT_MESSAGE, INSERT_MESSAGE_COLUMNS.map((c) => this.inserts[0][c]));
    else if (this.inserts.length) send(INSERT_MESSAGES, insertArrays(this.inserts));
    if (this.moves.length === 0) {
      if (this.events.length) send(INSERT_EVENTS, eventArrays(this.events.map((e) => e.event)));
    } else {
      const alone = this.moves.length === 1 && this.events.every((e) => e.move !== null);
      const sent = alone ? send(MOVE_MESSAGE[this.moves[0].kind], this.oneMoveValues(this.moves[0])) : send(MOVE_MESSAGES, this.moveValues());
      for (const settle of this.settle) settle(sent);
    }
    if (this.dlq.length === 1) send(INSERT_DLQ, dlqArrays(this.dlq).map((column) => (column as unknown[])[0]));
    else if (this.dlq.length) send(INSERT_DLQ_ENTRIES, dlqArrays(this.dlq));
    this.inserts.length = this.events.length = this.moves.length = this.settle.length = this.dlq.length = 0;
    this.ids.clear();
  }

  private oneMoveValues(m: Move): unknown[] {
    const kind = m.kind;
    // Its events name no message: the statement writes them for the one it moved.
    const [userIds, , ...events] = eventArrays(m.events);
    const values: unknown[] = [m.state, m.retried, m.dueMs, m.finishedMs, m.id, m.expectState, userIds, ...events];
    if (kind === "start") values.push(this.member!.nodeId, this.member!.leaderEpoch ?? -1);
    if (kind === "finish") values.push(m.owner);
    return values;
  }

  private moveValues(): unknown[] {
    const moves = this.moves;
    const events = this.events;
    return [
      moves.map((m) => m.id), moves.map((m) => m.kind), moves.map((m) => m.state), moves.map((m) => m.retried),
      moves.map((m) => m.dueMs), moves.map((m) => m.finishedMs), moves.map((m) => m.expectState), moves.map((m) => m.owner),
      events.map((e) => e.move), ...eventArrays(events.map((e) => e.event)),
      this.member?.nodeId ?? null, this.member?.leaderEpoch ?? -1,
    ];
  }
}

/** The statement of a move alone (sql/messages.ts). */
const MOVE_MESSAGE: Record<MoveKind, string> = { plain: UPDATE_MESSAGE, start: START_MESSAGE, finish: FINISH_MESSAGE };

function insertArrays(rows: Row[]): unknown[] {
  return INSERT_MESSAGES_COLUMNS.map((c) =>
    c === "labels" ? rows.map((r) => (r.labels.length ? JSON.stringify(r.labels) : null)) : rows.map((r) => r[c]),
  );
}

/** Events as INSERT_EVENTS binds them. */
export function eventArrays(events: LogEvent[]): unknown[] {
  return [
    events.map((e) => e.userId), events.map((e) => e.messageId), events.map((e) => e.timeMs), events.map((e) => e.state),
    events.map(eventDetail), events.map((e) => e.responseBody ?? null),
  ];
}

function dlqArrays(entries: DlqEntry[]): unknown[] {
  return [
    entries.map((e) => e.dlqId), entries.map((e) => e.userId), entries.map((e) => e.messageId), entries.map((e) => e.createdMs),
    entries.map((e) => e.responseStatus ?? null), entries.map(dlqDetail), entries.map((e) => e.responseBody ?? null),
  ];
}
