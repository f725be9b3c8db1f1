import { EventEmitter } from "node:events";
import type { Config } from "../config.js";
import { coerceError } from "../errors.js";
import { signDelivery } from "../protocol/signature.js";
import type { Store, WriteOp } from "../store/store.js";
import { buildCallbackMessage, callbackBody, type NewMessage } from "./build-message.js";
import { Committer } from "./committer.js";
import { Dispatcher } from "./dispatcher.js";
import type { QueueSettings } from "./lanes.js";
import { deliveredBody, type AttemptResult, type Deliverer } from "./deliverer.js";
import { newDlqId } from "./ids.js";
import type { KeyRing } from "./keyring.js";
import type { DlqEntry, LogEvent, MessageRecord } from "./message.js";
import { DueLoader } from "./due-loader.js";
import { UrlGroups } from "./url-groups.js";
import { Scheduler } from "./scheduler.js";
import { afterAttempt, type Transition } from "./transitions.js";
import type { FlowSettings } from "./flow-limiter.js";
import type { OpResult } from "../store/store.js";
import { classifyStoreError } from "../store/store-errors.js";
import { Workflows } from "../workflow/workflows.js";
import { Waits } from "../workflow/waiters.js";
import type { RunState } from "../workflow/types.js";
import type { Tracing } from "../observability/tracing.js";

export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

/** Typed engine events: tests await them and metrics count them. */
export interface EngineEvents {
  accepted: [MessageRecord];
  attempt: [MessageRecord];
  /** An attempt's request ended (before its outcome is stored), with how long it took. */
  attemptEnded: [MessageRecord, AttemptResult, number];
  delivered: [MessageRecord];
  retry: [MessageRecord, number];
  failed: [MessageRecord, DlqEntry];
  /** An attempt that did not deliver (it is retried, or the message failed); `nextDeliveryMs` when retried. */
  attemptFailed: [MessageRecord, { error: string; status?: number; nextDeliveryMs?: number }];
  /** A workflow run ended in RUN_FAILED. */
  runFailed: [userId: string, runId: string];
  /** A schedule tick fired this many ms after it was due (downtime, a busy process). */
  scheduleLate: [userId: string, scheduleId: string, lateMs: number];
  cancelled: [MessageRecord];
  /** A commit failed (its callers were told, or the engine retries its own write). */
  storeError: [unknown];
  /** A group commit landed: its duration in ms and its number of operations. */
  committed: [number, number];
  error: [unknown];
}

export interface AcceptResult {
  messageId: string;
  deduplicated: boolean;
  /** A workflow step refused because its run has ended (or never existed): nothing was stored. */
  rejected?: RunState | "unknown";
}

/** How often changed rate windows are saved. */
const WINDOW_SAVE_MS = 1000;

/** How long a drained flow-control key stays listed and readable before it is forgotten. */
const IDLE_KEY_MS = 60 * 60_000;

/** Back-off between tries of the engine's own writes (starts, outcomes) while the store refuses them. */
const OWN_WRITE_RETRY_MIN_MS = 50;
const OWN_WRITE_RETRY_MAX_MS = 5_000;

/**
 * The message lifecycle: accept → store → (due loader) → lane → active → delivered | retry | failed.
 * The store is the truth; in memory are only the soon-due ids (DueLoader), the lanes of the dispatcher and
 * the attempts in flight, all rebuilt from the store on start. Every state change goes through a fenced
 * update, so a message cancelled while due is never also dispatched.
 */
export class Engine extends EventEmitter<EngineEvents> {
  readonly committer: Committer;
  private readonly loader: DueLoader;
  readonly dispatcher: Dispatcher;
  readonly urlGroups: UrlGroups;
  readonly scheduler: Scheduler;
  readonly workflows: Workflows;
  /** Workflow waits for events: registration, notify, deadlines. */
  readonly waits: Waits;
  private readonly inFlight = new Map<string, MessageRecord>();
  /** Queue settings by `user\0name`, loaded at start and kept in step with the store. */
  readonly queueSettings = new Map<string, QueueSettings>();
  /** Flow-control settings (pause, pins) by `user\0key`, for keys that have any. */
  readonly flowSettings = new Map<string, FlowSettings>();
  private purgeTimer: NodeJS.Timeout | undefined;
  private windowTimer: NodeJS.Timeout | undefined;
  /** Rate windows saved before the last stop, until their key's lane is created again. */
  private readonly savedWindows = new Map<string, { startMs: number; count: number }>();
  private stopped = false;
  /** Set when tracing is configured; undefined costs the attempt path nothing. */
  tracing: Tracing | undefined;
  private readonly background = new Set<Promise<unknown>>();
  /** Due messages one user may hold in the lanes (their share of `maxWaiting`); more wait in the store. */
  private readonly userWaitingLimit: number;

