import { isDeepStrictEqual } from "node:util";
import { badRequest, coerceError, notFound } from "../errors.js";
import { parseCron, latestTick, type CronSpec } from "../protocol/cron.js";
import type { Destination } from "../protocol/destination.js";
import { parsePublishHeaders, type PublishConfig } from "../protocol/publish-headers.js";
import type { SettingEntry } from "../store/cluster.js";
import type { OpResult, Store, StoredSchedule, WriteOp } from "../store/store.js";
import type { Config } from "../config.js";
import { assertMessageCount, buildMessages, targetsOf, type NewMessage } from "./build-message.js";
import type { Clock } from "./clock.js";
import { CoalescedReload } from "./coalesced-reload.js";
import type { EngineEvents } from "./events.js";
import type { UrlGroups } from "./url-groups.js";
import { newId } from "./ids.js";
import { LocalChanges } from "./local-changes.js";
import { TimerQueue } from "./timer-queue.js";

export interface Schedule extends StoredSchedule {
  spec: CronSpec;
  /** The parsed publish headers, parsed once: every tick uses them. */
  config: PublishConfig;
}

/** A create-or-replace request, as the route received it. */
export interface ScheduleInput {
  userId: string;
  id?: string;
  cron: string;
  destination: Destination;
  headers: Record<string, string>;
  body: Buffer;
  callerIp: string;
}

/**
 * Headers a schedule does not pass on to the messages it produces. `Upstash-Deduplication-Id` is kept with the
 * schedule (so a create repeated after a restart is still recognised) but never reaches a tick: see `tickConfig`.
 */
const SCHEDULE_ONLY = new Set([
  "upstash-cron",
  "upstash-schedule-id",
  "upstash-not-before",
  "upstash-content-based-deduplication",
  "authorization",
  "host",
  "content-length",
  "connection",
  "transfer-encoding",
]);

/** What the scheduler uses of the engine. */
export interface SchedulerDeps {
  store: Store;
  /**
   * No other process writes this store's schedules (a SQLite data folder, which its lock keeps to one process):
   * after the first load, memory holds what the store holds, so a change reads nothing first. (In a cluster it reads
   * the schedule it changes, and for a deduplicated create the user's schedules of the dedup window.)
   */
  ownsStore: boolean;
  config: Pick<Config, "limits" | "defaultRetries">;
  clock: Clock;
  urlGroups: Pick<UrlGroups, "require">;
  commit(ops: WriteOp[]): Promise<OpResult[]>;
  /** One tick: inserts its messages and moves the schedule on, only if it still expects this tick in this revision. */
  fireSchedule(
    userId: string, id: string, expectNextMs: number, expectRevision: string, nextMs: number | null, firedMs: number, items: NewMessage[],
  ): Promise<boolean>;
  /** Reports an error (the engine's `error` event). */
  onError(err: unknown): void;
  /** Reports a tick that fired late (the engine's `scheduleLate` event). */
  onLate(...args: EngineEvents["scheduleLate"]): void;
  /** Keeps a background task in view of the engine's stop. */
  track(p: Promise<unknown>): void;
}

/**
 * Cron schedules (SPEC §2.4). Each schedule's next tick is in the store; a timer heap fires them. A tick is
 * one transaction that moves the schedule to its next tick *and* inserts the tick's messages, fenced on the
 * tick it expected, so a tick fires exactly once: never twice after a restart, never twice when the schedule is
 * replaced at the same moment, never twice when two nodes fire it. A tick that comes late because the process is
 * busy still fires (every tick, in order); ticks missed while no node was firing are collapsed into one, for the
 * most recent of them.
 *
 * The schedules are cached in memory on every node; only a started scheduler (the node that fires) has timers.
 * `reload` follows what other nodes changed, and in a cluster a change made here starts from a fresh read of what it
 * changes.
 */
export class Scheduler {
  private readonly schedules = new Map<string, Schedule>();
  /** Only between `start` and `stop`: a scheduler that is not started fires nothing. */
  private timers: TimerQueue | undefined;
  /** Set by `start`: the next reload arms every schedule, not only those it finds changed. */
  private armAll = false;
  private loaded = false;
  private readonly changes = new LocalChanges();
  private readonly reloads: CoalescedReload;

