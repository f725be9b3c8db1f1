import type { DueKey, Store } from "../store/store.js";
import { TimerQueue } from "./timer-queue.js";
import type { MessageRecord } from "../model/message.js";

/** How far ahead (ms) the timer heap holds pending messages; later ones stay only in the store. */
const LOOKAHEAD_MS = 60_000;
/** Most pending messages held in the heap at once, so a huge backlog does not live in memory. */
const MAX_TIMERS = 200_000;
const LOAD_CHUNK = 5_000;

export interface DueLoaderDeps {
  store: Store;
  now: () => number;
  /** How many due messages may be handed over now (room left in the lanes). */
  budget: () => number;
  /** Whether a message is already waiting in a lane or in flight (so not to be loaded again). */
  isHeld: (id: string) => boolean;
  /** Receives pending messages whose time has come. */
  deliver: (m: MessageRecord) => void;
  track: (p: Promise<unknown>) => void;
}

/**
 * Brings pending messages from the store to the dispatcher when they are due. Ids due within the next minute
 * (at most 200,000) sit in a timer heap with one timer; a cursor over the store's (due, id) index marks how
 * far they have been read. Everything after the cursor is only in the store, so start-up and memory do not
 * grow with the number of pending messages.
 */
export class DueLoader {
  private readonly timers: TimerQueue;
  /** Every pending message with a due key at or before this is in the heap, a lane or in flight. */
  private cursor: DueKey = { dueMs: Number.MIN_SAFE_INTEGER, id: "" };
  private loadingUpTo: DueKey | undefined;
  /** A due time the loader must go back to, because the heap was full when a message at it was scheduled. */
  private rewindTo: number | undefined;
  private refillTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /**
   * Users whose share of the lanes was full, with the earliest due time of their messages left in the store
   * meanwhile; they are read again in (due, id) order on `resume`.
   */
  private readonly heldBack = new Map<string, number>();
  /** Queues (`user\0name`) with messages held back: until `resume` their later messages are held back too, in order. */
  private readonly heldQueues = new Set<string>();

  /** Catch-ups under way (see `catchUp`): while any runs, the heap hands nothing over. */
  private catchingUp = 0;
  /** The load from the store under way, if any. */
  private loading: Promise<void> | undefined;

  constructor(private readonly d: DueLoaderDeps) {
    this.timers = new TimerQueue(d.now, (ids) => d.track(this.onDue(ids)), () => (this.catchingUp > 0 ? 0 : d.budget()));
  }

  /** Loads what is due soon and hands over what is due already (as much as there is room for). */
  async start(): Promise<void> {
    await this.refill();
    await this.onDue(this.timers.takeDue(this.d.budget()));
  }

  /**
   * Runs `work` (reading the store's backlog in) while the heap hands nothing over, then resumes it: a message
   * scheduled meanwhile (news of another node's publish, a new one of this node) waits its turn behind the older
   * ones `work` reads, so a queue stays in order when a node starts leading or catches up after missed news.
   */
  async catchUp<T>(work: () => Promise<T>): Promise<T> {
    this.catchingUp++;
    try {
      return await work();
    } finally {
      this.catchingUp--;
      if (this.catchingUp === 0) this.timers.kick();
    }
  }

  /** Whether a catch-up runs: due messages then go through the heap, in order, rather than straight to a lane. */
  get isCatchingUp(): boolean {
    return this.catchingUp > 0;
  }

  stop(): void {
    this.stopped = true;
    this.timers.stop();
    if (this.refillTimer) clearTimeout(this.refillTimer);
  }

  /** Keeps a message that is not being handed over now until its due time (in the heap, or in the store only). */
  schedule(id: string, dueMs: number): void {
    if (this.stopped) return;
    const limit = this.loadingUpTo ?? this.cursor;
    if (dueMs > limit.dueMs || (dueMs === limit.dueMs && id > limit.id)) return; // the loader will find it
    if (this.timers.size < MAX_TIMERS) {
      this.timers.push(id, dueMs);
    } else {
      // The heap is full: leave the message to the store and move the loader back so it is read again later.
      this.rewind(dueMs);
    }
  }

