import type { Clock } from "../engine/clock.js";
import type { MessageWrites } from "../engine/hooks.js";
import type { Config } from "../config.js";
import type { Workflows } from "./workflows.js";
import { CoalescedReload } from "../engine/coalesced-reload.js";
import { TimerQueue } from "../engine/timer-queue.js";
import { badRequest, HttpError } from "../errors.js";
import type { Store, WriteOp } from "../store/store.js";
import type { NewMessage } from "../engine/build-message.js";
import { parseJsonBounded } from "../protocol/json-depth.js";
import type { StoredRunEvent, StoredWaiter } from "../model/waiter.js";

/** A waiter as the API shows it (`Waiter` of the SDK and the OpenAPI). */
export interface WaiterJson {
  url: string;
  /** Unix seconds. */
  deadline: number;
  headers: Record<string, string[]>;
  timeoutUrl: string;
  timeoutHeaders: Record<string, string[]>;
}

/** One answered waiter in a notify reply (`NotifyResponse`). */
export interface NotifyResult {
  waiter: WaiterJson;
  /** The message that carries the event to the waiting run ("" when it could not be published). */
  messageId: string;
  error?: string;
  workflowRunId: string;
  workflowCreatedAt?: number;
}

export function waiterJson(w: StoredWaiter): WaiterJson {
  return {
    url: w.url,
    deadline: Math.floor(w.deadlineMs / 1000),
    headers: w.headers,
    timeoutUrl: w.timeoutUrl,
    timeoutHeaders: w.timeoutHeaders,
  };
}

/** The step that answers a wait with an event: the event's bytes in base64 as `out` (SPEC §5.7). */
export function eventStep(w: StoredWaiter, data: Buffer): Record<string, unknown> {
  return { ...w.step, out: data.toString("base64"), waitEventId: w.eventId, waitTimeout: false };
}

/**
 * The step that ends a wait at its deadline: no `out`. `waitForEvent` reads `waitTimeout: true`; `waitForWebhook`
 * reads the missing `out` (SDK notes §6).
 */
export function timeoutStep(w: StoredWaiter): Record<string, unknown> {
  const step: Record<string, unknown> = { ...w.step, waitEventId: w.eventId, waitTimeout: true };
  delete step.out;
  return step;
}

/** What the waits use of the engine and the workflow layer. */
export interface WaitsDeps {
  store: Store;
  config: Pick<Config, "limits" | "users">;
  clock: Clock;
  messages: MessageWrites;
  workflows: Pick<Workflows, "serverStep">;
  /** Keeps a background task in view of the engine's stop. */
  track(p: Promise<unknown>): void;
}

/**
 * Waits for events (SPEC §5.7): registering a wait, answering it from an event notified earlier to its run
 * (lookback), notifying waiters, and ending waits at their deadline. A waiter is answered exactly once, because
 * every answer removes it in the same transaction that stores the answer step (`takeWaiter`).
 *
 * A wait and a run-scoped notify of the same run and event run one at a time (`locks`), so an event cannot be
 * stored for lookback while a wait for it is being registered, and be missed by both.
 *
 * Everything but the deadlines is read from and written to the store, so any node serves waits and notifies. Only
 * a started `Waits` (the node that ends waits at their deadline) has a deadline timer.
 */
export class Waits {
  /** Only between `start` and `stop`. */
  private timer: DeadlineTimer | undefined;
  private readonly locks = new KeyedLock();
  private readonly store: Store;

  constructor(private readonly deps: WaitsDeps) {
    this.store = deps.store;
  }

  /** Starts ending waits at their deadline, from the waiters the store has now. */
  async start(): Promise<void> {
    this.timer?.stop();
    const timer = (this.timer = new DeadlineTimer({
      store: this.deps.store,
      now: () => this.deps.clock.now(),
      fire: (w) => this.timeout(w),
      track: this.deps.track,
    }));
    await timer.start();
  }

  stop(): void {
    this.timer?.stop();
    this.timer = undefined;
  }

  /**
   * When started: reads the waiters due soon again (see `DeadlineTimer.reload`), so a waiter another node stored
   * gets its deadline here, and one answered elsewhere is let go. Not started: nothing to follow (every other
   * call reads the store). Safe at any moment.
   */
  reload(): Promise<void> {
    return this.timer?.reload() ?? Promise.resolve();
  }