  constructor(private readonly deps: SchedulerDeps) {
    this.reloads = new CoalescedReload(() => this.readStore(), deps.ownsStore);
  }

  /**
   * Starts firing, from the schedules as the store has them now (also after serving without firing for a while);
   * those that missed ticks while no node fired them fire once now, for the most recent missed tick.
   */
  async start(): Promise<void> {
    this.timers?.stop();
    this.timers = new TimerQueue(
      () => this.deps.clock.now(),
      (keys) => {
        for (const key of keys) this.deps.track(this.fire(key));
      },
    );
    this.armAll = true;
    await this.reload();
  }

  stop(): void {
    this.timers?.stop();
    this.timers = undefined;
  }

  /**
   * Makes memory match the store: schedules created, replaced, paused, resumed or deleted by another node are
   * listed as they are now and, when started, their timers follow (a created or resumed one is armed for its next
   * tick, a paused or deleted one is disarmed; one whose tick already passed fires once, as after downtime).
   * Resolves once a read that began after the call has been applied, including the ticks it fired; overlapping
   * calls share one read, and a schedule this node is writing or firing meanwhile is left as it is here. Safe at
   * any moment, started or not; the first call is the first load, and `get` and `list` refuse to answer before it.
   */
  reload(): Promise<void> {
    return this.reloads.request();
  }

  /**
   * `reload` for some schedules only: those another node's commit changed, read one by one (with thousands of
   * schedules, reading every one for each change made elsewhere kept the leader reading). Before the first load,
   * a whole reload.
   */
  reloadEntries(entries: SettingEntry[]): Promise<void> {
    return this.reloads.entriesChanged(entries, (userId, id) => this.readOne(userId, id));
  }

  get(userId: string, id: string): Schedule {
    this.assertLoaded();
    const s = this.schedules.get(key(userId, id));
    if (!s) throw notFound(`schedule ${id} not found`);
    return s;
  }

  list(userId: string): Schedule[] {
    this.assertLoaded();
    return [...this.schedules.values()].filter((s) => s.userId === userId).sort((a, b) => a.createdAtMs - b.createdAtMs);
  }

