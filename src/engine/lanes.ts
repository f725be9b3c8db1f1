import { FlowLimiter } from "./flow-limiter.js";
import type { MessageRecord } from "../model/message.js";

/**
 * A lane holds due messages until their limits let them start. Three kinds:
 * - the free lane (no queue, no flow-control key): only the process and user caps apply;
 * - a flow-control key lane: parallelism and rate per attempt (a FlowLimiter);
 * - a queue lane: FIFO by message id, `parallelism` messages at a time, each holding its slot from its first
 *   attempt until it is delivered or failed for good, retries and callbacks included (SPEC §2.3).
 */
export abstract class Lane {
  private items: (MessageRecord | undefined)[] = [];
  private head = 0;
  private live = 0;
  /** Position of each waiting message, so a cancel can take it out without a scan. */
  private readonly index = new Map<string, number>();
  /** Whether the lane is in the dispatcher's ready ring (or parked/sleeping and so must not be added twice). */
  inReady = false;
  wakeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly userId: string,
    readonly name: string,
  ) {}

  abstract readonly kind: "free" | "key" | "queue";

  get size(): number {
    return this.live;
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /** Appends (or, for queues, inserts in id order). */
  push(m: MessageRecord): void {
    if (this.index.has(m.id)) return;
    this.index.set(m.id, this.items.length);
    this.items.push(m);
    this.live++;
  }

  peek(): MessageRecord | undefined {
    this.skipDead();
    return this.items[this.head];
  }

  take(): MessageRecord | undefined {
    this.skipDead();
    const m = this.items[this.head];
    if (!m) return undefined;
    this.items[this.head++] = undefined;
    this.index.delete(m.id);
    this.live--;
    this.compact();
    return m;
  }

  /** Takes a waiting message out (cancelled); returns it if it was here. */
  remove(id: string): MessageRecord | undefined {
    const at = this.index.get(id);
    if (at === undefined) return undefined;
    const m = this.items[at];
    this.items[at] = undefined;
    this.index.delete(id);
    this.live--;
    return m;
  }

  protected insertSorted(m: MessageRecord): void {
    if (this.index.has(m.id)) return;
    // Usually the newest id: append. Otherwise shift the tail (queues are short compared to their churn).
    let at = this.items.length;
    while (at > this.head && (this.items[at - 1] === undefined || this.items[at - 1]!.id > m.id)) at--;
    while (at < this.items.length && this.items[at] === undefined) at++;
    this.items.splice(at, 0, m);
    for (let i = at; i < this.items.length; i++) {
      const it = this.items[i];
      if (it) this.index.set(it.id, i);
    }
    this.live++;
  }

  private skipDead(): void {
    while (this.head < this.items.length && this.items[this.head] === undefined) this.head++;
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
      this.index.clear();
      this.items.forEach((it, i) => it && this.index.set(it.id, i));
    }
  }

  /** 0 when the head may start now, ms until it may, or Infinity until something changes. */
  abstract waitMs(nowMs: number): number;
}

export class FreeLane extends Lane {
  readonly kind = "free";
  waitMs(): number {
    return 0;
  }
}

export class KeyLane extends Lane {
  readonly kind = "key";
  readonly limiter: FlowLimiter;
  /** Messages counted in the limiter's configuration (waiting, in flight or between retries). */
  readonly members = new Set<string>();
  /** When a message of this key was last seen; an idle key is kept (and listed) for a while after. */
  lastUsedMs: number;

  constructor(userId: string, key: string, nowMs: number) {
    super(userId, key);
    this.limiter = new FlowLimiter(key, nowMs);
    this.lastUsedMs = nowMs;
  }

  waitMs(nowMs: number): number {
    return this.limiter.waitMs(nowMs);
  }
}

export interface QueueSettings {
  parallelism: number;
  paused: boolean;
  createdAtMs: number;
  updatedAtMs: number;
}

export class QueueLane extends Lane {
  readonly kind = "queue";
  /** Messages holding a slot, with how many of their callbacks are still unfinished. */
  readonly holders = new Map<string, { finished: boolean; callbacks: number }>();

  constructor(
    userId: string,
    name: string,
    public settings: QueueSettings,
  ) {
    super(userId, name);
  }

  override push(m: MessageRecord): void {
    this.insertSorted(m);
  }

  waitMs(): number {
    if (this.settings.paused) return Infinity;
    return this.holders.size < this.settings.parallelism ? 0 : Infinity;
  }
}