  /** Leaves a due message in the store because its user's share of the lanes is full (see `heldBack`). */
  holdBack(m: Pick<MessageRecord, "userId" | "dueMs" | "queueName">): void {
    const earliest = this.heldBack.get(m.userId);
    if (earliest === undefined || m.dueMs < earliest) this.heldBack.set(m.userId, m.dueMs);
    if (m.queueName) this.heldQueues.add(`${m.userId}\u0000${m.queueName}`);
  }

  /** Whether a message of this queue must wait behind messages of the queue held back in the store. */
  isHoldingBackQueue(userId: string, queueName: string | undefined): boolean {
    return queueName !== undefined && this.heldQueues.size > 0 && this.heldQueues.has(`${userId}\u0000${queueName}`);
  }

  /** The user has room in the lanes again: their held-back messages are read from the store again. */
  resume(userId: string): void {
    const earliest = this.heldBack.get(userId);
    if (earliest === undefined) return;
    this.heldBack.delete(userId);
    for (const q of this.heldQueues) if (q.startsWith(`${userId}\u0000`)) this.heldQueues.delete(q);
    this.rewind(earliest);
    this.d.track(this.refill());
  }

  /**
   * Reads the store again from `fromMs` (minus infinity: from the start): in a cluster, pending messages stored by
   * other nodes whose news this node may have missed (its listener was reconnecting) are found this way.
   */
  recheck(fromMs = Number.MIN_SAFE_INTEGER): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return (async () => {
      await this.refill(); // a load under way ends first; the rewound range is then read by the next
      this.rewind(fromMs);
      await this.refill();
    })();
  }

  /** Forgets a message (cancelled). */
  remove(id: string): void {
    this.timers.remove(id);
  }

  /** There is room in the lanes again: resume handing over due messages if that had stalled. */
  kick(): void {
    this.timers.kick();
  }

  /** Makes the loader read again from `dueMs` (after a load in progress, if any, has finished). */
  private rewind(dueMs: number): void {
    this.rewindTo = Math.min(this.rewindTo ?? Infinity, dueMs);
    if (!this.loadingUpTo) this.applyRewind();
  }

  private applyRewind(): void {
    if (this.rewindTo === undefined) return;
    if (this.rewindTo <= this.cursor.dueMs) this.cursor = { dueMs: this.rewindTo - 1, id: "\uffff" };
    this.rewindTo = undefined;
  }

  private async onDue(ids: string[]): Promise<void> {
    const records = await this.d.store.getMessagesById(ids.filter((id) => !this.d.isHeld(id)));
    for (const m of records) if (m.state === "pending") this.d.deliver(m);
    if (this.timers.size < MAX_TIMERS / 2 && this.cursor.dueMs < this.d.now() + LOOKAHEAD_MS) this.d.track(this.refill());
  }

  /** Loads pending messages due within the lookahead into the heap (or joins the load under way). */
  private refill(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** Reads pending messages due within the lookahead, in (due, id) order, in chunks. */
  private async load(): Promise<void> {
    if (this.loadingUpTo || this.stopped) return;
    const target = { dueMs: this.d.now() + LOOKAHEAD_MS, id: "" };
    this.loadingUpTo = target;
    try {
      while (this.timers.size < MAX_TIMERS) {
        const rows = await this.d.store.listDue(this.cursor, target.dueMs, LOAD_CHUNK);
        for (const r of rows) if (!this.d.isHeld(r.id)) this.timers.push(r.id, r.dueMs);
        if (rows.length < LOAD_CHUNK) {
          this.cursor = target;
          break;
        }
        this.cursor = rows[rows.length - 1];
      }
    } finally {
      this.loadingUpTo = undefined;
      this.applyRewind();
    }
    if (this.refillTimer) clearTimeout(this.refillTimer);
    if (this.stopped) return;
    const wait = Math.max(1000, this.cursor.dueMs - LOOKAHEAD_MS / 2 - this.d.now());
    this.refillTimer = setTimeout(() => this.d.track(this.refill()), wait);
    this.refillTimer.unref();
  }
}
