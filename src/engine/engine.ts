import { EventEmitter } from "node:events";
import type { Config } from "../config.js";
import type { MessageRecord } from "../model/message.js";
import type { Tracing } from "../observability/tracing.js";
import { isClusterStore } from "../store/cluster.js";
import type { OpResult, Store, WriteOp } from "../store/store.js";
import { Accept, type AcceptResult } from "./accept.js";
import { Attempts } from "./attempt.js";
import type { InsertMessageOp, NewMessage } from "./build-message.js";
import { cancelMessages, type CancelDeps } from "./cancel.js";
import { systemClock, type Clock } from "./clock.js";
import { Committer } from "./committer.js";
import type { AttemptSender } from "./deliverer.js";
import { Dispatcher } from "./dispatcher.js";
import { DueLoader } from "./due-loader.js";
import type { EngineEvents } from "./events.js";
import { Finish } from "./finish.js";
import { noHooks, type EngineHooks, type Lifecycle, type MessageWrites } from "./hooks.js";
import type { KeyRing } from "./keyring.js";
import { Maintenance } from "./maintenance.js";
import { soleNode, startsAnywhere, type NodeRole } from "./node-role.js";
import { OwnWrites } from "./own-writes.js";
import { Settings } from "./settings.js";
import { UrlGroups } from "./url-groups.js";

/** The façade's events, for whoever listens to an `Engine` (metrics, the event log). */
export type { EngineEvents } from "./events.js";

/**
 * The message lifecycle: accept → store → (due loader) → lane → active → delivered | retry | failed.
 * The store is the truth; in memory are only the soon-due ids (DueLoader), the lanes of the dispatcher and
 * the attempts in flight, all rebuilt from the store on start. Every state change goes through a fenced
 * update, so a message cancelled while due is never also dispatched.
 *
 * This class owns the lifecycle (start, recovery, stop) and wires the parts, each of which does one job with
 * a narrow deps object: `Accept` (inserts and the fast path), `Attempts` (start, build, sign, send), `Finish`
 * (outcomes, DLQ, callbacks), `cancelMessages`, `Settings` (queues, flow-control keys) and `Maintenance`.
 */
export class Engine extends EventEmitter<EngineEvents> implements MessageWrites {
  readonly committer: Committer;
  readonly dispatcher: Dispatcher;
  readonly urlGroups: UrlGroups;
  readonly settings: Settings;
  /** Set when tracing is configured; undefined costs the attempt path nothing. */
  tracing: Tracing | undefined;
  /** This node's part in the service: set before `start` (the sole node unless the store is shared by a cluster). */
  role: NodeRole = soleNode;
  /** Whether the leader's work (dispatch, due messages, the attached parts, maintenance) runs on this node. */
  private isLeading = false;
  /** Set once the first due load as leader is done (see `lanesLoaded`). */
  private lanesHoldDue = false;
  private lanesReadIn: () => void = () => undefined;
  /** Resolves once the first due load as leader is done (never on a node that does not lead). */
  readonly lanesReady = new Promise<void>((resolve) => (this.lanesReadIn = resolve));
  /** Orphaned attempts (of nodes that are gone) being recovered now, so two sweeps never finish one twice. */
  private readonly recovering = new Set<string>();
  /** A reading of the store for a queue's order under way (one at a time, however many starts were refused). */
  private orderRecheck: Promise<void> | undefined;
  private readonly loader: DueLoader;
  private readonly accepts: Accept;
  private readonly attempts: Attempts;
  private readonly finish: Finish;
  private readonly cancels: CancelDeps;
  private readonly maintenance: Maintenance;
  /** The layer built on the engine (workflow runs), wired in by `use`. */
  private hooks: EngineHooks = noHooks;
  /** Parts built beside the engine (schedules, wait deadlines), started after the due messages are loaded. */
  private readonly attached: Lifecycle[] = [];
  private readonly inFlight = new Map<string, MessageRecord>();
  private stopped = false;
  private readonly background = new Set<Promise<unknown>>();

