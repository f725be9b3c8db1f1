import type { Config } from "../config.js";
import { notFound } from "../errors.js";
import type { FlowSettings } from "../model/flow-settings.js";
import { validateName } from "../protocol/names.js";
import { QUEUE_FIELDS } from "../store/queue-upsert.js";
import type { SettingEntry } from "../store/cluster.js";
import type { Store, StoredQueue } from "../store/store.js";
import type { Clock } from "./clock.js";
import { CoalescedReload } from "./coalesced-reload.js";
import type { Committer } from "./committer.js";
import type { Dispatcher } from "./dispatcher.js";
import type { FlowInfo, FlowLimiter } from "./flow-limiter.js";
import type { QueueSettings } from "./lanes.js";
import { LocalChanges } from "./local-changes.js";

/** A run-time change of a flow-control key (SPEC §2.9), as the API asks for it. */
export type FlowChange =
  | { kind: "pause" }
  | { kind: "resume" }
  | { kind: "pin"; parallelism?: number; rate?: number; periodSec?: number }
  | { kind: "unpin"; parallelism: boolean; rate: boolean }
  | { kind: "resetRate" }
  /** Back to the messages' own configuration: unpinned, resumed, a fresh rate window. */
  | { kind: "reset" };

export interface QueueInfo {
  name: string;
  createdAt: number;
  updatedAt: number;
  parallelism: number;
  lag: number;
  paused: boolean;
}

export interface SettingsDeps {
  store: Pick<Store, "listQueues" | "getQueue" | "listFlowSettings" | "listFlowWindows" | "countWaiting" | "countQueueLag" | "findUnfinished">;
  committer: Pick<Committer, "run">;
  clock: Clock;
  config: Pick<Config, "maxWaiting">;
  /** The dispatcher whose lanes the settings steer (read when steering, after the engine has built it). */
  dispatcher(): Pick<Dispatcher, "keyLane" | "findKeyLane" | "keyLanes" | "findQueueLane" | "dropQueueLane" | "wake" | "waitingCount">;
  /** Cancels a user's unfinished messages (a deleted queue's). */
  cancel(userId: string, ids: string[]): Promise<number>;
}

const id = (userId: string, name: string): string => `${userId}\u0000${name}`;
/** Keys of the entries a reload must leave alone while this node writes them (queues and keys share one tracker). */
const queueEntry = (userId: string, name: string): string => `queue\u0000${id(userId, name)}`;
const flowEntry = (userId: string, key: string): string => `flow\u0000${id(userId, key)}`;

/**
 * Queue and flow-control settings (SPEC §2.3, §2.9): kept in memory for the dispatcher, loaded at start and
 * written through to the store; every change is persisted, then the lane it concerns looks at it again. Several
 * nodes may share the store: `reload` follows what the others changed, and a change here that keeps part of the
 * stored state (a pause keeps the parallelism, a pin the pause) starts from a fresh read.
 */
export class Settings {
  /** Queue settings by `user\0name`. */
  private readonly queues = new Map<string, QueueSettings>();
  /** The queues known to be in the store (a queue a lane created on first use is in `queues` only). */
  private readonly storedQueues = new Set<string>();
  /** Flow-control settings (pause, pins) by `user\0key`, for keys that have any: as last stored, here or elsewhere. */
  private readonly flows = new Map<string, FlowSettings>();
  /** Rate windows saved before the last stop, until their key's lane is created again. */
  private readonly savedWindows = new Map<string, { startMs: number; count: number }>();
  private readonly changes = new LocalChanges();
  private readonly reloads = new CoalescedReload(() => this.readStore());
  private loaded = false;

  constructor(private readonly deps: SettingsDeps) {}

  /** Loads the settings (as `reload`) and the rate windows saved at the last stop: what a node needs to dispatch. */
  async load(): Promise<void> {
    await this.reload();
    await this.loadWindows();
  }

