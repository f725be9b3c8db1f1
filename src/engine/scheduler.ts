import { badRequest, coerceError, notFound } from "../errors.js";
import { parseCron, latestTick, type CronSpec } from "../protocol/cron.js";
import type { Destination } from "../protocol/destination.js";
import { parsePublishHeaders, type PublishConfig } from "../protocol/publish-headers.js";
import type { StoredSchedule } from "../store/store.js";
import { assertMessageCount, buildMessages, targetsOf, type NewMessage } from "./build-message.js";
import type { Engine } from "./engine.js";
import { newId } from "./ids.js";
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

/**
 * Cron schedules (SPEC §2.4). Each schedule's next tick is in the store; a timer heap fires them. A tick is
 * one transaction that moves the schedule to its next tick *and* inserts the tick's messages, fenced on the
 * tick it expected, so a tick fires exactly once: never twice after a restart, never twice when the schedule is
 * replaced at the same moment. A tick that comes late because the process is busy still fires (every tick, in
 * order); ticks missed while the server was down are collapsed into one, for the most recent of them.
 */
export class Scheduler {
  private readonly schedules = new Map<string, Schedule>();
  private readonly timers: TimerQueue;

  constructor(private readonly engine: Engine) {
    this.timers = new TimerQueue(
      () => engine.clock.now(),
      (keys) => {
        for (const key of keys) engine.track(this.fire(key));
      },
    );
  }

  /** Loads schedules; those that missed ticks while the server was down fire once now. */
  async start(): Promise<void> {
    const now = this.engine.clock.now();
    const catchUps: Promise<void>[] = [];
    for (const stored of await this.engine.store.listSchedules()) {
      const s = { ...stored, spec: parseCron(stored.cron), config: tickConfig(stored.headers, this.engine.config.limits) };
      this.schedules.set(key(s.userId, s.id), s);
      if (s.paused || s.nextMs === null) continue;
      // Started together, the catch-up ticks share one group commit instead of one transaction each.
      if (s.nextMs <= now) catchUps.push(this.fire(key(s.userId, s.id), latestTick(s.spec, now) ?? s.nextMs));
      else this.timers.push(key(s.userId, s.id), s.nextMs);
    }
    await Promise.all(catchUps);
  }

  stop(): void {
    this.timers.stop();
  }

  get(userId: string, id: string): Schedule {
    const s = this.schedules.get(key(userId, id));
    if (!s) throw notFound(`schedule ${id} not found`);
    return s;
  }

  list(userId: string): Schedule[] {
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
    const config = tickConfig(headers, this.engine.config.limits);
    const targets = targetsOf(this.engine, input.userId, input.destination);
    assertMessageCount(targets.length, this.engine.config.limits.maxMessagesPerRequest, "each tick of this schedule");
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
    const now = this.engine.clock.now();
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
      nextMs: spec.next(now),
      lastMs: old?.lastMs ?? null,
      lastMessageIds: old?.lastMessageIds ?? [],
    };
    await this.save(s);
    return { schedule: s, deduplicated: false };
  }

  private duplicateOf(input: ScheduleInput, cron: string, headers: Record<string, string>, nowMs: number): Schedule | undefined {
    const dedupId = headers["upstash-deduplication-id"];
    const byContent = input.headers["upstash-content-based-deduplication"]?.toLowerCase() === "true";
    if (dedupId === undefined && !byContent) return undefined;
    const since = nowMs - this.engine.config.limits.dedupWindowMs;
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

  async delete(userId: string, id: string): Promise<void> {
    this.get(userId, id);
    this.schedules.delete(key(userId, id));
    this.timers.remove(key(userId, id));
    await this.engine.committer.run([{ op: "deleteSchedule", userId, id }]);
  }

  async setPaused(userId: string, id: string, paused: boolean): Promise<void> {
    const s = this.get(userId, id);
    if (s.paused === paused) return;
    // Resuming starts from now: ticks that passed while paused are not made up.
    await this.save({ ...s, paused, nextMs: paused ? s.nextMs : s.spec.next(this.engine.clock.now()) });
  }

  private async save(s: Schedule): Promise<void> {
    const { spec: _spec, config: _config, ...stored } = s;
    this.schedules.set(key(s.userId, s.id), s);
    this.timers.remove(key(s.userId, s.id));
    await this.engine.committer.run([{ op: "putSchedule", schedule: stored }]);
    if (!s.paused && s.nextMs !== null && this.schedules.get(key(s.userId, s.id)) === s) this.timers.push(key(s.userId, s.id), s.nextMs);
  }

  /** Fires the schedule's expected tick (or, after downtime, `firedMs`, the latest missed one) and arms the next. */
  private async fire(k: string, firedMs?: number): Promise<void> {
    const s = this.schedules.get(k);
    if (!s || s.paused || s.nextMs === null) return;
    const expect = s.nextMs;
    const now = this.engine.clock.now();
    // While running, every tick fires in turn. After downtime, or when this process fell far behind (a frozen VM, a
    // suspended laptop), only the latest missed tick fires, then the cron resumes from now.
    const collapse = firedMs !== undefined || now - expect > LATE_TICK_CAP_MS;
    const tick = firedMs ?? (collapse ? (latestTick(s.spec, now) ?? expect) : expect);
    const next = collapse ? s.spec.next(Math.max(now, tick)) : s.spec.next(tick);
    const items = this.messagesFor(s, now);
    let applied: boolean;
    try {
      applied = await this.engine.fireSchedule(s.userId, s.id, expect, next, tick, items);
    } catch (err) {
      // Nothing was stored (a full disk, a lost store): the same tick is tried again shortly, so the schedule
      // keeps firing once the store takes writes again; a tick late by over a minute collapses as after downtime.
      this.engine.emit("error", err);
      if (this.schedules.get(k) === s) this.timers.push(k, now + TICK_RETRY_MS);
      return;
    }
    if (!applied || this.schedules.get(k) !== s) return;
    if (now - expect >= LATE_TICK_REPORT_MS) this.engine.emit("scheduleLate", s.userId, s.id, now - expect);
    const fired: Schedule = { ...s, nextMs: next, lastMs: tick, lastMessageIds: items.map((i) => i.record.id) };
    this.schedules.set(k, fired);
    if (next !== null) this.timers.push(k, next);
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
      const targets = targetsOf(this.engine, s.userId, destination, queueName, s.id);
      assertMessageCount(targets.length, this.engine.config.limits.maxMessagesPerRequest, `a tick of schedule ${s.id}`);
      return buildMessages(cfg, targets, s.body, origin, this.engine.config.defaultRetries);
    } catch (err) {
      this.engine.emit("error", new Error(`schedule ${s.id} fired without messages: ${coerceError(err).message}`));
      return [];
    }
  }
}

const key = (userId: string, id: string): string => `${userId}\u0000${id}`;

/** A tick's publish config: the schedule's own deduplication was spent on its create, and would drop every tick. */
function tickConfig(headers: Record<string, string>, limits: Engine["config"]["limits"]): PublishConfig {
  return { ...parsePublishHeaders(headers, limits), dedupId: undefined, contentBasedDedup: false };
}

/** What content-based deduplication compares: everything the schedule would send, and when. */
function contentOf(destination: string, cron: string, headers: Record<string, string>, body: Buffer): string {
  const sorted = Object.entries(headers).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([destination, cron, sorted, body.toString("base64")]);
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
