import type { Config } from "../config.js";
import type { LogEvent } from "../model/log.js";
import type { MessageRecord } from "../model/message.js";
import type { OpResult, WriteOp } from "../store/store.js";
import type { InsertMessageOp, NewMessage } from "./build-message.js";
import type { Clock } from "./clock.js";
import type { Committer } from "./committer.js";
import type { Dispatcher } from "./dispatcher.js";
import type { DueLoader } from "./due-loader.js";
import type { EngineEmitter } from "./events.js";

export interface AcceptResult {
  messageId: string;
  deduplicated: boolean;
  /** A workflow step refused because its run has ended (or never existed): nothing was stored. */
  rejected?: OpResult["rejected"];
}

export interface AcceptDeps {
  committer: Pick<Committer, "run">;
  dispatcher: Pick<Dispatcher, "tryStartNow" | "unstart" | "waitingCount" | "waitingOf" | "isWaiting" | "enqueue">;
  loader: Pick<DueLoader, "isHoldingBackQueue" | "schedule" | "holdBack" | "isCatchingUp">;
  clock: Clock;
  config: Pick<Config, "limits" | "maxWaiting">;
  /** Due messages one user may hold in the lanes (their share of `maxWaiting`); more wait in the store. */
  userWaitingLimit: number;
  /** The attempts in flight, by message id. */
  inFlight: ReadonlyMap<string, MessageRecord>;
  isStopped(): boolean;
  /** Whether a message due now may start on this node without waiting for the leader's dispatcher. */
  mayStartHere(m: MessageRecord): boolean;
  /** Whether this node leads: only the leader's lanes and due loader take pending messages. */
  leading(): boolean;
  /** Starts the attempt of a message stored as active. */
  launch(msg: MessageRecord): void;
  events: EngineEmitter;
}

/**
 * Storing new messages and handing them on: inserts (the fast path stores a message due now as active), the
 * group commit, then each inserted message either starts at once, goes into its lane, or waits in the store for
 * the due loader.
 */
export class Accept {
  constructor(private readonly deps: AcceptDeps) {}

  /** Stores new messages (one transaction per event-loop turn) and schedules them; resolves once durable. */
  async accept(items: NewMessage[]): Promise<AcceptResult[]> {
    const results = await this.commitAndStart(items.map((item) => this.storeOp(item)));
    return items.map(({ record }, i) => {
      const r = results[i];
      if (r.duplicateOf) return { messageId: r.duplicateOf, deduplicated: true };
      if (r.rejected) return { messageId: record.id, deduplicated: false, rejected: r.rejected };
      return { messageId: record.id, deduplicated: false };
    });
  }

  /**
   * Commits operations, then starts or schedules every message they inserted (nested ones included). When the
   * commit fails, nothing was stored: the starts reserved for inserts stored as active are given back.
   */
  async commitAndStart(ops: WriteOp[]): Promise<OpResult[]> {
    let results: OpResult[];
    try {
      results = await this.deps.committer.run(ops);
    } catch (err) {
      this.settleInserts(ops, []);
      throw err;
    }
    this.settleInserts(ops, results);
    return results;
  }

  /** Starts or schedules what committed ops inserted; gives back the starts reserved for inserts not applied. */
  settleInserts(ops: WriteOp[], results: (OpResult | undefined)[]): void {
    ops.forEach((op, i) => {
      const applied = results[i]?.applied ?? false;
      switch (op.op) {
        case "insertMessage":
          this.afterInsert(op.message, applied);
          break;
        case "runStep":
          this.afterInsert(op.insert.message, applied);
          break;
        case "fireSchedule":
          for (const insert of op.inserts) this.afterInsert(insert.message, applied);
          break;
        case "runUpdate":
        case "deleteDlq":
        case "takeWaiter":
        case "takeRunEvent":
          this.settleInserts(op.then ?? [], applied ? (results[i]?.nested ?? []) : []);
          break;
        default:
          break;
      }
    });
  }

  /** The write that stores a new message: its insert, within what it joins (a workflow run's `runStep`) if anything. */
  storeOp(item: NewMessage): WriteOp {
    const insert = this.insertOp(item);
    return item.wrap ? item.wrap(insert) : insert;
  }

