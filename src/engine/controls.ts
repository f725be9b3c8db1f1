import { notFound } from "../errors.js";
import { validateName } from "../protocol/names.js";
import type { Engine } from "./engine.js";
import type { FlowInfo } from "./flow-limiter.js";
import type { KeyLane } from "./lanes.js";

/** Run-time steering of flow-control keys and queues (SPEC §2.3, §2.9), on top of the engine's dispatcher. */

const id = (userId: string, name: string): string => `${userId}\u0000${name}`;

/** A key the user has used (or set by hand); 404 otherwise. */
function existingKeyLane(engine: Engine, userId: string, key: string): KeyLane {
  if (!engine.dispatcher.findKeyLane(userId, key) && !engine.flowSettings.has(id(userId, key))) {
    throw notFound(`flow-control key "${key}" not found`);
  }
  return engine.dispatcher.keyLane(userId, key, false);
}

export async function flowInfo(engine: Engine, userId: string, key: string): Promise<FlowInfo> {
  const lane = existingKeyLane(engine, userId, key);
  const now = engine.clock.now();
  let waiting = lane.size;
  // Under a backlog the lanes hold only part of what is due (`maxWaiting`); the store knows the rest.
  if (engine.dispatcher.waitingCount >= engine.config.maxWaiting / 2) {
    waiting = Math.max(waiting, await engine.store.countWaiting(userId, key, now));
  }
  return lane.limiter.info(now, waiting);
}

/** Every key of the user, optionally those whose name contains `search`. */
export async function listFlow(engine: Engine, userId: string, search?: string): Promise<FlowInfo[]> {
  const names = new Set(engine.dispatcher.keyLanes(userId).map((l) => l.name));
  for (const k of engine.flowSettings.keys()) {
    const [u, key] = k.split("\u0000");
    if (u === userId) names.add(key);
  }
  const out: FlowInfo[] = [];
  for (const n of [...names].filter((name) => !search || name.includes(search)).sort()) out.push(await flowInfo(engine, userId, n));
  return out;
}

/**
 * Applies a change to a key's limiter, persists its settings and lets the dispatcher look at it again. A key no
 * message has used yet is steered too (the vendor's pause-in-advance): its settings are kept, and hold the
 * messages published to it later, also after a restart.
 */
export async function steerFlow(engine: Engine, userId: string, key: string, change: (lane: KeyLane, nowMs: number) => void): Promise<void> {
  // The same rule as the publish header, so a key steered in advance is one a message can use.
  validateName(key, "flow-control key");
  const lane = engine.dispatcher.keyLane(userId, key, false);
  change(lane, engine.clock.now());
  await engine.saveFlowSettings(userId, key);
}

export interface QueueInfo {
  name: string;
  createdAt: number;
  updatedAt: number;
  parallelism: number;
  lag: number;
  paused: boolean;
}

export function hasQueue(engine: Engine, userId: string, name: string): boolean {
  return engine.queueSettings.has(id(userId, name));
}

export async function queueInfo(engine: Engine, userId: string, name: string): Promise<QueueInfo> {
  const q = engine.queueSettings.get(id(userId, name));
  if (!q) throw notFound(`queue "${name}" not found`);
  return {
    name,
    createdAt: q.createdAtMs,
    updatedAt: q.updatedAtMs,
    parallelism: q.parallelism,
    lag: await engine.store.countQueueLag(userId, name),
    paused: q.paused,
  };
}

export async function listQueues(engine: Engine, userId: string): Promise<QueueInfo[]> {
  const names = [...engine.queueSettings.keys()].filter((k) => k.startsWith(`${userId}\u0000`)).map((k) => k.split("\u0000")[1]);
  return Promise.all(names.sort().map((n) => queueInfo(engine, userId, n)));
}

/** Creates or updates a queue; a change of parallelism or a resume takes effect at once. */
export async function upsertQueue(engine: Engine, userId: string, name: string, patch: { parallelism?: number; paused?: boolean }): Promise<void> {
  const q = engine.queueSettingsFor(userId, name);
  if (patch.parallelism !== undefined) q.parallelism = patch.parallelism;
  if (patch.paused !== undefined) q.paused = patch.paused;
  q.updatedAtMs = engine.clock.now();
  await engine.committer.run([{ op: "putQueue", queue: { userId, name, ...q } }]);
  const lane = engine.dispatcher.findQueueLane(userId, name);
  if (lane) {
    lane.settings = q;
    engine.dispatcher.wake(lane);
  }
}

/** Deletes a queue; its unfinished messages are cancelled. */
export async function deleteQueue(engine: Engine, userId: string, name: string): Promise<void> {
  if (!hasQueue(engine, userId, name)) throw notFound(`queue "${name}" not found`);
  const ids = await engine.store.findUnfinished(userId, { queueName: [name] });
  if (ids.length) await engine.cancel(userId, ids);
  engine.queueSettings.delete(id(userId, name));
  engine.dispatcher.dropQueueLane(userId, name);
  await engine.committer.run([{ op: "deleteQueue", userId, name }]);
}
