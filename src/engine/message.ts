/**
 * The message as the engine and the store see it. Wire shapes (what the API returns) are built from this
 * in `protocol/shapes.ts`; nothing here knows about HTTP.
 */

import type { WorkflowTag } from "../workflow/types.js";

/** Where a message is in its life. Changed only by the transitions in `engine/transitions.ts`. */
export const MessageStates = {
  /** Stored, waiting for its due time (first attempt or a retry). */
  pending: "pending",
  /** An attempt is in flight. */
  active: "active",
  delivered: "delivered",
  /** Retries exhausted or non-retryable; a DLQ entry exists. */
  failed: "failed",
  cancelled: "cancelled",
} as const;
export type MessageState = keyof typeof MessageStates;

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

/** What kind of message this is: callbacks are ordinary messages whose body we build. */
export type MessageKind = "publish" | "callback" | "failureCallback";

export interface RedactSpec {
  body: boolean;
  allHeaders: boolean;
  /** Lower-case header names to redact. */
  headers: string[];
}

/** The `Upstash-*` headers that configure a callback message, with the `Callback-` part removed. */
export type SubPublishHeaders = Record<string, string>;

export interface FlowControlSpec {
  key: string;
  parallelism?: number;
  rate?: number;
  periodSec?: number;
}

/** Everything fixed when the message is accepted. */
export interface MessageSpec {
  id: string;
  userId: string;
  kind: MessageKind;
  url: string;
  method: string;
  /** Headers delivered to the destination, canonical names, e.g. `Content-Type`. */
  header: Record<string, string[]>;
  body: Buffer;
  maxRetries: number;
  retryDelay?: string;
  timeoutMs?: number;
  callback?: string;
  callbackHeaders?: SubPublishHeaders;
  failureCallback?: string;
  failureCallbackHeaders?: SubPublishHeaders;
  /** When the first attempt is due (ms). */
  notBeforeMs: number;
  createdAtMs: number;
  callerIp: string;
  labels: string[];
  redact?: RedactSpec;
  topicName?: string;
  endpointName?: string;
  queueName?: string;
  scheduleId?: string;
  flowControl?: FlowControlSpec;
  /** For callbacks: the message whose attempt produced them. */
  sourceMessageId?: string;
  /** For callbacks of a queue message: its queue, whose slot the source holds until the callback finishes. */
  sourceQueueName?: string;
  /** For messages of a workflow run: the run and what the message carries. */
  workflow?: WorkflowTag;
}

/** A message with its mutable delivery state. */
export interface MessageRecord extends MessageSpec {
  state: MessageState;
  /** Attempts already made. */
  retried: number;
  /** When the next attempt is due (ms). */
  dueMs: number;
  /** Set when a cancel arrived while an attempt was in flight. */
  cancelRequested?: boolean;
  finishedMs?: number;
}

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
