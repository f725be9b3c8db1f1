import { FreeLane, KeyLane, QueueLane, type Lane, type QueueSettings } from "./lanes.js";
import type { FlowSettings } from "../model/flow-settings.js";
import type { MessageRecord } from "../model/message.js";

export interface DispatcherOptions {
  now: () => number;
  /** Attempts in flight across the process. */
  maxInFlight: number;
  /** Attempts in flight per user (global parallelism); 0 means no cap beyond the user's share. */
  userParallelism: number;
  /**
   * Share of `maxInFlight` one user may hold (0 < share ≤ 1). What is left stays free for the other users, so
   * one user's attempts hanging on a slow destination do not make everyone else's messages wait.
   */
  userShare: number;
  /** Starts the given messages (they have been counted against every limit already). */
  start: (batch: MessageRecord[]) => void;
  /** Settings of a queue, created with defaults when first used. */
  queueSettings: (userId: string, name: string) => QueueSettings;
  /** Persisted pause and pins of a key, applied when its lane is (re)created. */
  keySettings: (userId: string, key: string) => FlowSettings | undefined;
  /** A key's rate window saved before the last stop, if any (asked once, when its lane is created). */
  keyWindow?: (userId: string, key: string) => { startMs: number; count: number } | undefined;
  /** Told when a user's waiting messages fall to half the per-user bound again (see `waitingOf`). */
  userHasRoom?: (userId: string) => void;
  /** Due messages one user may hold in the lanes; the bound `userHasRoom` is measured against. */
  userWaitingLimit?: number;
}

/**
 * Decides which due message starts next. Due messages wait in lanes (free, flow-control key, queue); lanes
 * that may release work sit in a ring served round-robin, one message per turn, so a key with a huge backlog
 * cannot starve the others. Work per turn grows with the number of lanes that are ready, not with the number
 * of lanes that exist: a lane leaves the ring when it cannot release and comes back on the event that can
 * change that (an attempt ending, a rate window opening, resume, pin, …).
 */
export class Dispatcher {
  /** One free lane per user, so a user held back by their cap does not hold back another user's messages. */
  private readonly frees = new Map<string, FreeLane>();
  private readonly keys = new Map<string, KeyLane>();
  private readonly queues = new Map<string, QueueLane>();
  private ring: Lane[] = [];
  private ringHead = 0;
  /** Lanes whose head is held back only by its user's cap. */
  private readonly parkedByUser = new Map<string, Lane[]>();
  private readonly userInFlight = new Map<string, number>();
  /** The lane each waiting message is in. */
  private readonly waitingIn = new Map<string, Lane>();
  /** Waiting messages by user, so one user's backlog cannot take all the room in the lanes. */
  private readonly waitingByUser = new Map<string, number>();
  /** Attempts counted as started (reserved or in flight). */
  private running = 0;
  private pumping = false;
  /** Attempts one user may have in flight: their share of the process's slots, or global parallelism if lower. */
  readonly userLimit: number;

  constructor(private readonly o: DispatcherOptions) {
    const share = Math.max(1, Math.floor(o.maxInFlight * o.userShare));
    this.userLimit = o.userParallelism > 0 ? Math.min(o.userParallelism, share) : share;
  }

  get inFlight(): number {
    return this.running;
  }

  userCount(userId: string): number {
    return this.userInFlight.get(userId) ?? 0;
  }

  /** A key's lane, created if needed; `touch` (a message of the key seen) keeps an idle key from being swept. */
  keyLane(userId: string, key: string, touch = true): KeyLane {
    const id = `${userId}\u0000${key}`;
    let lane = this.keys.get(id);
    if (!lane) {
      lane = new KeyLane(userId, key, this.o.now());
      const saved = this.o.keySettings(userId, key);
      if (saved) lane.limiter.restoreSettings(saved);
      const window = this.o.keyWindow?.(userId, key);
      if (window) lane.limiter.restoreWindow(window.startMs, window.count);
      this.keys.set(id, lane);
    } else if (touch) {
      lane.lastUsedMs = this.o.now();
    }
    return lane;
  }

  /** The rate windows that changed since the last call, to be saved. */
  takeDirtyWindows(): { userId: string; key: string; startMs: number; count: number }[] {
    const out: { userId: string; key: string; startMs: number; count: number }[] = [];
    for (const lane of this.keys.values()) {
      const w = lane.limiter.takeWindow();
      if (w) out.push({ userId: lane.userId, key: lane.limiter.key, ...w });
    }
    return out;
  }

