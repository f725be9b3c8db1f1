import type { SubPublishHeaders } from "../engine/message.js";

/**
 * Workflow runs as the store keeps them (SPEC §5): a run record and an append-only list of entries. Nothing here
 * knows about HTTP; the wire shapes are built in `workflow/shapes.ts`.
 */

export type RunState = "RUN_STARTED" | "RUN_SUCCESS" | "RUN_FAILED" | "RUN_CANCELED";

/** What kind of entry a message carries: `step` (incl. the trigger), the two halves of `context.call`, or a failure callback. */
export type CallType = "step" | "toCallback" | "fromCallback" | "failureCall";

export type FailureFunctionState = "CALLBACK_INPROGRESS" | "CALLBACK_SUCCESS" | "CALLBACK_FAIL" | "CALLBACK_CANCELED";

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

/** Who invoked a run with `context.invoke`, and how to answer them when the run ends (SPEC §5.8). */
export interface Invoker {
  workflowRunId: string;
  workflowUrl: string;
  workflowRunCreatedAt: number;
  /** Publish headers for the answer step, as the parent's SDK gave them. */
  headers: Record<string, string[]>;
  /** The parent's Invoke step, which the answer completes with an `out`. */
  step: Record<string, unknown>;
}

export interface FailureFunctionInfo {
  messageId: string;
  url: string;
  state: FailureFunctionState;
  dlqId?: string;
  failStatus?: number;
  failResponse?: string;
  failHeaders?: Record<string, string[]>;
}

export interface RunRecord {
  userId: string;
  runId: string;
  url: string;
  state: RunState;
  createdAtMs: number;
  completedAtMs?: number;
  callerIp: string;
  labels: string[];
  flowControlKey?: string;
  /** The message that created the run (entry 0). */
  triggerMessageId: string;
  /**
   * Publish headers of the trigger (lower-case names) that every later message of the run to the workflow URL
   * inherits (`WF_TriggerOnConfig`): retries, retry delay, flow control, timeout, labels and forwarded headers.
   */
  inherit: Record<string, string>;
  /** The run's failure callback, configured on the trigger: its URL and `Upstash-Failure-Callback-*` sub-headers. */
  failureUrl?: string;
  failureHeaders?: SubPublishHeaders;
  invoker?: Invoker;
  /** What the route function returned (JSON text), on success. */
  response?: string;
  failureFunction?: FailureFunctionInfo;
  /** DLQ entry of the step that failed the run. */
  dlqId?: string;
}

/** One entry of a run's list: what the SDK receives as a `RawStep`. */
export interface RunEntry {
  seq: number;
  messageId: string;
  callType: CallType;
  body: Buffer;
  createdMs: number;
}

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

/** Selection of runs for logs and bulk cancel. */
export interface RunFilter {
  runIds?: string[];
  url?: string[];
  urlPrefix?: string[];
  state?: RunState[];
  label?: string[];
  fromDate?: number;
  toDate?: number;
  createdAt?: number;
  callerIp?: string[];
  flowControlKey?: string[];
  host?: string[];
  path?: string[];
}