  /**
   * Registers a wait, or answers it at once from an event notified to its run earlier. Throws a 400 when the
   * run cannot take a step (the SDK reads that as "the run has ended").
   */
  async wait(w: StoredWaiter, callerIp: string): Promise<{ messageId?: string }> {
    const run = await this.store.getRun(w.userId, w.runId);
    if (!run) throw badRequest(`workflow run ${w.runId} does not exist`);
    if (run.state !== "RUN_STARTED") throw badRequest(`workflow run ${w.runId} has ended (${run.state}): it can not wait`);
    // Both the answer and the timeout are built from what the wait gave; refuse now what could never be sent.
    if (!(await this.step(w.userId, w.url, w.headers, eventStep(w, Buffer.alloc(0)), callerIp))) {
      throw badRequest("the wait's step headers do not make a valid workflow step");
    }
    if (!(await this.step(w.userId, w.timeoutUrl, w.timeoutHeaders, timeoutStep(w), callerIp))) {
      throw badRequest("the wait's timeoutUrl and timeoutHeaders do not make a valid workflow step");
    }
    return this.locks.run(lockKey(w.userId, w.runId, w.eventId), async () => {
      const waiting = await this.store.listWaiters(w.userId, w.eventId, w.runId);
      // A redelivered step registers its wait once.
      if (waiting.some((o) => sameStep(o.step, w.step))) return {};
      const event = await this.store.findRunEvent(w.userId, w.runId, w.eventId);
      if (event) {
        const item = await this.step(w.userId, w.url, w.headers, eventStep(w, event.data), callerIp);
        if (item) {
          const [r] = await this.deps.messages.commitAndStart([
            { op: "takeRunEvent", userId: w.userId, id: event.id!, then: [this.deps.messages.storeOp(item)] },
          ]);
          if (r.applied && r.nested?.[0]?.applied) return { messageId: item.record.id };
        }
      }
      await this.deps.messages.commitAndStart([{ op: "putWaiter", waiter: w }]);
      this.timer?.added(w);
      return {};
    });
  }

  /** Answers every waiter of an event (any run of the user); the event is lost when none waits. */
  async notify(userId: string, eventId: string, data: Buffer, callerIp: string): Promise<NotifyResult[]> {
    return this.answer(await this.store.listWaiters(userId, eventId), data, callerIp);
  }

  /**
   * Answers the waiters of one run for an event, or keeps the event for the run's next wait for it (lookback).
   * Undefined when the run does not exist or has ended.
   */
  async notifyRun(userId: string, runId: string, eventId: string, data: Buffer, callerIp: string): Promise<NotifyResult[] | undefined> {
    const run = await this.store.getRun(userId, runId);
    if (!run || run.state !== "RUN_STARTED") return undefined;
    return this.locks.run(lockKey(userId, runId, eventId), async () => {
      const answered = await this.answer(await this.store.listWaiters(userId, eventId, runId), data, callerIp);
      if (answered.length) return answered;
      await this.keep({ userId, runId, eventId, createdMs: this.deps.clock.now(), data });
      return [];
    });
  }

  /** Keeps an event for the run's next wait for it; refused (429) once the run keeps `maxRunEvents`. */
  private keep(event: StoredRunEvent): Promise<void> {
    const { userId, runId } = event;
    // Per run, not per event: notifies of different events of one run must not pass the count together.
    return this.locks.run(`${userId}\u0000${runId}`, async () => {
      const limit = this.deps.config.limits.maxRunEvents;
      if ((await this.store.countRunEvents(userId, runId)) >= limit) {
        throw new HttpError(429, `workflow run ${runId} keeps ${limit} events already (maxRunEvents): no more are kept until it waits for them`);
      }
      const [r] = await this.deps.messages.commitAndStart([{ op: "putRunEvent", event }]);
      if (!r.applied) throw new Error("storing a notified event failed");
    });
  }

  /**
   * Hands a request to a workflow webhook to its run, as a run-scoped notify of the webhook's event. False when
   * there is no such webhook: an unknown user, a run that does not exist or has ended, or an event the run did not
   * create with `context.createWebhook`. Callers answer all of these alike, so the tokenless URL is no way to learn
   * which users or runs exist.
   */
  async notifyWebhook(userId: string, runId: string, eventId: string, request: Buffer, callerIp: string): Promise<boolean> {
    // The run is looked up first, for a known user or not, so both refusals cost the same.
    const created = await this.createdWebhook(userId, runId, eventId);
    if (!created || !this.deps.config.users.some((u) => u.userId === userId)) return false;
    return (await this.notifyRun(userId, runId, eventId, request, callerIp)) !== undefined;
  }

