import type { CallType, SubPublishHeaders } from "./message.js";

/**
 * Workflow runs as the store keeps them (SPEC §5): a run record and an append-only list of entries. Nothing here
 * knows about HTTP; the wire shapes are built in `workflow/logs.ts` (run logs), `workflow/dlq.ts` (the workflow
 * DLQ) and `workflow/waiters.ts` (waiters).
 */

export type RunState = "RUN_STARTED" | "RUN_SUCCESS" | "RUN_FAILED" | "RUN_CANCELED";

export type FailureFunctionState = "CALLBACK_INPROGRESS" | "CALLBACK_SUCCESS" | "CALLBACK_FAIL" | "CALLBACK_CANCELED";

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