  /**
   * Checks everything a tick will need (400/404 otherwise), so a schedule that was accepted can always fire.
   * The route calls it before it creates the schedule's queue, so a rejected schedule leaves nothing behind.
   */
  validate(input: ScheduleInput): { spec: CronSpec; headers: Record<string, string>; config: PublishConfig } {
    const spec = parseCron(input.cron);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(input.headers)) if (!SCHEDULE_ONLY.has(k) && !k.startsWith("upstash-telemetry-")) headers[k] = v;
    const config = tickConfig(headers, this.deps.config.limits);
    const targets = targetsOf(this.deps, input.userId, input.destination);
    assertMessageCount(targets.length, this.deps.config.limits.maxMessagesPerRequest, "each tick of this schedule");
    return { spec, headers, config };
  }

  /**
   * Creates a schedule, or replaces the one with the same id in place (keeping its creation time). Deduplication
   * applies to the create, as a publish's does to the message: within the dedup window, a create with the
   * `Upstash-Deduplication-Id` of an earlier one, or with `Upstash-Content-Based-Deduplication: true` and the same
   * destination, cron, headers and body, creates nothing and answers with the earlier schedule.
   */
  async upsert(input: ScheduleInput): Promise<{ schedule: Schedule; deduplicated: boolean }> {
    const { spec, headers, config } = this.validate(input);
    // Deduplication and a replacement (which keeps the creation time and the pause) read what the store has now:
    // the schedule being replaced, and the user's schedules the deduplication compares with.
    await this.reloads.beforeChange(async () => {
      await Promise.all([
        input.id !== undefined ? this.readOne(input.userId, input.id) : undefined,
        asksDedup(input, headers) ? this.readRecent(input.userId, this.dedupWindowStart(this.deps.clock.now())) : undefined,
      ]);
    });
    const now = this.deps.clock.now();
    const earlier = this.duplicateOf(input, spec.source, headers, now);
    if (earlier) return { schedule: earlier, deduplicated: true };
    const id = input.id ?? newId("scd_", now);
    const old = this.schedules.get(key(input.userId, id));
    const s: Schedule = {
      id,
      userId: input.userId,
      cron: spec.source,
      spec,
      config,
      destination: input.destination.kind === "url" ? input.destination.url : input.destination.name,
      headers,
      body: input.body,
      callerIp: input.callerIp,
      paused: old?.paused ?? false,
      createdAtMs: old?.createdAtMs ?? now,
      revision: newRevision(now),
      nextMs: spec.next(now),
      lastMs: old?.lastMs ?? null,
      lastMessageIds: old?.lastMessageIds ?? [],
    };
    await this.save(s);
    return { schedule: s, deduplicated: false };
  }

  private duplicateOf(input: ScheduleInput, cron: string, headers: Record<string, string>, nowMs: number): Schedule | undefined {
    if (!asksDedup(input, headers)) return undefined;
    const dedupId = headers["upstash-deduplication-id"];
    const since = this.dedupWindowStart(nowMs);
    const destination = input.destination.kind === "url" ? input.destination.url : input.destination.name;
    const content = contentOf(destination, cron, headers, input.body);
    return this.list(input.userId).find(
      (s) =>
        s.createdAtMs >= since &&
        (dedupId !== undefined
          ? s.headers["upstash-deduplication-id"] === dedupId
          : contentOf(s.destination, s.cron, s.headers, s.body) === content),
    );
  }

  /** The earliest creation time a create made at `nowMs` is deduplicated against. */
  private dedupWindowStart(nowMs: number): number {
    return nowMs - this.deps.config.limits.dedupWindowMs;
  }

  async delete(userId: string, id: string): Promise<void> {
    await this.reloads.beforeChange(() => this.readOne(userId, id));
    this.get(userId, id);
    const k = key(userId, id);
    this.schedules.delete(k);
    this.timers?.remove(k);
    await this.changes.around(k, () => this.deps.commit([{ op: "deleteSchedule", userId, id }]));
  }

  async setPaused(userId: string, id: string, paused: boolean): Promise<void> {
    await this.reloads.beforeChange(() => this.readOne(userId, id));
    const s = this.get(userId, id);
    if (s.paused === paused) return;
    // Resuming starts from now: ticks that passed while paused are not made up.
    const now = this.deps.clock.now();
    await this.save({ ...s, paused, revision: newRevision(now), nextMs: paused ? s.nextMs : s.spec.next(now) });
  }

  private async save(s: Schedule): Promise<void> {
    const k = key(s.userId, s.id);
    this.schedules.set(k, s);
    this.timers?.remove(k);
    await this.changes.around(k, () => this.deps.commit([{ op: "putSchedule", schedule: storedPart(s) }]));
    if (!s.paused && s.nextMs !== null && this.schedules.get(k) === s) this.timers?.push(k, s.nextMs);
  }

  /** Fires the schedule's expected tick (or, after downtime, `firedMs`, the latest missed one) and arms the next. */
  private async fire(k: string, firedMs?: number): Promise<void> {
    const s = this.schedules.get(k);
    if (!s || s.paused || s.nextMs === null) return;
    const expect = s.nextMs;
    const now = this.deps.clock.now();
    // While running, every tick fires in turn. After downtime, or when this process fell far behind (a frozen VM, a
    // suspended laptop), only the latest missed tick fires, then the cron resumes from now.
    const collapse = firedMs !== undefined || now - expect > LATE_TICK_CAP_MS;
    const tick = firedMs ?? (collapse ? (latestTick(s.spec, now) ?? expect) : expect);
    const next = collapse ? s.spec.next(Math.max(now, tick)) : s.spec.next(tick);
    const items = this.messagesFor(s, now);
    let applied: boolean;
    // Marked as a change in flight: a reload that reads the store meanwhile must not put the old tick back.
    const end = this.changes.begin(k);
    try {
      applied = await this.deps.fireSchedule(s.userId, s.id, expect, s.revision, next, tick, items);
    } catch (err) {
      end();
      // Nothing was stored (a full disk, a lost store): the same tick is tried again shortly, so the schedule
      // keeps firing once the store takes writes again; a tick late by over a minute collapses as after downtime.
      this.deps.onError(err);
      if (this.schedules.get(k) === s) this.timers?.push(k, now + TICK_RETRY_MS);
      return;
    }
    if (this.schedules.get(k) !== s) return end(); // replaced or deleted here meanwhile: that change armed it
    if (!applied) {
      // The store no longer expects this tick: fired, paused, replaced or deleted on another node. Follow it.
      end();
      this.deps.track(this.reload());
      return;
    }
    if (now - expect >= LATE_TICK_REPORT_MS) this.deps.onLate(s.userId, s.id, now - expect);
    const fired: Schedule = { ...s, nextMs: next, lastMs: tick, lastMessageIds: items.map((i) => i.record.id) };
    this.schedules.set(k, fired);
    end();
    if (next !== null) this.timers?.push(k, next);
  }

  private readStore(): Promise<void> {
    return this.changes.follow(() => this.deps.store.listSchedules(), (stored, changed) => this.follow(stored, changed));
  }

  /** Makes memory match the store for one schedule (what a change in a cluster reads first, and news of one made elsewhere). */
  private readOne(userId: string, id: string): Promise<void> {
    return this.changes.follow(
      () => this.deps.store.getSchedule(userId, id),
      (row, changed) => this.follow(row ? [row] : [], changed, [key(userId, id)]),
    );
  }

  /** ...for the user's schedules created since `sinceMs`: those a create's deduplication compares with. */
  private readRecent(userId: string, sinceMs: number): Promise<void> {
    return this.changes.follow(
      () => this.deps.store.listRecentSchedules(userId, sinceMs),
      (rows, changed) => {
        const covered = [...this.schedules].filter(([, s]) => s.userId === userId && s.createdAtMs >= sinceMs).map(([k]) => k);
        return this.follow(rows, changed, covered);
      },
    );
  }

  /**
   * Applies a read (at once: see `LocalChanges.follow`); resolves once the catch-up ticks it fired are done.
   * `covered`: for a read of some schedules only, those of memory it covers (one missing from `stored` was deleted);
   * without it, the read was of every schedule.
   */
  private follow(stored: StoredSchedule[], changed: ReadonlySet<string>, covered?: string[]): Promise<void> {
    const armAll = covered === undefined && this.armAll;
    if (covered === undefined) this.armAll = false;
    const now = this.deps.clock.now();
    const seen = new Set<string>();
    const disagree: string[] = [];
    const follow = new Set<string>();
    for (const row of stored) {
      const k = key(row.userId, row.id);
      seen.add(k);
      const known = this.schedules.get(k);
      const same = known !== undefined && isDeepStrictEqual(storedPart(known), row);
      if (changed.has(k)) {
        if (!same) disagree.push(k);
        continue;
      }
      if (same) continue;
      let s: Schedule;
      try {
        s = { ...row, spec: parseCron(row.cron), config: tickConfig(row.headers, this.deps.config.limits) };
      } catch (err) {
        // Every schedule was validated when it was created; one that no longer parses (limits lowered since) is
        // reported and left out, as a tick with nothing to send would be.
        this.deps.onError(new Error(`schedule ${row.id} can not be loaded: ${coerceError(err).message}`));
        continue;
      }
      this.schedules.set(k, s);
      follow.add(k);
    }
    for (const k of covered ?? [...this.schedules.keys()]) {
      if (seen.has(k) || !this.schedules.has(k)) continue;
      if (changed.has(k)) {
        disagree.push(k);
        continue;
      }
      this.schedules.delete(k); // deleted by another node
      this.timers?.remove(k);
    }
    if (covered === undefined) this.loaded = true;
    // A failed read is not reported here: the periodic reload that backs up the change notices tries again.
    if (disagree.length) this.changes.whenSettled(disagree, () => void this.reload().catch(() => undefined));
    if (!this.timers) return Promise.resolve();
    // Started together, the catch-up ticks share one group commit instead of one transaction each.
    const catchUps: Promise<void>[] = [];
    for (const k of armAll ? this.schedules.keys() : follow) {
      // A schedule this node is saving or firing arms itself once that write is done.
      if (changed.has(k)) continue;
      const s = this.schedules.get(k)!;
      this.timers.remove(k);
      if (s.paused || s.nextMs === null) continue;
      if (s.nextMs <= now) catchUps.push(this.fire(k, latestTick(s.spec, now) ?? s.nextMs));
      else this.timers.push(k, s.nextMs);
    }
    return Promise.all(catchUps).then(() => undefined);
  }

  private assertLoaded(): void {
    // A read before the first load would answer "not found" for every schedule the store has.
    if (!this.loaded) throw new Error("schedules read before their first load: call reload() first");
  }

  /**
   * The tick's messages. None when its URL group has been deleted since, or has grown past
   * `maxMessagesPerRequest` (the limit lowered since): the tick still counts as fired, and the error is logged.
   */
  private messagesFor(s: Schedule, nowMs: number): NewMessage[] {
    try {
      const cfg = s.config;
      const destination: Destination = /^https?:\/\//i.test(s.destination) ? { kind: "url", url: s.destination } : { kind: "group", name: s.destination };
      const queueName = s.headers["upstash-queue-name"];
      const origin = { userId: s.userId, callerIp: s.callerIp, nowMs };
      const targets = targetsOf(this.deps, s.userId, destination, queueName, s.id);
      assertMessageCount(targets.length, this.deps.config.limits.maxMessagesPerRequest, `a tick of schedule ${s.id}`);
      return buildMessages(cfg, targets, s.body, origin, this.deps.config.defaultRetries);
    } catch (err) {
      this.deps.onError(new Error(`schedule ${s.id} fired without messages: ${coerceError(err).message}`));
      return [];
    }
  }
}

