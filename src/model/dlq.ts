import type { MessageRecord } from "./message.js";

/** A message that failed for good (retries exhausted or non-retryable), with the last response it got. */
export interface DlqEntry {
  dlqId: string;
  userId: string;
  messageId: string;
  createdMs: number;
  responseStatus?: number;
  responseHeaders?: Record<string, string[]>;
  responseBody?: Buffer;
  error?: string;
}

/** A stored message joined with its DLQ details. */
export interface DlqRecord extends DlqEntry {
  message: MessageRecord;
}