  /**
   * The insert of a new message. One that is due now while there is room in flight is stored directly as
   * active (CREATED and ACTIVE in one transaction), which saves the hot path a second write and a turn.
   */
  insertOp({ record, dedupKey, sharedBodyId }: NewMessage): InsertMessageOp {
    const { dispatcher, loader } = this.deps;
    const events: LogEvent[] = [{ userId: record.userId, messageId: record.id, timeMs: record.createdAtMs, state: "CREATED" }];
    // Nothing starts ahead of its queue's messages held back in the store (a queue keeps its order).
    if (
      !this.deps.isStopped() &&
      record.dueMs <= this.deps.clock.now() &&
      this.deps.mayStartHere(record) &&
      !loader.isHoldingBackQueue(record.userId, record.queueName) &&
      dispatcher.tryStartNow(record)
    ) {
      record.state = "active";
      events.push({ userId: record.userId, messageId: record.id, timeMs: record.createdAtMs, state: "ACTIVE" });
    }
    return {
      op: "insertMessage",
      message: record,
      dedupKey,
      dedupExpiresMs: dedupKey === undefined ? undefined : record.createdAtMs + this.deps.config.limits.dedupWindowMs,
      events,
      sharedBodyId,
    };
  }

  /**
   * Replaces a DLQ entry with a fresh message (same content, overrides applied); resolves with the new id, or
   * undefined when the entry was already gone (retried or deleted meanwhile).
   */
  async requeueFromDlq(userId: string, dlqId: string, fresh: NewMessage): Promise<string | undefined> {
    const op = this.insertOp(fresh);
    op.consumeDlq = { userId, dlqId };
    const [r] = await this.commitAndStart([op]);
    return r.applied ? fresh.record.id : undefined;
  }

  /**
   * One schedule tick: inserts its messages and moves the schedule on, only if it still expects this tick in this
   * revision.
   * Resolves whether the tick fired.
   */
  async fireSchedule(
    userId: string, id: string, expectNextMs: number, expectRevision: string, nextMs: number | null, firedMs: number, items: NewMessage[],
  ): Promise<boolean> {
    const inserts = items.map((item) => this.insertOp(item));
    const [r] = await this.commitAndStart([{ op: "fireSchedule", userId, id, expectNextMs, expectRevision, nextMs, firedMs, inserts }]);
    return r.applied;
  }

  /** After an insert committed (or was a duplicate): start it if it went in as active, else schedule it. */
  private afterInsert(record: MessageRecord, applied: boolean): void {
    const wasActive = record.state === "active";
    if (!applied) {
      if (wasActive) this.deps.dispatcher.unstart(record, true);
      return;
    }
    this.deps.events.emit("accepted", record);
    // Stored already finished (a step kept only for the log of a run that has ended): nothing to start.
    if (record.state !== "pending" && !wasActive) return;
    if (wasActive) this.deps.launch(record);
    else this.schedule(record, true);
  }

  /**
   * A pending message (new, or retried later): into its lane when due and there is room, else to the due loader.
   * On a node that does not lead, nothing: the commit that stored it told the leader.
   */
  schedule(msg: MessageRecord, withRecord: boolean): void {
    if (this.deps.isStopped() || !this.deps.leading()) return;
    const now = this.deps.clock.now();
    // While the loader catches up on a backlog, a due message waits in the heap behind it (it keeps its queue's order).
    if (msg.dueMs <= now && withRecord && this.deps.dispatcher.waitingCount < this.deps.config.maxWaiting && !this.deps.loader.isCatchingUp) {
      this.enqueueReady(msg);
      return;
    }
    this.deps.loader.schedule(msg.id, msg.dueMs);
  }

  /** A due message into its lane, unless its user's share of the lanes is full. */
  enqueueReady(msg: MessageRecord): void {
    const { dispatcher, loader } = this.deps;
    if (this.deps.inFlight.has(msg.id) || dispatcher.isWaiting(msg.id)) return;
    if (dispatcher.waitingOf(msg.userId) >= this.deps.userWaitingLimit || loader.isHoldingBackQueue(msg.userId, msg.queueName)) {
      // This user's share of the lanes is full: the message waits in the store, so one user's backlog cannot keep
      // another user's due messages out of the lanes. It is read again once the user has room.
      loader.holdBack(msg);
      return;
    }
    dispatcher.enqueue(msg);
  }
}