  findKeyLane(userId: string, key: string): KeyLane | undefined {
    return this.keys.get(`${userId}\u0000${key}`);
  }

  keyLanes(userId: string): KeyLane[] {
    return [...this.keys.values()].filter((l) => l.userId === userId);
  }

  queueLane(userId: string, name: string): QueueLane {
    const id = `${userId}\u0000${name}`;
    let lane = this.queues.get(id);
    if (!lane) {
      lane = new QueueLane(userId, name, this.o.queueSettings(userId, name));
      this.queues.set(id, lane);
    }
    return lane;
  }

  findQueueLane(userId: string, name: string): QueueLane | undefined {
    return this.queues.get(`${userId}\u0000${name}`);
  }

  dropQueueLane(userId: string, name: string): void {
    this.queues.delete(`${userId}\u0000${name}`);
  }

  /** Whether a queue message still needs its queue slot (its first attempt has not started). */
  private needsQueueSlot(m: MessageRecord): boolean {
    if (!m.queueName) return false;
    const lane = this.queueLane(m.userId, m.queueName);
    return !lane.holders.has(m.id);
  }

  /** The lane a due message waits in now. */
  private laneFor(m: MessageRecord): Lane {
    if (this.needsQueueSlot(m)) return this.queueLane(m.userId, m.queueName!);
    if (m.flowControl) {
      const lane = this.keyLane(m.userId, m.flowControl.key);
      if (!lane.members.has(m.id)) {
        lane.members.add(m.id);
        lane.limiter.add(m.flowControl, m.createdAtMs);
      }
      return lane;
    }
    return this.freeLane(m.userId);
  }

  private freeLane(userId: string): FreeLane {
    let lane = this.frees.get(userId);
    if (!lane) this.frees.set(userId, (lane = new FreeLane(userId, "")));
    return lane;
  }

  /** A message became due: it waits in its lane until its limits allow it to start. */
  enqueue(m: MessageRecord): void {
    if (this.waitingIn.has(m.id)) return;
    const lane = this.laneFor(m);
    lane.push(m);
    this.hold(m, lane);
    this.wake(lane);
  }

  /** Messages held in lanes (each with its record in memory). */
  get waitingCount(): number {
    return this.waitingIn.size;
  }

  isWaiting(id: string): boolean {
    return this.waitingIn.has(id);
  }

  /** Due messages of one user waiting in the lanes. */
  waitingOf(userId: string): number {
    return this.waitingByUser.get(userId) ?? 0;
  }

  /** A message starts waiting (it is in no lane yet). */
  private hold(m: MessageRecord, lane: Lane): void {
    this.waitingIn.set(m.id, lane);
    this.waitingByUser.set(m.userId, this.waitingOf(m.userId) + 1);
  }

  /** A message leaves the lanes (started or cancelled). */
  private release(m: MessageRecord): void {
    if (!this.waitingIn.delete(m.id)) return;
    const n = this.waitingOf(m.userId) - 1;
    if (n > 0) this.waitingByUser.set(m.userId, n);
    else this.waitingByUser.delete(m.userId);
    const limit = this.o.userWaitingLimit;
    if (limit !== undefined && n === Math.floor(limit / 2)) this.o.userHasRoom?.(m.userId);
  }

  /**
   * For a message due right now: if its lane is empty and every limit allows it, counts it as started and
   * returns true (the caller stores it as active and starts it); otherwise false and nothing changed.
   */
  tryStartNow(m: MessageRecord): boolean {
    if (this.running >= this.o.maxInFlight || this.userCapped(m.userId)) return false;
    const now = this.o.now();
    let queue: QueueLane | undefined;
    if (m.queueName) {
      queue = this.queueLane(m.userId, m.queueName);
      if (queue.size > 0 || queue.waitMs() !== 0) return false;
    }
    let key: KeyLane | undefined;
    if (m.flowControl) {
      key = this.keyLane(m.userId, m.flowControl.key);
      if (key.size > 0) return false;
      key.members.add(m.id);
      key.limiter.add(m.flowControl, m.createdAtMs);
      if (key.waitMs(now) !== 0) {
        key.members.delete(m.id);
        key.limiter.remove(m.flowControl);
        return false;
      }
    } else if (!queue && this.freeLane(m.userId).size > 0) {
      return false;
    }
    if (queue) queue.holders.set(m.id, { finished: false, callbacks: 0 });
    if (key) key.limiter.onStart(now);
    this.countStart(m.userId);
    return true;
  }