  constructor(
    readonly store: Store,
    readonly config: Config,
    deliverer: AttemptSender,
    readonly keys: KeyRing,
    readonly clock: Clock = systemClock,
  ) {
    super();
    const userWaitingLimit = Math.max(1, Math.floor(config.maxWaiting * config.userMaxInFlightShare));
    const isStopped = (): boolean => this.stopped;
    const track = (p: Promise<unknown>): void => this.track(p);
    const hooks = (): EngineHooks => this.hooks;
    const role = (): string | undefined => this.role.nodeId;
    const committer = (this.committer = new Committer(
      store,
      undefined,
      (err) => this.emit("storeError", err),
      (ms, ops) => this.emit("committed", ms, ops),
    ));
    const ownWrites = new OwnWrites({ committer, isStopped, onError: (err) => this.emit("error", err) });
    this.urlGroups = new UrlGroups({ store, ownsStore: !isClusterStore(store), committer, now: () => clock.now() });
    this.settings = new Settings({ store, committer, clock, config, dispatcher: () => this.dispatcher, cancel: (userId, ids) => this.cancel(userId, ids) });
    this.loader = new DueLoader({
      store,
      now: () => clock.now(),
      budget: () => config.maxWaiting - this.dispatcher.waitingCount,
      isHeld: (id) => this.dispatcher.isWaiting(id) || this.inFlight.has(id),
      deliver: (m) => this.accepts.enqueueReady(m),
      track,
    });
    const settings = this.settings;
    this.dispatcher = new Dispatcher({
      now: () => clock.now(),
      maxInFlight: config.maxInFlight,
      userParallelism: config.globalParallelism,
      userShare: config.userMaxInFlightShare,
      start: (batch) => this.track(this.attempts.activate(batch)),
      queueSettings: (userId, name) => settings.queueFor(userId, name),
      keySettings: (userId, key) => settings.keySettings(userId, key),
      keyWindow: (userId, key) => settings.takeSavedWindow(userId, key),
      userWaitingLimit,
      userHasRoom: (userId) => this.loader.resume(userId),
    });
    const { dispatcher, loader, inFlight } = this;
    this.accepts = new Accept({
      committer,
      dispatcher,
      loader,
      clock,
      config,
      userWaitingLimit,
      inFlight,
      isStopped,
      mayStartHere: (m) => this.role.mayStart() && (this.role.nodeId === undefined || startsAnywhere(m, config.globalParallelism)),
      leading: () => this.isLeading,
      launch: (msg) => this.attempts.launch(msg),
      events: this,
    });
    this.finish = new Finish({ clock, config, committer, ownWrites, dispatcher, accept: this.accepts, inFlight, hooks, events: this, isStopped });
    this.attempts = new Attempts({
      get nodeId() {
        return role();
      },
      clock,
      config,
      dispatcher,
      loader,
      ownWrites,
      inFlight,
      keys,
      deliverer,
      hooks,
      tracing: () => this.tracing,
      events: this,
      finish: (msg, result) => this.finish.finishAttempt(msg, result),
      // Only a cluster refuses a start for its queue's order; what it missed is read again, in order.
      startRefused: () => {
        if (this.role.nodeId === undefined || this.orderRecheck) return;
        this.orderRecheck = this.recheckDue(undefined, true).catch(() => undefined).finally(() => (this.orderRecheck = undefined));
      },
      track,
    });
    const engine = this;
    this.cancels = {
      store,
      committer,
      clock,
      dispatcher,
      loader,
      inFlight,
      get clustered() {
        return engine.role.nodeId !== undefined;
      },
      events: this,
    };
    this.maintenance = new Maintenance({ store, committer, dispatcher, clock, config, track });
  }

  /** Wires in the layer built on the engine (before `start`). */
  use(hooks: EngineHooks): void {
    this.hooks = hooks;
  }

  /** Adds parts that start with the engine (after its recovery and due load) and stop with it. */
  attach(...parts: Lifecycle[]): void {
    this.attached.push(...parts);
  }

