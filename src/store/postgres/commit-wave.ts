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
 * The hot unconditional writes of a run of consecutive ops, held back and sent as one statement per kind
 * (sql/batches.ts) when the run ends: message inserts, the events written with no condition, fenced moves (plain,
 * start, outcome) and DLQ entries. A kind with a single op is sent as that op's own statement, whose plan is
 * cheaper than an unnest of one (the common case when the node is not busy).
 *
 * Merging is exact because a wave never holds two ops on one message id (`touches` says when an op must start a
 * new wave), so no op of a wave sees another's effect; and the commit flushes the wave before any op that reads
 * what the wave writes or decides on an answer. Events of one message keep their order; events of different
 * messages of one wave are numbered inserts first, then moves, which no reader can tell from op order (they
 * commit together).
 */
export class CommitWave {
  private readonly inserts: Row[] = [];
  private readonly loose: LogEvent[] = [];
  private readonly moves = new Map<MoveKind, { moves: Move[]; settle: ((r: Promise<pg.QueryResult>) => void)[] }>();
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
    if (events) this.loose.push(...events);
    return APPLIED;
  }

  event(e: LogEvent): OpResult {
    this.claim(e.messageId, undefined);
    this.loose.push(e);
    return APPLIED;
  }

  insertDlq(entry: DlqEntry): OpResult {
    this.dlq.push(entry);
    return APPLIED;
  }

  /** Resolves once the wave is sent and answered: whether the message moved. */
  move(m: Move): Promise<OpResult> {
    this.claim(m.id, m.events);
    let batch = this.moves.get(m.kind);
    if (!batch) this.moves.set(m.kind, (batch = { moves: [], settle: [] }));
    const i = batch.moves.push(m) - 1;
    const answered = new Promise<pg.QueryResult>((resolve) => batch.settle.push(resolve));
    const result = answered.then((r): OpResult => ({ applied: r.rows[i].moved === 1 }));
    // Awaited with the commit's other results; a failed statement is reported by the commit, never left unhandled.
    result.catch(() => undefined);
    return result;
  }

  private claim(id: string, events: LogEvent[] | undefined): void {
    this.ids.add(id);
    for (const e of events ?? []) this.ids.add(e.messageId);
  }

  /** Sends what the wave holds (inserts first, so the events of a message inserted here follow it) and empties it. */
  flush(send: Send): void {
    if (this.inserts.length === 1) send(INSERT_MESSAGE, INSERT_MESSAGE_COLUMNS.map((c) => this.inserts[0][c]));
    else if (this.inserts.length) send(INSERT_MESSAGES, insertArrays(this.inserts));
    if (this.loose.length) send(INSERT_EVENTS, eventArrays(this.loose));
    for (const [kind, batch] of this.moves) {
      const sent = batch.moves.length === 1 ? send(MOVE_MESSAGE[kind], this.oneMoveValues(kind, batch.moves[0])) : send(MOVE_MESSAGES[kind], this.moveValues(kind, batch.moves));
      for (const settle of batch.settle) settle(sent);
    }
    if (this.dlq.length === 1) send(INSERT_DLQ, dlqArrays(this.dlq).map((column) => (column as unknown[])[0]));
    else if (this.dlq.length) send(INSERT_DLQ_ENTRIES, dlqArrays(this.dlq));
    this.inserts.length = this.loose.length = this.dlq.length = 0;
    this.moves.clear();
    this.ids.clear();
  }

  private oneMoveValues(kind: MoveKind, m: Move): unknown[] {
    // Its events name no message: the statement writes them for the one it moved.
    const [userIds, , ...events] = eventArrays(m.events);
    const values: unknown[] = [m.state, m.retried, m.dueMs, m.finishedMs, m.id, m.expectState, userIds, ...events];
    if (kind === "start") values.push(this.member!.nodeId, this.member!.leaderEpoch ?? -1);
    if (kind === "finish") values.push(m.owner);
    return values;
  }

  private moveValues(kind: MoveKind, moves: Move[]): unknown[] {
    const events = moves.flatMap((m, i) => m.events.map((e) => ({ e, move: i + 1 })));
    const values: unknown[] = [
      moves.map((m) => m.id), moves.map((m) => m.state), moves.map((m) => m.retried), moves.map((m) => m.dueMs),
      moves.map((m) => m.finishedMs), moves.map((m) => m.expectState), moves.map((m) => m.owner),
      events.map((x) => x.move), events.map((x) => x.e.userId), events.map((x) => x.e.timeMs), events.map((x) => x.e.state),
      events.map((x) => eventDetail(x.e)), events.map((x) => x.e.responseBody ?? null),
    ];
    if (kind === "start") values.push(this.member!.nodeId, this.member!.leaderEpoch ?? -1);
    return values;
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