  /** Reads the rate windows saved by the last node to dispatch (at its stop, or as it went). */
  async loadWindows(): Promise<void> {
    const now = this.deps.clock.now();
    for (const w of await this.deps.store.listFlowWindows()) {
      // Periods are at most a week; an older window limits nothing.
      if (w.count > 0 && w.startMs > now - 7 * 86_400_000) this.savedWindows.set(id(w.userId, w.key), { startMs: w.startMs, count: w.count });
    }
  }

  /**
   * Makes memory match the store and steers the lanes as the same change made here would: a queue's parallelism or
   * pause changed elsewhere applies to its lane at once, a queue deleted elsewhere leaves the list (its lane lets go
   * of the messages the deleting node cancelled), and a key paused, resumed, pinned, unpinned or reset elsewhere
   * changes its limiter (only in what that node changed, so what this node's limiter has learnt from its own
   * messages stays). Resolves once a read that began after the call has been applied; overlapping calls share one
   * read, and an entry this node is writing meanwhile keeps its new value. Safe at any moment, on a node that
   * dispatches or not; the first call is the first load.
   */
  reload(): Promise<void> {
    return this.reloads.request();
  }

  /**
   * `reload` for the queues another node's commit changed, read one by one (a first enqueue to each of thousands of
   * queues made every other node read every queue again); before the first load, a whole reload.
   */
  reloadEntries(entries: SettingEntry[]): Promise<void> {
    return this.reloads.entriesChanged(entries, (userId, name) => this.readQueue(userId, name));
  }

  // ---- what the dispatcher reads ----------------------------------------------------------------

  /** A queue's settings; a queue first used by an enqueue is created with parallelism 1. */
  queueFor(userId: string, name: string): QueueSettings {
    const key = id(userId, name);
    let q = this.queues.get(key);
    if (!q) {
      const now = this.deps.clock.now();
      q = { parallelism: 1, paused: false, createdAtMs: now, updatedAtMs: now };
      this.queues.set(key, q);
    }
    return q;
  }

  keySettings(userId: string, key: string): FlowSettings | undefined {
    return this.flows.get(id(userId, key));
  }

  /** The rate window a key had at the last stop, once: its new lane continues it. */
  takeSavedWindow(userId: string, key: string): { startMs: number; count: number } | undefined {
    const k = id(userId, key);
    const w = this.savedWindows.get(k);
    if (w) this.savedWindows.delete(k);
    return w;
  }

  // ---- flow-control keys ------------------------------------------------------------------------

  async flowInfo(userId: string, key: string): Promise<FlowInfo> {
    const dispatcher = this.deps.dispatcher();
    // A key the user has used (or set by hand, maybe on another node since the last reload); 404 otherwise.
    const known = (): boolean => dispatcher.findKeyLane(userId, key) !== undefined || this.flows.has(id(userId, key));
    if (!known()) await this.reload();
    if (!known()) throw notFound(`flow-control key "${key}" not found`);
    const lane = dispatcher.keyLane(userId, key, false);
    const now = this.deps.clock.now();
    let waiting = lane.size;
    // Under a backlog the lanes hold only part of what is due (`maxWaiting`); the store knows the rest.
    if (dispatcher.waitingCount >= this.deps.config.maxWaiting / 2) {
      waiting = Math.max(waiting, await this.deps.store.countWaiting(userId, key, now));
    }
    return lane.limiter.info(now, waiting);
  }

  /** Every key of the user, optionally those whose name contains `search`. */
  async listFlow(userId: string, search?: string): Promise<FlowInfo[]> {
    if (!this.loaded) await this.reload();
    const names = new Set(this.deps.dispatcher().keyLanes(userId).map((l) => l.name));
    for (const k of this.flows.keys()) {
      const [u, key] = k.split("\u0000");
      if (u === userId) names.add(key);
    }
    const out: FlowInfo[] = [];
    for (const n of [...names].filter((name) => !search || name.includes(search)).sort()) out.push(await this.flowInfo(userId, n));
    return out;
  }