  /**
   * Starts serving. The sole node of a store then leads at once (`lead`); a node of a cluster leads only once it
   * holds the leadership, and until then stores, starts what may start anywhere, and leaves the rest to the leader.
   */
  async start(): Promise<void> {
    await this.urlGroups.reload();
    await this.settings.load();
    if (this.role.nodeId === undefined) await this.lead();
  }

  /**
   * Takes up the leader's work: treats attempts whose node is gone (on the sole node: interrupted by the last stop)
   * as failed attempts, loads what is due soon, then starts the attached parts and maintenance. Once per engine.
   *
   * `cachesRead`, for a node of a cluster that leads from its start: the read of every cache it made once its
   * listener was up (ClusterNode.start). That read already covers what other nodes changed since `start` loaded
   * them, so it is waited for rather than made a third time. The rate windows are read again (one small read): a
   * leader that stopped gracefully while this node started saved its last ones after `start` read them.
   */
  async lead(cachesRead?: Promise<unknown>): Promise<void> {
    if (this.isLeading || this.stopped) return;
    this.isLeading = true;
    if (this.role.nodeId !== undefined && cachesRead) {
      await cachesRead;
      await this.settings.loadWindows();
    } else if (this.role.nodeId !== undefined) {
      // A node that takes over later: what other nodes changed while it did not lead is read afresh.
      await this.urlGroups.reload();
      await this.settings.load();
    }
    // Nothing due is handed to the lanes until the backlog is read in: a message another node publishes meanwhile
    // (or this one, in a cluster) cannot start ahead of an older one of its queue that is still only in the store.
    await this.loader.catchUp(async () => {
      // Queue slots held across the stop: messages past their first attempt, and finished ones whose callbacks are not.
      for (const h of await this.store.listQueueHolders()) {
        this.dispatcher.holdQueueSlot(h.userId, h.queueName, h.id, h.finished, h.callbacks);
      }
      await this.recoverOrphans();
      await this.loader.start();
    });
    this.lanesHoldDue = true;
    this.lanesReadIn();
    for (const part of this.attached) await part.start();
    await this.maintenance.start();
  }

  /** Whether this node does the leader's work. */
  get leading(): boolean {
    return this.isLeading;
  }

  /**
   * Whether this node leads and its lanes hold what is due: from the end of its first due load as leader. Between
   * `leading` and this, the lanes know only part of the keys and their waiting messages; the store knows them all.
   */
  get lanesLoaded(): boolean {
    return this.lanesHoldDue;
  }

  /**
   * Retries attempts stranded on nodes that are gone, as interrupted attempts (same message id). The leader runs it
   * when it starts leading and after every heartbeat; resolves how many it took over.
   */
  async recoverOrphans(): Promise<number> {
    const orphans = (await this.store.listActive()).filter((m) => !this.inFlight.has(m.id) && !this.recovering.has(m.id));
    for (const msg of orphans) this.recovering.add(msg.id);
    try {
      for (const msg of orphans) {
        this.dispatcher.countRecovered(msg);
        await this.finish.finishAttempt(msg, { kind: "error", error: "attempt interrupted: the server stopped while it was in flight" });
      }
    } finally {
      for (const msg of orphans) this.recovering.delete(msg.id);
    }
    return orphans.length;
  }

  /** A pending message another node stored, due soon: the leader's due loader keeps it until its time. */
  dueElsewhere(id: string, dueMs: number): void {
    if (this.isLeading && !this.stopped) this.loader.schedule(id, dueMs);
  }

  /**
   * The leader reads the store for pending messages again from `fromMs` (news of them may have been missed). With
   * `inOrder` (after news was surely missed), nothing due starts until that reading is done, so what was missed
   * keeps its place in its queue.
   */
  recheckDue(fromMs?: number, inOrder = false): Promise<void> {
    if (!this.isLeading) return Promise.resolve();
    const reading = inOrder ? this.loader.catchUp(() => this.loader.recheck(fromMs)) : this.loader.recheck(fromMs);
    this.track(reading);
    return reading;
  }

  /** Starts nothing due (from the heap, or straight into a lane) until `until` settles. */
  holdDue(until: Promise<unknown>): void {
    this.track(this.loader.catchUp(() => until.catch(() => undefined)));
  }

