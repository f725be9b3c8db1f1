/** A min-heap of (due time, id) with one timer armed for the earliest entry: no polling. */
export class TimerQueue {
  private heap: { dueMs: number; id: string }[] = [];
  private readonly index = new Map<string, { dueMs: number; id: string }>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private stopped = false;

  /** True when entries are due but the budget was zero: `kick()` resumes. */
  private stalled = false;

  constructor(
    private readonly now: () => number,
    /** Called with ids whose time has come, earliest first. */
    private readonly onDue: (ids: string[]) => void,
    /** How many due entries may be handed out now; due entries beyond it wait in the heap. */
    private readonly budget: () => number = () => Infinity,
  ) {}

  get size(): number {
    return this.index.size;
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /** Adds or moves an entry. */
  push(id: string, dueMs: number): void {
    if (this.index.has(id)) this.remove(id);
    const e = { dueMs, id };
    this.index.set(id, e);
    this.heap.push(e);
    this.up(this.heap.length - 1);
    if (dueMs < this.armedFor) this.arm();
  }

  /** Forgets an entry (lazily: it is skipped when it reaches the top). */
  remove(id: string): boolean {
    return this.index.delete(id);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.stopped) return;
    this.dropDead();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const top = this.heap[0];
    if (!top) {
      this.armedFor = Infinity;
      return;
    }
    if (top.dueMs <= this.now() && this.budget() <= 0) {
      // Due work is waiting for room downstream; `kick()` re-arms once there is some.
      this.stalled = true;
      this.armedFor = Infinity;
      return;
    }
    this.armedFor = top.dueMs;
    // setTimeout fires no earlier than asked; clamp so very far entries do not overflow its 32-bit delay.
    const wait = Math.min(Math.max(0, top.dueMs - this.now()), 2 ** 31 - 1);
    this.timer = setTimeout(() => this.fire(), wait);
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const due = this.takeDue(this.budget());
    if (due.length) this.onDue(due);
  }

  /** Re-arms a queue that stalled for lack of budget. */
  kick(): void {
    if (!this.stalled) return;
    this.stalled = false;
    this.arm();
  }

  /** Removes and returns up to `limit` entries due by now, earliest first, and re-arms for the rest. */
  takeDue(limit = Infinity): string[] {
    const now = this.now();
    const due: string[] = [];
    while (due.length < limit) {
      this.dropDead();
      const top = this.heap[0];
      if (!top || top.dueMs > now) break;
      this.pop();
      this.index.delete(top.id);
      due.push(top.id);
    }
    this.arm();
    return due;
  }

  private dropDead(): void {
    while (this.heap.length && this.index.get(this.heap[0].id) !== this.heap[0]) this.pop();
  }

  private pop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length) {
      this.heap[0] = last;
      this.down(0);
    }
  }

  private up(i: number): void {
    const h = this.heap;
    const e = h[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].dueMs <= e.dueMs) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = e;
  }

  private down(i: number): void {
    const h = this.heap;
    const e = h[i];
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r].dueMs < h[l].dueMs ? r : l;
      if (h[c].dueMs >= e.dueMs) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = e;
  }
}