  constructor(
    readonly store: Store,
    readonly config: Config,
    private readonly deliverer: Deliverer,
    readonly keys: KeyRing,
    readonly clock: Clock = systemClock,
  ) {
    super();
    this.userWaitingLimit = Math.max(1, Math.floor(config.maxWaiting * config.userMaxInFlightShare));
    this.committer = new Committer(
      store,
      undefined,
      (err) => this.emit("storeError", err),
      (ms, ops) => this.emit("committed", ms, ops),
    );
    this.urlGroups = new UrlGroups(this.committer, () => this.clock.now());
    this.scheduler = new Scheduler(this);
    this.workflows = new Workflows(this);
    this.waits = new Waits(this);
    this.loader = new DueLoader({
      store,
      now: () => this.clock.now(),
      budget: () => this.config.maxWaiting - this.dispatcher.waitingCount,
      isHeld: (id) => this.dispatcher.isWaiting(id) || this.inFlight.has(id),
      deliver: (m) => this.enqueueReady(m),
      track: (p) => this.track(p),
    });
    this.dispatcher = new Dispatcher({
      now: () => this.clock.now(),
      maxInFlight: config.maxInFlight,
      userParallelism: config.globalParallelism,
      userShare: config.userMaxInFlightShare,
      start: (batch) => this.track(this.activate(batch)),
      queueSettings: (userId, name) => this.queueSettingsFor(userId, name),
      keySettings: (userId, key) => this.flowSettings.get(`${userId}\u0000${key}`),
      keyWindow: (userId, key) => this.takeSavedWindow(userId, key),
      userWaitingLimit: this.userWaitingLimit,
      userHasRoom: (userId) => this.loader.resume(userId),
    });
  }

  /** A queue's settings; a queue first used by an enqueue is created with parallelism 1. */
  queueSettingsFor(userId: string, name: string): QueueSettings {
    const id = `${userId}\u0000${name}`;
    let q = this.queueSettings.get(id);
    if (!q) {
      const now = this.clock.now();
      q = { parallelism: 1, paused: false, createdAtMs: now, updatedAtMs: now };
      this.queueSettings.set(id, q);
    }
    return q;
  }

  /** Persists a key's pause and pins, then lets the dispatcher re-evaluate the lane. */
  async saveFlowSettings(userId: string, key: string): Promise<void> {
    const lane = this.dispatcher.keyLane(userId, key, false);
    const settings = lane.limiter.settings();
    this.flowSettings.set(`${userId}\u0000${key}`, settings);
    await this.committer.run([{ op: "putFlowSettings", userId, key, settings }]);
    this.dispatcher.wake(lane);
  }

  /** Treats attempts interrupted by the last stop as failed attempts, then loads what is due soon. */
  async start(): Promise<void> {
    await this.urlGroups.load(this.store);
    for (const q of await this.store.listQueues()) {
      const { userId, name, ...settings } = q;
      this.queueSettings.set(`${userId}\u0000${name}`, settings);
    }
    for (const f of await this.store.listFlowSettings()) this.flowSettings.set(`${f.userId}\u0000${f.key}`, f.settings);
    const now = this.clock.now();
    for (const w of await this.store.listFlowWindows()) {
      // Periods are at most a week; an older window limits nothing.
      if (w.count > 0 && w.startMs > now - 7 * 86_400_000) this.savedWindows.set(`${w.userId}\u0000${w.key}`, { startMs: w.startMs, count: w.count });
    }
    // Queue slots held across the stop: messages past their first attempt, and finished ones whose callbacks are not.
    for (const h of await this.store.listQueueHolders()) {
      this.dispatcher.holdQueueSlot(h.userId, h.queueName, h.id, h.finished, h.callbacks);
    }
    const interrupted = await this.store.listActive();
    for (const msg of interrupted) {
      this.dispatcher.countRecovered(msg);
      await this.finishAttempt(msg, { kind: "error", error: "attempt interrupted: the server stopped while it was in flight" });
    }
    // What is already due goes into its lanes before the first request is served, so a new enqueue cannot
    // start ahead of an older backlog of its queue.
    await this.loader.start();
    await this.scheduler.start();
    await this.waits.start();
    this.purgeTimer = setInterval(() => this.track(this.purge()), this.config.maintenanceIntervalMs);
    this.purgeTimer.unref();
    this.windowTimer = setInterval(() => this.track(this.saveWindows()), WINDOW_SAVE_MS);
    this.windowTimer.unref();
  }

