import type { MessageRecord } from "./message.js";

/** Public log states (SPEC §2.7). */
export type LogState =
  | "CREATED"
  | "ACTIVE"
  | "RETRY"
  | "ERROR"
  | "DELIVERED"
  | "FAILED"
  | "CANCEL_REQUESTED"
  | "CANCELLED";

/** One state change, as kept in the log table. */
export interface LogEvent {
  userId: string;
  messageId: string;
  timeMs: number;
  state: LogState;
  error?: string;
  nextDeliveryTimeMs?: number;
  responseStatus?: number;
  responseHeaders?: Record<string, string[]>;
  responseBody?: Buffer;
}

/** A log event as read back: its order in the log and the message it belongs to. */
export interface StoredEvent extends LogEvent {
  seq: number;
  message: MessageRecord;
}