const key = (userId: string, id: string): string => `${userId}\u0000${id}`;

/** A schedule as the store keeps it (without what is parsed from it). */
function storedPart(s: Schedule): StoredSchedule {
  const { spec: _spec, config: _config, ...stored } = s;
  return stored;
}

/** A tick's publish config: the schedule's own deduplication was spent on its create, and would drop every tick. */
function tickConfig(headers: Record<string, string>, limits: Config["limits"]): PublishConfig {
  return { ...parsePublishHeaders(headers, limits), dedupId: undefined, contentBasedDedup: false };
}

/** Whether a create asks for deduplication: by its id, or by its content. */
function asksDedup(input: ScheduleInput, headers: Record<string, string>): boolean {
  const byContent = input.headers["upstash-content-based-deduplication"]?.toLowerCase() === "true";
  return headers["upstash-deduplication-id"] !== undefined || byContent;
}

/** What content-based deduplication compares: everything the schedule would send, and when. */
function contentOf(destination: string, cron: string, headers: Record<string, string>, body: Buffer): string {
  const sorted = Object.entries(headers).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([destination, cron, sorted, body.toString("base64")]);
}

/**
 * A new revision for a schedule being written (StoredSchedule.revision): ids are unique across nodes, so a tick
 * built from one version never matches another, even one written in the same millisecond elsewhere.
 */
function newRevision(nowMs: number): string {
  return newId("rev_", nowMs);
}

/** How soon a tick whose commit failed is tried again. */
const TICK_RETRY_MS = 1_000;

/** A tick this late is reported (a second is past any timer jitter; a busy or stopped process is behind). */
const LATE_TICK_REPORT_MS = 1_000;

/** A tick this late is treated like one missed during downtime: the missed ticks collapse into the latest. */
const LATE_TICK_CAP_MS = 60_000;

/** Validates a user-chosen schedule id. */
export function validateScheduleId(id: string): string {
  if (!/^[A-Za-z0-9\-_.]{1,200}$/.test(id)) throw badRequest(`invalid Upstash-Schedule-Id "${id}": use letters, digits, '-', '_' and '.'`);
  return id;
}