  /**
   * Stops starting work and waits up to `graceMs` for attempts in flight. Attempts still running after that are
   * left as they are in the store (active) and are retried as interrupted attempts on the next start.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    this.loader.stop();
    this.scheduler.stop();
    this.waits.stop();
    this.dispatcher.stop();
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    if (this.windowTimer) clearInterval(this.windowTimer);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.allSettled([...this.background]), grace]);
    clearTimeout(timer);
    await this.saveWindows();
    await this.committer.idle();
  }

  /**
   * Saves the rate windows that changed, at most once a second: a restart then continues a key's window instead
   * of opening a fresh one (up to the last second's starts may be missed after a crash).
   */
  private async saveWindows(): Promise<void> {
    const windows = this.dispatcher.takeDirtyWindows();
    if (windows.length) await this.committer.run([{ op: "putFlowWindows", windows }]);
  }

  private takeSavedWindow(userId: string, key: string): { startMs: number; count: number } | undefined {
    const id = `${userId}\u0000${key}`;
    const w = this.savedWindows.get(id);
    if (w) this.savedWindows.delete(id);
    return w;
  }

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
      results = await this.committer.run(ops);
    } catch (err) {
      this.settleInserts(ops, []);
      throw err;
    }
    this.settleInserts(ops, results);
    return results;
  }

  private settleInserts(ops: WriteOp[], results: (OpResult | undefined)[]): void {
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

  /** The write that stores a new message: its insert, within the `runStep` of its workflow run when it joins one. */
  storeOp(item: NewMessage): WriteOp {
    const insert = this.insertOp(item);
    const plan = item.run;
    if (!plan) return insert;
    const { runId, create, continueExisting, entry } = plan;
    return { op: "runStep", userId: item.record.userId, runId, create, continueExisting, entry, insert };
  }

  /**
   * The insert of a new message. One that is due now while there is room in flight is stored directly as
   * active (CREATED and ACTIVE in one transaction), which saves the hot path a second write and a turn.
   */
  insertOp({ record, dedupKey, sharedBodyId }: NewMessage): Extract<WriteOp, { op: "insertMessage" }> {
    const events: LogEvent[] = [{ userId: record.userId, messageId: record.id, timeMs: record.createdAtMs, state: "CREATED" }];
    // Nothing starts ahead of its queue's messages held back in the store (a queue keeps its order).
    if (
      !this.stopped &&
      record.dueMs <= this.clock.now() &&
      !this.loader.isHoldingBackQueue(record.userId, record.queueName) &&
      this.dispatcher.tryStartNow(record)
    ) {
      record.state = "active";
      events.push({ userId: record.userId, messageId: record.id, timeMs: record.createdAtMs, state: "ACTIVE" });
    }
    return {
      op: "insertMessage",
      message: record,
      dedupKey,
      dedupExpiresMs: dedupKey === undefined ? undefined : record.createdAtMs + this.config.limits.dedupWindowMs,
      events,
      sharedBodyId,
    };
  }

  /** After an insert committed (or was a duplicate): start it if it went in as active, else schedule it. */
  private afterInsert(record: MessageRecord, applied: boolean): void {
    const wasActive = record.state === "active";
    if (!applied) {
      if (wasActive) this.dispatcher.unstart(record, true);
      return;
    }
    this.emit("accepted", record);
    // Stored already finished (a step kept only for the log of a run that has ended): nothing to start.
    if (record.state !== "pending" && !wasActive) return;
    if (wasActive) {
      this.inFlight.set(record.id, record);
      this.track(this.attempt(record));
    } else {
      this.schedule(record, true);
    }
  }

  /**
   * Cancels a user's unfinished messages. A pending one is cancelled at once; one whose attempt is in flight
   * is cancelled when the attempt ends, unless that attempt delivered it. Returns how many were cancelled.
   */
  async cancel(userId: string, ids: string[]): Promise<number> {
    const now = this.clock.now();
    const stored = await this.store.getMessagesById(ids.filter((id) => !this.inFlight.has(id)));
    const pending = stored.filter((m) => m.userId === userId && m.state === "pending");
    // Fenced on `pending`: a message that started its attempt meanwhile is left to the in-flight path below.
    const results = await this.committer.run(
      pending.map((m) => ({
        op: "updateMessage" as const,
        id: m.id,
        expectState: "pending" as const,
        state: "cancelled" as const,
        retried: m.retried,
        dueMs: m.dueMs,
        finishedMs: now,
        events: [
          { userId, messageId: m.id, timeMs: now, state: "CANCEL_REQUESTED" as const },
          { userId, messageId: m.id, timeMs: now, state: "CANCELLED" as const },
        ],
      })),
    );
    let count = 0;
    pending.forEach((m, i) => {
      if (!results[i].applied) return;
      count++;
      this.loader.remove(m.id);
      m.state = "cancelled";
      this.dispatcher.cancelled(m);
      this.emit("cancelled", m);
    });
    const late: MessageRecord[] = [];
    for (const id of ids) {
      const m = this.inFlight.get(id);
      if (!m || m.userId !== userId || m.cancelRequested) continue;
      m.cancelRequested = true;
      late.push(m);
    }
    try {
      await this.committer.run(late.map((m) => ({ op: "event", event: { userId, messageId: m.id, timeMs: now, state: "CANCEL_REQUESTED" } })));
    } catch (err) {
      // The caller is told the cancel failed, so it must not take effect when the attempt ends either.
      for (const m of late) m.cancelRequested = false;
      throw err;
    }
    return count + late.length;
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
   * One schedule tick: inserts its messages and moves the schedule on, only if it still expects this tick.
   * Resolves whether the tick fired.
   */
  async fireSchedule(userId: string, id: string, expectNextMs: number, nextMs: number | null, firedMs: number, items: NewMessage[]): Promise<boolean> {
    const inserts = items.map((item) => this.insertOp(item));
    const [r] = await this.commitAndStart([{ op: "fireSchedule", userId, id, expectNextMs, nextMs, firedMs, inserts }]);
    return r.applied;
  }

  /** Deliveries in flight right now (for metrics). */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  // ---- scheduling -------------------------------------------------------------------------------

  private schedule(msg: MessageRecord, withRecord: boolean): void {
    if (this.stopped) return;
    const now = this.clock.now();
    if (msg.dueMs <= now && withRecord && this.dispatcher.waitingCount < this.config.maxWaiting) {
      this.enqueueReady(msg);
      return;
    }
    this.loader.schedule(msg.id, msg.dueMs);
  }

  private enqueueReady(msg: MessageRecord): void {
    if (this.inFlight.has(msg.id) || this.dispatcher.isWaiting(msg.id)) return;
    if (this.dispatcher.waitingOf(msg.userId) >= this.userWaitingLimit || this.loader.isHoldingBackQueue(msg.userId, msg.queueName)) {
      // This user's share of the lanes is full: the message waits in the store, so one user's backlog cannot keep
      // another user's due messages out of the lanes. It is read again once the user has room.
      this.loader.holdBack(msg);
      return;
    }
    this.dispatcher.enqueue(msg);
  }

  // ---- dispatch ---------------------------------------------------------------------------------

  /** Starts messages the dispatcher released; each start is fenced in the store first. */
  private async activate(batch: MessageRecord[]): Promise<void> {
    const now = this.clock.now();
    if (this.dispatcher.waitingCount < this.config.maxWaiting / 2) this.loader.kick();
    // The starts stay counted while the write is retried: the limits hold, and nothing else could start meanwhile.
    const results = await this.commitOwnWrite(
      batch.map((m) => ({
        op: "updateMessage" as const,
        id: m.id,
        expectState: "pending" as const,
        state: "active" as const,
        retried: m.retried,
        dueMs: m.dueMs,
        events: [{ userId: m.userId, messageId: m.id, timeMs: now, state: "ACTIVE" as const }],
      })),
    );
    batch.forEach((m, i) => {
      if (!results[i].applied) {
        // Cancelled (or taken elsewhere) since it became due: give back what it was counted against.
        this.dispatcher.unstart(m, true);
        return;
      }
      m.state = "active";
      this.inFlight.set(m.id, m);
      this.track(this.attempt(m));
    });
  }

  private async attempt(msg: MessageRecord): Promise<void> {
    this.emit("attempt", msg);
    const startedMs = performance.now();
    const span = this.tracing?.startAttempt(msg);
    let result: AttemptResult;
    try {
      result = await this.deliver(msg, span?.traceparent);
    } catch (err) {
      // Preparing the request failed (a store read): the attempt fails and is retried like any other.
      result = { kind: "error", error: `could not prepare the delivery: ${coerceError(err).message}` };
    }
    span?.end(result);
    this.emit("attemptEnded", msg, result, performance.now() - startedMs);
    await this.finishAttempt(msg, result);
  }

  /** Builds, signs and sends one attempt's request; `traceparent` names the attempt's span to the destination. */
  private async deliver(msg: MessageRecord, traceparent: string | undefined): Promise<AttemptResult> {
    let body = msg.body;
    if (msg.workflow?.callType === "step") {
      const list = await this.workflows.deliveryBody(msg);
      if (!list) {
        // Its run ended while it waited: it is cancelled instead of delivered.
        msg.cancelRequested = true;
        return { kind: "error", error: "workflow run has ended" };
      }
      body = list;
    }
    const keys = this.keys.get(msg.userId);
    const now = this.clock.now();
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(msg.header)) headers[k] = v.length === 1 ? v[0] : v;
    headers["User-Agent"] = "Upstash-QStash";
    headers["Upstash-Message-Id"] = msg.id;
    headers["Upstash-Retried"] = String(msg.retried);
    if (msg.topicName) headers["Upstash-Topic-Name"] = msg.topicName;
    if (msg.scheduleId) headers["Upstash-Schedule-Id"] = msg.scheduleId;
    if (msg.callerIp) headers["Upstash-Caller-Ip"] = msg.callerIp;
    if (traceparent) headers["Traceparent"] = traceparent;
    headers["Upstash-Signature"] = signDelivery({
      signingKey: keys.current,
      url: msg.url,
      body: deliveredBody(msg.method, body),
      nowMs: now,
      nbfSkewSeconds: this.config.nbfSkewSeconds,
    });
    return this.deliverer.attempt({
      url: msg.url,
      method: msg.method,
      headers,
      body,
      timeoutMs: msg.timeoutMs ?? this.config.limits.maxTimeoutMs,
    });
  }

  /** Records an attempt's outcome with its DLQ entry and callbacks in one transaction, then schedules what follows. */
  private async finishAttempt(msg: MessageRecord, result: AttemptResult): Promise<void> {
    const now = this.clock.now();
    const t = afterAttempt(msg, result, now, this.config.limits.maxDelayMs);
    const ops: WriteOp[] = [
      {
        op: "updateMessage",
        id: msg.id,
        expectState: "active",
        state: t.state,
        retried: t.retried,
        dueMs: t.dueMs,
        finishedMs: t.finishedMs,
        events: t.events,
      },
    ];
    let dlq: DlqEntry | undefined;
    if (t.verdict.kind === "failed") {
      dlq = {
        dlqId: newDlqId(now),
        userId: msg.userId,
        messageId: msg.id,
        createdMs: now,
        responseStatus: t.response?.status,
        responseHeaders: t.response?.headers,
        responseBody: t.response?.body,
        error: t.error,
      };
      ops.push({ op: "insertDlq", entry: dlq });
    }
    const followUps = this.callbacksFor(msg, t, dlq, now);
    const inserts: WriteOp[] = followUps.map((cb) => this.insertOp({ record: cb }));
    let wfOps: WriteOp[] = [];
    let results: OpResult[];
    try {
      if (msg.workflow) wfOps = await this.workflows.afterAttempt(msg, t, dlq, now);
      results = await this.commitOutcome(inserts, ops, wfOps);
    } finally {
      // Also at stop: an outcome still unwritten leaves the message active in the store, retried on the next start.
      this.inFlight.delete(msg.id);
    }
    msg.state = t.state;
    msg.retried = t.retried;
    msg.dueMs = t.dueMs;
    msg.finishedMs = t.finishedMs;
    if (t.verdict.kind === "retry" || t.verdict.kind === "failed") {
      const nextDeliveryMs = t.verdict.kind === "retry" ? t.verdict.atMs : undefined;
      this.emit("attemptFailed", msg, { error: t.error ?? `destination responded with status ${t.response?.status}`, status: t.response?.status, nextDeliveryMs });
    }
    switch (t.verdict.kind) {
      case "delivered":
        this.emit("delivered", msg);
        break;
      case "retry":
        this.emit("retry", msg, t.verdict.atMs);
        this.schedule(msg, false);
        break;
      case "failed":
        this.emit("failed", msg, dlq!);
        break;
      case "cancelled":
        this.emit("cancelled", msg);
        break;
      default:
        assertNever(t.verdict);
    }
    const final = t.verdict.kind !== "retry";
    const callbacks = followUps.filter((_, i) => results[i].applied).length;
    this.dispatcher.attemptEnded(msg, final, callbacks);
    if (final && msg.kind !== "publish" && msg.sourceMessageId && msg.sourceQueueName) {
      this.dispatcher.callbackEnded(msg.sourceMessageId, msg.userId, msg.sourceQueueName);
    }
    this.settleInserts(inserts, results);
    const wfResults = results.slice(inserts.length + ops.length);
    this.settleInserts(wfOps, wfResults);
    wfOps.forEach((op, i) => {
      if (op.op === "runUpdate" && op.patch.state && op.patch.state !== "RUN_STARTED" && wfResults[i].applied) {
        if (op.patch.state === "RUN_FAILED") this.emit("runFailed", op.userId, op.runId);
        this.track(this.workflows.afterRunEnded(op.userId, op.runId));
      }
    });
  }

  /**
   * Commits an attempt's outcome with its follow-ups (callbacks, workflow steps), retrying until it lands. When
   * the store refuses the follow-ups for their content, the outcome is recorded without them rather than never.
   */
  private async commitOutcome(inserts: WriteOp[], ops: WriteOp[], wfOps: WriteOp[]): Promise<OpResult[]> {
    const all = [...inserts, ...ops, ...wfOps];
    try {
      return await this.committer.run(all);
    } catch (err) {
      if (this.stopped || classifyStoreError(err) !== "rejected" || inserts.length + wfOps.length === 0) {
        return this.commitOwnWrite(all, err);
      }
      this.emit("error", err);
      const results = await this.commitOwnWrite(ops);
      const dropped = { applied: false };
      return [...inserts.map(() => dropped), ...results, ...wfOps.map(() => dropped)];
    }
  }

  /**
   * Commits the engine's own writes (starts, outcomes), retrying with back-off for as long as the store refuses
   * them (a full disk, a lost connection), so no attempt is forgotten and no slot is leaked. Gives up only when
   * the engine stops: what is unwritten then is still in the store as it was, and recovered on the next start.
   */
  private async commitOwnWrite(ops: WriteOp[], firstError?: unknown): Promise<OpResult[]> {
    let delay = OWN_WRITE_RETRY_MIN_MS;
    let err = firstError;
    for (;;) {
      if (err !== undefined) {
        if (this.stopped) throw err;
        this.emit("error", err);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, OWN_WRITE_RETRY_MAX_MS);
      }
      try {
        return await this.committer.run(ops);
      } catch (e) {
        err = e;
      }
    }
  }

  private callbacksFor(msg: MessageRecord, t: Transition, dlq: DlqEntry | undefined, now: number): MessageRecord[] {
    // Workflow messages carry no callbacks of their own; a run's follow-ups come from `Workflows.afterAttempt`.
    if (msg.kind !== "publish" || t.verdict.kind === "cancelled" || msg.workflow) return [];
    const out: MessageRecord[] = [];
    const limits = { ...this.config.limits };
    try {
      if (msg.callback) {
        const cb = buildCallbackMessage(msg, "callback", callbackBody(msg, t), now, limits);
        if (cb) out.push(cb);
      }
      if (dlq && msg.failureCallback) {
        const cb = buildCallbackMessage(msg, "failureCallback", callbackBody(msg, t, dlq.dlqId), now, limits);
        if (cb) out.push(cb);
      }
    } catch {
      // Callback headers were validated at publish; a limit lowered since then must not lose the outcome.
    }
    return out;
  }

  private async purge(): Promise<void> {
    const now = this.clock.now();
    this.dispatcher.sweepIdleKeys(IDLE_KEY_MS);
    await this.committer.idle();
    await this.store.purge(now - this.config.limits.retentionMs, now, 10_000);
  }

  /** Keeps a background task in view: its failure is reported, and stop() waits for it. */
  track(p: Promise<unknown>): void {
    this.background.add(p);
    p.catch((err) => this.emit("error", err)).finally(() => this.background.delete(p));
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled verdict ${JSON.stringify(x)}`);
}

export type { LogEvent };