  /** Cancels asked on other nodes for attempts in flight here: each is cancelled when it ends, unless delivered. */
  cancelRequested(ids: string[]): void {
    for (const id of ids) {
      const m = this.inFlight.get(id);
      if (m) m.cancelRequested = true;
    }
  }

  /** The ids of the attempts in flight on this node. */
  inFlightIds(): string[] {
    return [...this.inFlight.keys()];
  }

  /**
   * Stops starting work and waits up to `graceMs` for attempts in flight. Attempts still running after that are
   * left as they are in the store (active) and are retried as interrupted attempts on the next start.
   */
  async stop(graceMs = 10_000, opts: { fencedOut?: boolean } = {}): Promise<void> {
    this.stopped = true;
    this.loader.stop();
    for (const part of this.attached) part.stop();
    this.dispatcher.stop();
    this.maintenance.stop();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.allSettled([...this.background]), grace]);
    clearTimeout(timer);
    // A node fenced out is no longer the leader: the rate windows are the new leader's to save.
    if (this.isLeading && !opts.fencedOut) await this.maintenance.saveWindows();
    await this.committer.idle();
  }

  // ---- the write surface (MessageWrites) -------------------------------------------------------

  /** Stores new messages (one transaction per event-loop turn) and schedules them; resolves once durable. */
  accept(items: NewMessage[]): Promise<AcceptResult[]> {
    return this.accepts.accept(items);
  }

  commitAndStart(ops: WriteOp[]): Promise<OpResult[]> {
    return this.accepts.commitAndStart(ops);
  }

  storeOp(item: NewMessage): WriteOp {
    return this.accepts.storeOp(item);
  }

  insertOp(item: NewMessage): InsertMessageOp {
    return this.accepts.insertOp(item);
  }

  commit(ops: WriteOp[]): Promise<OpResult[]> {
    return this.committer.run(ops);
  }

  async deleteDlq(userId: string, dlqIds: string[]): Promise<number> {
    if (dlqIds.length === 0) return 0;
    const results = await this.committer.run(dlqIds.map((dlqId) => ({ op: "deleteDlq" as const, userId, dlqId })));
    return results.filter((r) => r.applied).length;
  }

  cancel(userId: string, ids: string[]): Promise<number> {
    return cancelMessages(this.cancels, userId, ids);
  }

  /** Replaces a DLQ entry with a fresh message; resolves the new id, or undefined when the entry was gone. */
  requeueFromDlq(userId: string, dlqId: string, fresh: NewMessage): Promise<string | undefined> {
    return this.accepts.requeueFromDlq(userId, dlqId, fresh);
  }

  /** One schedule tick, fenced on the tick and the schedule revision it expects; resolves whether it fired. */
  fireSchedule(
    userId: string, id: string, expectNextMs: number, expectRevision: string, nextMs: number | null, firedMs: number, items: NewMessage[],
  ): Promise<boolean> {
    return this.accepts.fireSchedule(userId, id, expectNextMs, expectRevision, nextMs, firedMs, items);
  }

  /** Deliveries one user may have in flight: their share of the slots, or global parallelism when lower. */
  get userLimit(): number {
    return this.dispatcher.userLimit;
  }

  /** One user's deliveries in flight right now (their global parallelism). */
  userInFlight(userId: string): number {
    return this.dispatcher.userCount(userId);
  }

  /** Whether a message is due and waiting in its lane (not in the store only). */
  isWaiting(id: string): boolean {
    return this.dispatcher.isWaiting(id);
  }

  /** Deliveries in flight right now (for metrics). */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Keeps a background task in view: its failure is reported, and stop() waits for it. */
  track(p: Promise<unknown>): void {
    this.background.add(p);
    // One `then` with both handlers: it runs for every attempt, and `catch(…).finally(…)` costs several promises.
    p.then(
      () => this.background.delete(p),
      (err) => {
        this.background.delete(p);
        this.emit("error", err);
      },
    );
  }
}