  /** Counts an attempt found in flight at start-up (interrupted by the last stop), so ending it balances. */
  countRecovered(m: MessageRecord): void {
    this.countStart(m.userId);
    if (m.flowControl) {
      const lane = this.keyLane(m.userId, m.flowControl.key);
      lane.members.add(m.id);
      lane.limiter.add(m.flowControl, m.createdAtMs);
      lane.limiter.inFlight++;
    }
  }

  /** An attempt that was counted as started did not happen (its start was fenced out, or it was a duplicate). */
  unstart(m: MessageRecord, messageEnded: boolean): void {
    this.countEnd(m.userId);
    if (m.flowControl) this.findKeyLane(m.userId, m.flowControl.key)?.limiter.onFinish();
    if (messageEnded) this.messageEnded(m);
    this.pump();
  }

  /** An attempt ended; `final` when the message will not be attempted again (delivered, failed, cancelled). */
  attemptEnded(m: MessageRecord, final: boolean, callbacks: number): void {
    this.countEnd(m.userId);
    const key = m.flowControl && this.findKeyLane(m.userId, m.flowControl.key);
    if (key) key.limiter.onFinish();
    // The message's own limits stop counting before its key releases anything else (DECISIONS #14).
    if (final) this.messageEnded(m, callbacks);
    else if (callbacks > 0 && m.queueName) {
      // Callbacks come after every attempt: those of a failed attempt also keep the slot until they finish.
      const h = this.findQueueLane(m.userId, m.queueName)?.holders.get(m.id);
      if (h) h.callbacks += callbacks;
    }
    if (key) this.wake(key);
    this.pump();
  }

  /** A waiting or between-retries message finished without an attempt (cancelled). */
  cancelled(m: MessageRecord): void {
    this.waitingIn.get(m.id)?.remove(m.id);
    this.release(m);
    this.messageEnded(m);
    // A cancelled callback of a queue message no longer holds its source's slot.
    if (m.kind !== "publish" && m.sourceMessageId && m.sourceQueueName) this.callbackEnded(m.sourceMessageId, m.userId, m.sourceQueueName);
    this.pump();
  }

  /** A callback of a queue message finished: the source may now give its slot back. */
  callbackEnded(sourceId: string, queueUser: string, queueName: string): void {
    const lane = this.findQueueLane(queueUser, queueName);
    const h = lane?.holders.get(sourceId);
    if (!lane || !h) return;
    h.callbacks = Math.max(0, h.callbacks - 1);
    if (h.finished && h.callbacks === 0) {
      lane.holders.delete(sourceId);
      this.wake(lane);
      this.pump();
    }
  }

  /** Marks a queue message as holding its slot (it had its first attempt before a restart). */
  holdQueueSlot(userId: string, queueName: string, id: string, finished: boolean, callbacks: number): void {
    const lane = this.queueLane(userId, queueName);
    const h = lane.holders.get(id);
    if (h) h.callbacks += callbacks;
    else lane.holders.set(id, { finished, callbacks });
  }

  private messageEnded(m: MessageRecord, callbacks = 0): void {
    if (m.flowControl) {
      const lane = this.findKeyLane(m.userId, m.flowControl.key);
      if (lane && lane.members.delete(m.id)) lane.limiter.remove(m.flowControl);
    }
    if (m.queueName) {
      const lane = this.findQueueLane(m.userId, m.queueName);
      const h = lane?.holders.get(m.id);
      if (lane && h) {
        h.finished = true;
        h.callbacks += callbacks;
        if (h.callbacks === 0) {
          lane.holders.delete(m.id);
          this.wake(lane);
        }
      }
    }
  }

  /** Puts a lane back in the ring (after anything that may let it release). */
  wake(lane: Lane): void {
    if (lane.wakeTimer) {
      clearTimeout(lane.wakeTimer);
      lane.wakeTimer = undefined;
      lane.inReady = false;
    }
    if (lane.inReady || lane.size === 0) return;
    lane.inReady = true;
    this.ring.push(lane);
    this.pump();
  }

