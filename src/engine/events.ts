import type { EventEmitter } from "node:events";
import type { AttemptResult } from "./deliverer.js";
import type { DlqEntry } from "../model/dlq.js";
import type { MessageRecord } from "../model/message.js";

/** Typed engine events: tests await them and metrics count them. */
export interface EngineEvents {
  accepted: [MessageRecord];
  attempt: [MessageRecord];
  /** An attempt's request ended (before its outcome is stored), with how long it took. */
  attemptEnded: [MessageRecord, AttemptResult, number];
  delivered: [MessageRecord];
  retry: [MessageRecord, number];
  failed: [MessageRecord, DlqEntry];
  /** An attempt that did not deliver (it is retried, or the message failed); `nextDeliveryMs` when retried. */
  attemptFailed: [MessageRecord, { error: string; status?: number; nextDeliveryMs?: number }];
  /** A workflow run ended in RUN_FAILED. */
  runFailed: [userId: string, runId: string];
  /** A schedule tick fired this many ms after it was due (downtime, a busy process). */
  scheduleLate: [userId: string, scheduleId: string, lateMs: number];
  cancelled: [MessageRecord];
  /** In a cluster: an attempt's outcome was refused because another node had taken the message over. */
  takenOver: [MessageRecord];
  /** A commit failed (its callers were told, or the engine retries its own write). */
  storeError: [unknown];
  /** A group commit landed: its duration in ms and its number of operations. */
  committed: [number, number];
  error: [unknown];
}

/** What a part of the engine may do with the engine's events: report them. */
export type EngineEmitter = Pick<EventEmitter<EngineEvents>, "emit">;