  /**
   * Applies a change to a key's limiter, persists its settings and lets the dispatcher look at it again. A key no
   * message has used yet is steered too (the vendor's pause-in-advance): its settings are kept, and hold the
   * messages published to it later, also after a restart.
   */
  async steerFlow(userId: string, key: string, change: FlowChange): Promise<void> {
    // The same rule as the publish header, so a key steered in advance is one a message can use.
    validateName(key, "flow-control key");
    // A change keeps the rest of the key's settings, which another node may have changed since the last reload.
    await this.reload();
    const dispatcher = this.deps.dispatcher();
    const lane = dispatcher.keyLane(userId, key, false);
    const now = this.deps.clock.now();
    applyFlowChange(lane.limiter, change, now);
    const k = id(userId, key);
    const settings: FlowSettings = { ...lane.limiter.settings(), rateResetMs: restartsRateWindow(change) ? now : this.flows.get(k)?.rateResetMs };
    this.flows.set(k, settings);
    await this.changes.around(flowEntry(userId, key), () => this.deps.committer.run([{ op: "putFlowSettings", userId, key, settings }]));
    dispatcher.wake(lane);
  }

  // ---- queues -----------------------------------------------------------------------------------

  hasQueue(userId: string, name: string): boolean {
    return this.queues.has(id(userId, name));
  }

  async queueInfo(userId: string, name: string): Promise<QueueInfo> {
    // Not known here: maybe created on another node since the last reload.
    if (!this.hasQueue(userId, name)) await this.reload();
    const q = this.queues.get(id(userId, name));
    if (!q) throw notFound(`queue "${name}" not found`);
    return {
      name,
      createdAt: q.createdAtMs,
      updatedAt: q.updatedAtMs,
      parallelism: q.parallelism,
      lag: await this.deps.store.countQueueLag(userId, name),
      paused: q.paused,
    };
  }

  async listQueues(userId: string): Promise<QueueInfo[]> {
    if (!this.loaded) await this.reload();
    const names = [...this.queues.keys()].filter((k) => k.startsWith(`${userId}\u0000`)).map((k) => k.split("\u0000")[1]);
    return Promise.all(names.sort().map((n) => this.queueInfo(userId, n)));
  }

  /**
   * Creates or updates a queue; a change of parallelism or a resume takes effect at once. With an empty patch (an
   * enqueue to a queue not known here) it only makes sure the queue exists, and changes nothing that is stored.
   */
  async upsertQueue(userId: string, name: string, patch: { parallelism?: number; paused?: boolean }): Promise<void> {
    const fields = QUEUE_FIELDS.filter((f) => patch[f] !== undefined);
    if (fields.length === 0) return this.ensureQueue(userId, name);
    // A patch of one field keeps the other as stored, and another node may have created or changed the queue since
    // the last reload: memory (and a queue this write creates) starts from a fresh read. The write itself sets only
    // the patched field, so a change of the other made elsewhere after that read still holds. A patch of every
    // field reads nothing.
    if (fields.length < QUEUE_FIELDS.length) await this.reload();
    const q = this.queueFor(userId, name);
    if (patch.parallelism !== undefined) q.parallelism = patch.parallelism;
    if (patch.paused !== undefined) q.paused = patch.paused;
    q.updatedAtMs = this.deps.clock.now();
    await this.changes.around(queueEntry(userId, name), () => this.deps.committer.run([{ op: "putQueue", queue: { userId, name, ...q }, fields }]));
    this.storedQueues.add(id(userId, name));
    this.steerQueueLane(userId, name, q);
  }

  /**
   * Stores a queue with the default settings unless it is stored already. Only if absent, in the store: another
   * node may be creating it with settings of its own at this moment, which the defaults must never overwrite.
   * When it was there, its stored settings are read.
   */
  private async ensureQueue(userId: string, name: string): Promise<void> {
    const k = id(userId, name);
    if (this.storedQueues.has(k)) return;
    const q = this.queueFor(userId, name);
    const defaults: StoredQueue = { userId, name, ...q, updatedAtMs: this.deps.clock.now() };
    const [created] = await this.changes.around(queueEntry(userId, name), () => this.deps.committer.run([{ op: "putQueue", queue: defaults, fields: [] }]));
    if (!created.applied) return this.reload();
    q.updatedAtMs = defaults.updatedAtMs;
    this.storedQueues.add(k);
  }