  /** Starts as much as the limits allow, round-robin over ready lanes, one message per lane per turn. */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    const batch: MessageRecord[] = [];
    try {
      const now = this.o.now();
      while (this.running < this.o.maxInFlight && this.ringHead < this.ring.length) {
        const lane = this.ring[this.ringHead++];
        lane.inReady = false;
        const head = lane.peek();
        if (!head) continue;
        // The user's cap first: it is one lookup, and when a capped user's slot frees, every lane of theirs comes
        // back through here (thousands, with one key per message) to be parked again; the lane's own limits
        // (a key's parallelism and rate) are judged when it is back with room to start.
        if (this.userCapped(head.userId)) {
          this.park(lane, head.userId);
          continue;
        }
        const wait = lane.waitMs(now);
        if (wait === Infinity) continue;
        if (wait > 0) {
          this.sleep(lane, wait);
          continue;
        }
        lane.take();
        if (lane instanceof QueueLane) {
          lane.holders.set(head.id, { finished: false, callbacks: 0 });
          if (head.flowControl) {
            // Released by its queue, it now waits for its key's limits (still waiting: the same count).
            const key = this.laneFor(head);
            key.push(head);
            this.waitingIn.set(head.id, key);
            if (!key.inReady) {
              key.inReady = true;
              this.ring.push(key);
            }
            this.requeue(lane);
            continue;
          }
        } else if (lane instanceof KeyLane) {
          lane.limiter.onStart(now);
        }
        this.release(head);
        this.countStart(head.userId);
        batch.push(head);
        this.requeue(lane);
      }
      if (this.ringHead > 1024 && this.ringHead * 2 > this.ring.length) {
        this.ring = this.ring.slice(this.ringHead);
        this.ringHead = 0;
      }
    } finally {
      this.pumping = false;
    }
    if (batch.length) this.o.start(batch);
  }

  private requeue(lane: Lane): void {
    if (lane.size > 0 && !lane.inReady) {
      lane.inReady = true;
      this.ring.push(lane);
    }
  }

  private sleep(lane: Lane, ms: number): void {
    lane.inReady = true; // not in the ring, but asleep: a wake-up puts it back
    lane.wakeTimer = setTimeout(() => {
      lane.wakeTimer = undefined;
      lane.inReady = false;
      this.wake(lane);
    }, ms);
  }

  private park(lane: Lane, userId: string): void {
    let parked = this.parkedByUser.get(userId);
    if (!parked) this.parkedByUser.set(userId, (parked = []));
    // Only a lane taken from the ring is parked, and a lane is in the ring once (`inReady`): no duplicates.
    lane.inReady = true;
    parked.push(lane);
  }

  private userCapped(userId: string): boolean {
    return this.userCount(userId) >= this.userLimit;
  }

  private countStart(userId: string): void {
    this.running++;
    this.userInFlight.set(userId, this.userCount(userId) + 1);
  }

  private countEnd(userId: string): void {
    this.running = Math.max(0, this.running - 1);
    const n = this.userCount(userId) - 1;
    if (n > 0) this.userInFlight.set(userId, n);
    else this.userInFlight.delete(userId);
    const parked = this.parkedByUser.get(userId);
    if (parked && !this.userCapped(userId)) {
      // Back in the ring in the order they were parked, served by the caller's pump: waking (and pumping) them
      // one by one would let the first lane take the slot and park again ahead of the others, every time.
      this.parkedByUser.delete(userId);
      for (const lane of parked) this.ring.push(lane);
    }
  }

  /**
   * Forgets key lanes with nothing to remember that have been unused for `idleMs` (run from the maintenance
   * loop): until then a drained key still answers `GET /v2/flowControl/{key}` and shows in the list.
   */
  sweepIdleKeys(idleMs: number): void {
    const now = this.o.now();
    for (const [id, lane] of this.keys) {
      if (now - lane.lastUsedMs < idleMs) continue;
      if (lane.size === 0 && !lane.inReady && lane.members.size === 0 && lane.limiter.isIdle(now)) this.keys.delete(id);
    }
  }

  stop(): void {
    for (const lane of [...this.keys.values(), ...this.queues.values()]) {
      if (lane.wakeTimer) clearTimeout(lane.wakeTimer);
    }
  }
}