  /**
   * Whether the run is live and one of its steps is the `CreateWebhook` step of `eventId`. The SDK builds the
   * webhook URL in that step's result (`out` = `{"webhookUrl", "eventId"}`, SPEC §5.7), and the run's code only
   * gets the URL after that result is stored, so a real webhook is always found.
   */
  private async createdWebhook(userId: string, runId: string, eventId: string): Promise<boolean> {
    const run = await this.store.getRun(userId, runId);
    if (!run || run.state !== "RUN_STARTED") return false;
    for (const entry of await this.store.getRunEntries(userId, runId)) {
      // The trigger's body is the caller's payload, not a step. SDK event ids (`evt_` + URL-safe characters)
      // appear verbatim in the step's bytes, so entries without them are skipped unparsed.
      if (entry.callType !== "step" || entry.messageId === run.triggerMessageId || !entry.body.includes(eventId)) continue;
      const step = parseJsonBounded(entry.body.toString("utf8")) as { stepType?: unknown; out?: unknown } | undefined;
      if (step?.stepType !== "CreateWebhook" || typeof step.out !== "string") continue;
      if ((parseJsonBounded(step.out) as { eventId?: unknown } | undefined)?.eventId === eventId) return true;
    }
    return false;
  }

  /** Live waiters of an event, as the API shows them. */
  async list(userId: string, eventId: string): Promise<WaiterJson[]> {
    return (await this.store.listWaiters(userId, eventId)).map(waiterJson);
  }

  private async answer(waiters: StoredWaiter[], data: Buffer, callerIp: string): Promise<NotifyResult[]> {
    if (waiters.length === 0) return [];
    const items: (NewMessage | undefined)[] = [];
    const ops: WriteOp[] = [];
    for (const w of waiters) {
      const item = await this.step(w.userId, w.url, w.headers, eventStep(w, data), callerIp);
      items.push(item);
      ops.push({
        op: "takeWaiter",
        userId: w.userId,
        id: w.id!,
        then: item ? [this.deps.messages.storeOp(item)] : [],
      });
    }
    const results = await this.deps.messages.commitAndStart(ops);
    const created = new Map<string, number | undefined>();
    const out: NotifyResult[] = [];
    for (let i = 0; i < waiters.length; i++) {
      // Not applied: the waiter was answered or timed out meanwhile, and this event is not for it.
      if (!results[i].applied) continue;
      const w = waiters[i];
      this.timer?.removed(w.id!);
      if (!created.has(w.runId)) created.set(w.runId, (await this.store.getRun(w.userId, w.runId))?.createdAtMs);
      const item = items[i];
      const delivered = item !== undefined && results[i].nested?.[0]?.applied === true;
      out.push({
        waiter: waiterJson(w),
        messageId: delivered ? item.record.id : "",
        ...(delivered ? {} : { error: `workflow run ${w.runId} has ended` }),
        workflowRunId: w.runId,
        workflowCreatedAt: created.get(w.runId),
      });
    }
    return out;
  }

  /** Ends a wait at its deadline; does nothing when it was answered meanwhile. */
  private async timeout(w: StoredWaiter): Promise<void> {
    const item = await this.step(w.userId, w.timeoutUrl, w.timeoutHeaders, timeoutStep(w), "");
    await this.deps.messages.commitAndStart([
      {
        op: "takeWaiter",
        userId: w.userId,
        id: w.id!,
        then: item ? [this.deps.messages.storeOp(item)] : [],
      },
    ]);
  }

  /** Ends a wait now, as its deadline would (tests race this against a notify). */
  timeoutNow(w: StoredWaiter): Promise<void> {
    return this.timeout(w);
  }

  private step(userId: string, url: string, headers: Record<string, string[]>, step: Record<string, unknown>, callerIp: string) {
    return this.deps.workflows.serverStep(userId, url, headers, step, callerIp);
  }
}

function lockKey(userId: string, runId: string, eventId: string): string {
  return `${userId}\u0000${runId}\u0000${eventId}`;
}

function sameStep(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return a.stepId === b.stepId && a.targetStep === b.targetStep && a.stepName === b.stepName && a.stepType === b.stepType;
}

