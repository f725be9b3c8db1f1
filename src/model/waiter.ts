/** A `context.waitForEvent` (or `waitForWebhook`) waiting for its event (SPEC §5.7). */
export interface StoredWaiter {
  userId: string;
  eventId: string;
  runId: string;
  createdMs: number;
  deadlineMs: number;
  url: string;
  /** Publish headers of the answer step (arrays, as the SDK sends them). */
  headers: Record<string, string[]>;
  timeoutUrl: string;
  timeoutHeaders: Record<string, string[]>;
  /** The Wait step to complete with `out` or `waitTimeout`. */
  step: Record<string, unknown>;
  /** Id assigned by the store. */
  id?: number;
}

/** An event notified to a run before it waited for it (run-scoped notify, webhooks): kept for lookback. */
export interface StoredRunEvent {
  userId: string;
  runId: string;
  eventId: string;
  createdMs: number;
  data: Buffer;
  id?: number;
}
