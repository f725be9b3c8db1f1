/**
 * The message as the engine, the store and the protocol see it. Wire shapes (what the API returns) are built from
 * this in `protocol/shapes.ts`; nothing here knows about HTTP.
 */

/**
 * Where a message is in its life. A stored message changes state only through the fenced updates built in
 * `engine/transitions.ts` (start, cancel, an attempt's outcome). A new one is inserted pending, or already active
 * (the fast path, `engine/accept.ts`), or already cancelled (a step kept only for the log of a run that has ended).
 */
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
  /** In a cluster, the node an active message is in flight on, as stored (set on records read back). */
  nodeId?: string | null;
  finishedMs?: number;
}

/** What kind of entry a message carries: `step` (incl. the trigger), the two halves of `context.call`, or a failure callback. */
export type CallType = "step" | "toCallback" | "fromCallback" | "failureCall";

/** The run a workflow message belongs to, kept on the message itself. */
export interface WorkflowTag {
  runId: string;
  callType: CallType;
  /** The trigger (or invoke) message that created the run. */
  init?: boolean;
  /** Set on triggers sent with the `WF_DetectTrigger` feature: a reply without the SDK header fails the run. */
  detectTrigger?: boolean;
  /**
   * Set on the first message of a run started by the trigger REST API (`POST /v2/trigger`): only an SDK of major
   * version 1 or later (its `Upstash-Workflow-Sdk` response header) can continue such a run.
   */
  triggerApi?: boolean;
  /** The SDK that published the message can fetch its step list itself (`LazyFetch`), so a large one is not sent. */
  lazyFetch?: boolean;
  /** On the answer to a `context.invoke`: the run that was invoked. */
  invoked?: { runId: string; url: string; createdAtMs: number };
}
