import { setMaxListeners } from "node:events";

/**
 * Abort signals for attempt deadlines, shared by the attempts whose deadlines fall in the same slice of
 * `granularityMs`. `AbortSignal.timeout` costs each attempt a signal, a timer and a weak reference (about 15 µs
 * here, much of it garbage); a shared signal costs one of each per slice. A slice's signal fires at the slice's
 * end, so no attempt is aborted before its own deadline, and none more than `granularityMs` after it.
 */
export class DeadlineSignals {
  private readonly slices = new Map<number, { controller: AbortController; timer: NodeJS.Timeout }>();

  constructor(private readonly granularityMs = 10) {}

  /** A signal that aborts no earlier than `timeoutMs` from now, and at most `granularityMs` later. */
  after(timeoutMs: number): AbortSignal {
    const slice = Math.ceil((performance.now() + timeoutMs) / this.granularityMs);
    let controller = this.slices.get(slice)?.controller;
    if (!controller) {
      const created = new AbortController();
      // Every attempt of the slice listens; that many listeners is the point, not a leak.
      setMaxListeners(0, created.signal);
      const timer = setTimeout(() => {
        this.slices.delete(slice);
        created.abort();
      }, slice * this.granularityMs - performance.now() + 1);
      // +1: timers count whole milliseconds and may fire a fraction early. A deadline alone must not keep the
      // process alive (as with AbortSignal.timeout).
      timer.unref();
      this.slices.set(slice, { controller: created, timer });
      controller = created;
    }
    return controller.signal;
  }

  /** Aborts every signal handed out and not yet fired, with `reason` (the deliverer is closing). */
  abortAll(reason: Error): void {
    for (const { controller, timer } of this.slices.values()) {
      clearTimeout(timer);
      controller.abort(reason);
    }
    this.slices.clear();
  }
}