/** Runs tasks with the same key one after another; keys are forgotten when idle. */
class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(task, task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

/** How far ahead (ms) waiters are held in memory; later deadlines stay only in the store. */
const HORIZON_MS = 5 * 60_000;
/** Most waiters held in memory at once. */
const MAX_HELD = 10_000;

export interface DeadlineTimerDeps {
  store: Pick<Store, "listWaitersDue">;
  now: () => number;
  fire: (w: StoredWaiter) => Promise<void>;
  track: (p: Promise<unknown>) => void;
}

/**
 * Ends waits at their deadline. Only waiters due within the horizon (at most `MAX_HELD`) are in memory, in a
 * heap with one timer for the earliest; the window is read again from the store as it advances, and whenever
 * `reload` is called (another node stored or answered a waiter). A waiter fired twice (held twice across a reload)
 * is harmless: the timeout removes the waiter only if it is still there, so each waiter is answered once.
 */
export class DeadlineTimer {
  private readonly timers: TimerQueue;
  private readonly held = new Map<string, StoredWaiter>();
  /** Waiters whose timeout is being written: a reload that still finds them must not hold them again. */
  private readonly firing = new Set<string>();
  /** Every waiter with a deadline at or before this is held (or has fired). */
  private heldUntil = Number.NEGATIVE_INFINITY;
  /** While a reload runs: the deadline it will hold up to, so waiters added meanwhile are not missed. */
  private loadingUntil: number | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly reloads = new CoalescedReload(() => this.readStore());

  constructor(private readonly d: DeadlineTimerDeps) {
    this.timers = new TimerQueue(d.now, (ids) => this.onDue(ids));
  }

  get size(): number {
    return this.held.size;
  }

  async start(): Promise<void> {
    await this.reload();
  }

  stop(): void {
    this.stopped = true;
    this.timers.stop();
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
  }

  /**
   * Reads the waiters due within the horizon from the store: those stored since (by any node) are held, those no
   * longer there (answered or timed out, by any node) are let go. Resolves once a read that began after the call
   * has been applied; overlapping calls share one read. Safe at any moment; does nothing once stopped.
   */
  reload(): Promise<void> {
    return this.reloads.request();
  }

  /** A waiter was stored. */
  added(w: StoredWaiter): void {
    if (this.stopped) return;
    const limit = Math.max(this.heldUntil, this.loadingUntil ?? Number.NEGATIVE_INFINITY);
    if (w.deadlineMs > limit) return; // a later reload reads it
    if (this.held.size >= MAX_HELD) {
      // Full: leave it to the store, and make sure the window is read again up to it.
      this.heldUntil = Math.min(this.heldUntil, w.deadlineMs - 1);
      this.scheduleReload(0);
      return;
    }
    this.hold(w);
  }

  /** A waiter was answered. */
  removed(id: number): void {
    const key = String(id);
    this.held.delete(key);
    this.timers.remove(key);
  }

  private hold(w: StoredWaiter): void {
    const key = String(w.id);
    this.held.set(key, w);
    this.timers.push(key, w.deadlineMs);
  }

  private onDue(ids: string[]): void {
    for (const id of ids) {
      const w = this.held.get(id);
      if (!w) continue;
      this.held.delete(id);
      this.firing.add(id);
      const fired = this.d.fire(w);
      this.d.track(fired);
      void fired.catch(() => undefined).then(() => this.firing.delete(id));
    }
    if (this.heldUntil < this.d.now() + HORIZON_MS / 2) this.scheduleReload(0);
  }

  private scheduleReload(waitMs: number): void {
    if (this.stopped) return;
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.d.track(this.reload()), waitMs);
    this.reloadTimer.unref();
  }

  private async readStore(): Promise<void> {
    if (this.stopped) return;
    const until = this.d.now() + HORIZON_MS;
    this.loadingUntil = until;
    // Held before this read began, so stored before it: one the read does not find was answered since.
    const heldBefore = new Set(this.held.keys());
    try {
      const rows = await this.d.store.listWaitersDue(until, MAX_HELD + 1);
      // Every stored waiter due before this was looked at (all of the window, unless there were too many).
      let readBefore = rows.length > MAX_HELD ? rows[MAX_HELD].deadlineMs : until;
      const found = new Set<string>();
      for (const w of rows.slice(0, MAX_HELD)) {
        const key = String(w.id);
        if (this.held.size >= MAX_HELD && !this.held.has(key) && !this.firing.has(key)) {
          readBefore = w.deadlineMs;
          break;
        }
        found.add(key);
        if (!this.held.has(key) && !this.firing.has(key)) this.hold(w);
      }
      for (const key of heldBefore) {
        const w = this.held.get(key);
        if (w && w.deadlineMs < readBefore && !found.has(key)) this.removed(w.id!);
      }
      this.heldUntil = readBefore === until ? until : readBefore - 1;
    } finally {
      this.loadingUntil = undefined;
      this.scheduleReload(Math.max(1000, this.heldUntil - HORIZON_MS / 2 - this.d.now()));
    }
  }
}