  /** Deletes a queue; its unfinished messages are cancelled. */
  async deleteQueue(userId: string, name: string): Promise<void> {
    await this.reload();
    if (!this.hasQueue(userId, name)) throw notFound(`queue "${name}" not found`);
    const ids = await this.deps.store.findUnfinished(userId, { queueName: [name] });
    if (ids.length) await this.deps.cancel(userId, ids);
    const k = id(userId, name);
    this.queues.delete(k);
    this.storedQueues.delete(k);
    this.deps.dispatcher().dropQueueLane(userId, name);
    await this.changes.around(queueEntry(userId, name), () => this.deps.committer.run([{ op: "deleteQueue", userId, name }]));
  }

  /** A queue's lane (if it has one) follows its settings, changed here or on another node. */
  private steerQueueLane(userId: string, name: string, q: QueueSettings): void {
    const dispatcher = this.deps.dispatcher();
    const lane = dispatcher.findQueueLane(userId, name);
    if (lane) {
      lane.settings = q;
      dispatcher.wake(lane);
    }
  }

  /**
   * A queue another node deleted. That node cancelled the queue's messages in the store, but a lane here may still
   * hold their records, and slots of attempts in flight here. Dropping the lane, as a local delete does once it has
   * cancelled them here, would strand those records; instead the lane is resumed, so they drain through the fenced
   * start (which starts none of them) and the slots free as the attempts end. An empty lane is dropped.
   */
  private queueDeletedElsewhere(userId: string, name: string): void {
    const k = id(userId, name);
    this.queues.delete(k);
    this.storedQueues.delete(k);
    const dispatcher = this.deps.dispatcher();
    const lane = dispatcher.findQueueLane(userId, name);
    if (!lane) return;
    if (lane.size === 0 && lane.holders.size === 0) return dispatcher.dropQueueLane(userId, name);
    lane.settings = { ...lane.settings, paused: false };
    dispatcher.wake(lane);
  }

  // ---- following the store ----------------------------------------------------------------------

  private readStore(): Promise<void> {
    const { store } = this.deps;
    return this.changes.follow(
      () => Promise.all([store.listQueues(), store.listFlowSettings()]),
      ([queues, flows], changed) => this.follow(queues, flows, changed),
    );
  }

  /** Makes memory match the store for one queue (news of a change made elsewhere). */
  private readQueue(userId: string, name: string): Promise<void> {
    return this.changes.follow(
      () => this.deps.store.getQueue(userId, name),
      (queue, changed) => this.afterRead(this.followQueues(queue ? [queue] : [], changed, [id(userId, name)])),
    );
  }

  private follow(queues: StoredQueue[], flows: { userId: string; key: string; settings: FlowSettings }[], changed: ReadonlySet<string>): void {
    const disagree = [...this.followQueues(queues, changed), ...this.followFlows(flows, changed)];
    this.loaded = true;
    this.afterRead(disagree);
  }

  /** Entries a read found otherwise than this node is writing them: read again once those writes are done. */
  private afterRead(disagree: string[]): void {
    // A failed read is not reported here: the periodic reload that backs up the change notices tries again.
    if (disagree.length) this.changes.whenSettled(disagree, () => void this.reload().catch(() => undefined));
  }

  /**
   * Applies a read of queues; returns the entries it disagrees on. `covered`: for a read of some queues only, those
   * it covers (one stored before and missing from `queues` was deleted); without it, the read was of every queue.
   */
  private followQueues(queues: StoredQueue[], changed: ReadonlySet<string>, covered?: string[]): string[] {
    const disagree: string[] = [];
    const seen = new Set<string>();
    for (const { userId, name, ...stored } of queues) {
      const k = id(userId, name);
      seen.add(k);
      const known = this.queues.get(k);
      if (changed.has(queueEntry(userId, name))) {
        if (!known || !sameQueue(known, stored)) disagree.push(queueEntry(userId, name));
        continue;
      }
      this.storedQueues.add(k);
      if (known && sameQueue(known, stored)) continue;
      // Changed in place: the queue's lane shares this object.
      const q = Object.assign(this.queueFor(userId, name), stored);
      this.steerQueueLane(userId, name, q);
    }
    for (const k of covered ?? [...this.storedQueues]) {
      if (seen.has(k) || !this.storedQueues.has(k)) continue;
      const [userId, name] = k.split("\u0000");
      if (changed.has(queueEntry(userId, name))) disagree.push(queueEntry(userId, name));
      else this.queueDeletedElsewhere(userId, name);
    }
    return disagree;
  }

