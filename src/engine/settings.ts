import type { Config } from "../config.js";
import { notFound } from "../errors.js";
import type { FlowSettings } from "../model/flow-settings.js";
import { validateName } from "../protocol/names.js";
import type { Store } from "../store/store.js";
import type { Clock } from "./clock.js";
import type { Committer } from "./committer.js";
import type { Dispatcher } from "./dispatcher.js";
import type { FlowInfo, FlowLimiter } from "./flow-limiter.js";
import type { QueueSettings } from "./lanes.js";

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
  store: Pick<Store, "listQueues" | "listFlowSettings" | "listFlowWindows" | "countWaiting" | "countQueueLag" | "findUnfinished">;
  committer: Pick<Committer, "run">;
  clock: Clock;
  config: Pick<Config, "maxWaiting">;
  /** The dispatcher whose lanes the settings steer (read when steering, after the engine has built it). */
  dispatcher(): Pick<Dispatcher, "keyLane" | "findKeyLane" | "keyLanes" | "findQueueLane" | "dropQueueLane" | "wake" | "waitingCount">;
  /** Cancels a user's unfinished messages (a deleted queue's). */
  cancel(userId: string, ids: string[]): Promise<number>;
}

const id = (userId: string, name: string): string => `${userId}\u0000${name}`;

/**
 * Queue and flow-control settings (SPEC §2.3, §2.9): kept in memory for the dispatcher, loaded at start and
 * written through to the store; every change is persisted, then the lane it concerns looks at it again.
 */
export class Settings {
  /** Queue settings by `user\0name`. */
  private readonly queues = new Map<string, QueueSettings>();
  /** Flow-control settings (pause, pins) by `user\0key`, for keys that have any. */
  private readonly flows = new Map<string, FlowSettings>();
  /** Rate windows saved before the last stop, until their key's lane is created again. */
  private readonly savedWindows = new Map<string, { startMs: number; count: number }>();

  constructor(private readonly deps: SettingsDeps) {}

  /** Loads the settings and the rate windows saved at the last stop. */
  async load(): Promise<void> {
    const { store } = this.deps;
    for (const q of await store.listQueues()) {
      const { userId, name, ...settings } = q;
      this.queues.set(id(userId, name), settings);
    }
    for (const f of await store.listFlowSettings()) this.flows.set(id(f.userId, f.key), f.settings);
    const now = this.deps.clock.now();
    for (const w of await store.listFlowWindows()) {
      // Periods are at most a week; an older window limits nothing.
      if (w.count > 0 && w.startMs > now - 7 * 86_400_000) this.savedWindows.set(id(w.userId, w.key), { startMs: w.startMs, count: w.count });
    }
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
    // A key the user has used (or set by hand); 404 otherwise.
    if (!dispatcher.findKeyLane(userId, key) && !this.flows.has(id(userId, key))) throw notFound(`flow-control key "${key}" not found`);
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
    const dispatcher = this.deps.dispatcher();
    const lane = dispatcher.keyLane(userId, key, false);
    applyFlowChange(lane.limiter, change, this.deps.clock.now());
    const settings = lane.limiter.settings();
    this.flows.set(id(userId, key), settings);
    await this.deps.committer.run([{ op: "putFlowSettings", userId, key, settings }]);
    dispatcher.wake(lane);
  }

  // ---- queues -----------------------------------------------------------------------------------

  hasQueue(userId: string, name: string): boolean {
    return this.queues.has(id(userId, name));
  }

  async queueInfo(userId: string, name: string): Promise<QueueInfo> {
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
    const names = [...this.queues.keys()].filter((k) => k.startsWith(`${userId}\u0000`)).map((k) => k.split("\u0000")[1]);
    return Promise.all(names.sort().map((n) => this.queueInfo(userId, n)));
  }

  /** Creates or updates a queue; a change of parallelism or a resume takes effect at once. */
  async upsertQueue(userId: string, name: string, patch: { parallelism?: number; paused?: boolean }): Promise<void> {
    const q = this.queueFor(userId, name);
    if (patch.parallelism !== undefined) q.parallelism = patch.parallelism;
    if (patch.paused !== undefined) q.paused = patch.paused;
    q.updatedAtMs = this.deps.clock.now();
    await this.deps.committer.run([{ op: "putQueue", queue: { userId, name, ...q } }]);
    const dispatcher = this.deps.dispatcher();
    const lane = dispatcher.findQueueLane(userId, name);
    if (lane) {
      lane.settings = q;
      dispatcher.wake(lane);
    }
  }

  /** Deletes a queue; its unfinished messages are cancelled. */
  async deleteQueue(userId: string, name: string): Promise<void> {
    if (!this.hasQueue(userId, name)) throw notFound(`queue "${name}" not found`);
    const ids = await this.deps.store.findUnfinished(userId, { queueName: [name] });
    if (ids.length) await this.deps.cancel(userId, ids);
    this.queues.delete(id(userId, name));
    this.deps.dispatcher().dropQueueLane(userId, name);
    await this.deps.committer.run([{ op: "deleteQueue", userId, name }]);
  }
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