  /** Applies a read of every key's flow-control settings; returns the entries it disagrees on. */
  private followFlows(flows: { userId: string; key: string; settings: FlowSettings }[], changed: ReadonlySet<string>): string[] {
    const disagree: string[] = [];
    for (const { userId, key, settings: stored } of flows) {
      const k = id(userId, key);
      const known = this.flows.get(k);
      if (known && sameValue(known, stored)) continue;
      if (changed.has(flowEntry(userId, key))) {
        disagree.push(flowEntry(userId, key));
        continue;
      }
      this.flows.set(k, stored);
      const dispatcher = this.deps.dispatcher();
      // A key without a lane gets these settings when its lane is created.
      const lane = dispatcher.findKeyLane(userId, key);
      if (!lane) continue;
      followStoredFlow(lane.limiter, known, stored);
      dispatcher.wake(lane);
    }
    return disagree;
  }
}

function sameQueue(a: QueueSettings, b: QueueSettings): boolean {
  return a.parallelism === b.parallelism && a.paused === b.paused && a.createdAtMs === b.createdAtMs && a.updatedAtMs === b.updatedAtMs;
}

/** Equal as stored (JSON): a field set to undefined is the same as a missing one. */
function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The settings a limiter takes from the store; `rateResetMs` is not one of them (it restarts the window instead). */
const LIMITER_FIELDS = ["paused", "pinnedParallelism", "pinnedRate", "heldParallelism", "heldRate", "heldSinceMs"] as const;

/**
 * Applies to a limiter what another node changed in its key's settings (`known` → `stored`), as the change made
 * here would have: only the fields that changed are taken, so values this limiter has moved on from by itself (a
 * held value ended by a newer message) are not brought back by an unrelated change, and a rate reset restarts the
 * window where that node restarted it.
 */
function followStoredFlow(limiter: FlowLimiter, known: FlowSettings | undefined, stored: FlowSettings): void {
  const next: FlowSettings = limiter.settings();
  for (const field of LIMITER_FIELDS) {
    if (!sameValue(known?.[field], stored[field])) Object.assign(next, { [field]: stored[field] });
  }
  limiter.restoreSettings(next);
  if (stored.rateResetMs !== undefined && stored.rateResetMs !== known?.rateResetMs) limiter.resetRate(stored.rateResetMs);
}

/** Changes that start a fresh rate window (`applyFlowChange` calls `resetRate` for them). */
function restartsRateWindow(change: FlowChange): boolean {
  return change.kind === "pin" || change.kind === "resetRate" || change.kind === "reset";
}

function applyFlowChange(limiter: FlowLimiter, change: FlowChange, nowMs: number): void {
  switch (change.kind) {
    case "pause":
      limiter.paused = true;
      return;
    case "resume":
      limiter.paused = false;
      return;
    case "pin":
      limiter.pin({ parallelism: change.parallelism, rate: change.rate, periodSec: change.periodSec }, nowMs);
      return;
    case "unpin":
      limiter.unpin({ parallelism: change.parallelism, rate: change.rate }, nowMs);
      return;
    case "resetRate":
      limiter.resetRate(nowMs);
      return;
    case "reset":
      limiter.unpin({ parallelism: true, rate: true });
      limiter.clearHeld();
      limiter.paused = false;
      limiter.resetRate(nowMs);
      return;
    default:
      throw new Error(`unhandled flow change ${JSON.stringify(change satisfies never)}`);
  }
}
