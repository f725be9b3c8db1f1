import { defaultBackoffMs } from "../protocol/backoff.js";
import { compileRetryDelay, type RetryDelayFn } from "../protocol/retry-delay.js";
import { retryAfterFromHeaders } from "../protocol/retry-after.js";
import { headerMap } from "../protocol/header-names.js";
import type { AttemptResult } from "./deliverer.js";
import type { LogEvent } from "../model/log.js";
import type { MessageRecord, MessageState } from "../model/message.js";
import type { WriteOp } from "../store/store.js";

/** What an attempt's result means for the message: the only place delivery outcomes are decided. */
export type Verdict =
  | { kind: "delivered" }
  | { kind: "retry"; atMs: number }
  | { kind: "failed"; nonRetryable: boolean }
  | { kind: "cancelled" };

export interface Transition {
  verdict: Verdict;
  state: MessageState;
  /** Attempts made, this one included. */
  retried: number;
  dueMs: number;
  finishedMs?: number;
  events: LogEvent[];
  /** Status, headers and body of the attempt, for the DLQ and callbacks (absent when there was no response). */
  response?: { status: number; headers: Record<string, string[]>; body: Buffer };
  /** The response body was over maxResponseBodyBytes: `response.body` (or the log's preview) is its first bytes. */
  responseTruncated?: true;
  error?: string;
}

const compiled = new Map<string, RetryDelayFn>();
function retryDelayFn(expr: string): RetryDelayFn {
  let fn = compiled.get(expr);
  if (!fn) {
    fn = compileRetryDelay(expr);
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(expr, fn);
  }
  return fn;
}

/** The delay before the next attempt: the destination's Retry-After family wins, then the user's expression, then the default backoff. */
export function nextRetryDelayMs(msg: MessageRecord, result: AttemptResult, nowMs: number, maxDelayMs = Infinity): number {
  if (result.kind === "response") {
    const fromHeaders = retryAfterFromHeaders(result.headers, nowMs);
    if (fromHeaders !== undefined) return fromHeaders;
  }
  // An expression may grow without bound (`pow(10, retried)`); it is held to the same cap as a publish delay.
  if (msg.retryDelay) return Math.min(maxDelayMs, Math.round(retryDelayFn(msg.retryDelay)(msg.retried)));
  return defaultBackoffMs(msg.retried + 1);
}

/** A 489 with `Upstash-NonRetryable-Error: true`, or an error that every retry would repeat (an egress refusal). */
function isNonRetryable(result: AttemptResult): boolean {
  if (result.kind === "error") return result.permanent === true;
  if (result.status !== 489) return false;
  const h = result.headers["upstash-nonretryable-error"];
  return (Array.isArray(h) ? h[0] : h)?.toLowerCase() === "true";
}

export const NON_WORKFLOW_DESTINATION =
  "detected a non-workflow destination for trigger/invoke. make sure you are sending the request to the correct endpoint";

export const TRIGGER_API_NEEDS_SDK_V1 = "trigger rest api is only usable with sdk versions after v1.0.0 major version";

/**
 * Why a successful answer to a run's first message still fails the run: it came from no workflow endpoint
 * (WF_DetectTrigger), or, for a run started by the trigger REST API, from an SDK older than 1.0 (no
 * `Upstash-Workflow-Sdk: v1…` header), which cannot continue a run it did not start itself.
 */
function workflowTriggerError(msg: MessageRecord, headers: Record<string, string[]>): string | undefined {
  const tag = msg.workflow;
  if (!tag?.detectTrigger) return undefined;
  if (!headers["Upstash-Workflow-Sdk-Version"]) return NON_WORKFLOW_DESTINATION;
  if (tag.triggerApi && !/^v?([1-9]\d*)\./.test(headers["Upstash-Workflow-Sdk"]?.[0]?.trim() ?? "")) return TRIGGER_API_NEEDS_SDK_V1;
  return undefined;
}

/** Shared by every delivered transition: verdicts are only read. */
const DELIVERED: Verdict = { kind: "delivered" };

/** Decides the next state of an active message from its attempt's result. Pure: time is passed in. */
export function afterAttempt(msg: MessageRecord, result: AttemptResult, nowMs: number, maxDelayMs = Infinity): Transition {
  if (result.kind === "response" && result.overLimit) {
    // A `context.call` result must reach the workflow whole: a cut body would arrive as an unparseable string with
    // a success status. The call fails (retried as configured); its log keeps the cut body as a preview.
    if (msg.workflow?.callType === "toCallback") return withPreview(afterAttempt(msg, { kind: "error", error: `${result.overLimit}: the call fails` }, nowMs, maxDelayMs), result);
    // A plain delivery stands on its status (the destination did the work); what is kept of the body is flagged.
    return { ...afterAttempt(msg, { ...result, overLimit: undefined }, nowMs, maxDelayMs), responseTruncated: true };
  }
  const base = { userId: msg.userId, messageId: msg.id, timeMs: nowMs };
  const attempts = msg.retried + 1;
  const response =
    result.kind === "response"
      ? { status: result.status, headers: headerMap(result.headers), body: result.body }
      : undefined;
  const error = result.kind === "error" ? result.error : undefined;

  // WF_DetectTrigger (SPEC §5.3): a trigger answered without the SDK's header did not reach a workflow.
  const triggerError = response && response.status >= 200 && response.status < 300 ? workflowTriggerError(msg, response.headers) : undefined;
  if (response && triggerError) {
    const err = triggerError;
    const fields = { responseStatus: response.status, responseHeaders: response.headers, responseBody: response.body };
    return {
      verdict: { kind: "failed", nonRetryable: true },
      state: "failed",
      retried: attempts,
      dueMs: msg.dueMs,
      finishedMs: nowMs,
      events: [{ ...base, state: "ERROR", error: err, ...fields }, { ...base, state: "FAILED", error: err, ...fields }],
      response,
      error: err,
    };
  }

  if (response && response.status >= 200 && response.status < 300) {
    // The common outcome, built without the spreads of the others (this runs for every delivery).
    const delivered: LogEvent = {
      userId: msg.userId,
      messageId: msg.id,
      timeMs: nowMs,
      state: "DELIVERED",
      responseStatus: response.status,
      responseHeaders: response.headers,
      responseBody: response.body,
    };
    return { verdict: DELIVERED, state: "delivered", retried: attempts, dueMs: msg.dueMs, finishedMs: nowMs, events: [delivered], response };
  }

  const responseFields = response
    ? { responseStatus: response.status, responseHeaders: response.headers, responseBody: response.body }
    : {};
  const errorText = error ?? `destination responded with status ${response!.status}`;
  const errorEvent: LogEvent = { ...base, state: "ERROR", error: errorText, ...responseFields };
  if (msg.cancelRequested) {
    return {
      verdict: { kind: "cancelled" },
      state: "cancelled",
      retried: attempts,
      dueMs: msg.dueMs,
      finishedMs: nowMs,
      events: [errorEvent, { ...base, state: "CANCELLED" }],
      response,
      error,
    };
  }
  const nonRetryable = isNonRetryable(result);
  if (nonRetryable || msg.retried >= msg.maxRetries) {
    return {
      verdict: { kind: "failed", nonRetryable },
      state: "failed",
      retried: attempts,
      dueMs: msg.dueMs,
      finishedMs: nowMs,
      events: [errorEvent, { ...base, state: "FAILED", error: errorText, ...responseFields }],
      response,
      error,
    };
  }
  const atMs = nowMs + nextRetryDelayMs(msg, result, nowMs, maxDelayMs);
  return {
    verdict: { kind: "retry", atMs },
    state: "pending",
    retried: attempts,
    dueMs: atMs,
    events: [errorEvent, { ...base, state: "RETRY", nextDeliveryTimeMs: atMs }],
    response,
    error,
  };
}

/** The attempt's log events keep the status, headers and first bytes of a response the attempt was failed for. */
function withPreview(t: Transition, result: Extract<AttemptResult, { kind: "response" }>): Transition {
  const preview = { responseStatus: result.status, responseHeaders: headerMap(result.headers), responseBody: result.body };
  return { ...t, responseTruncated: true, events: t.events.map((e) => (e.state === "ERROR" ? { ...e, ...preview } : e)) };
}

type UpdateMessageOp = Extract<WriteOp, { op: "updateMessage" }>;

/** The fenced write that starts an attempt of a due message (pending → active); not applied if cancelled meanwhile. */
export function startUpdate(m: MessageRecord, nowMs: number): UpdateMessageOp {
  return {
    op: "updateMessage",
    id: m.id,
    expectState: "pending",
    state: "active",
    retried: m.retried,
    dueMs: m.dueMs,
    events: [{ userId: m.userId, messageId: m.id, timeMs: nowMs, state: "ACTIVE" }],
  };
}

/** The fenced write that cancels a message before its attempt (pending → cancelled); not applied if it started. */
export function cancelUpdate(m: MessageRecord, nowMs: number): UpdateMessageOp {
  return {
    op: "updateMessage",
    id: m.id,
    expectState: "pending",
    state: "cancelled",
    retried: m.retried,
    dueMs: m.dueMs,
    finishedMs: nowMs,
    events: [
      { userId: m.userId, messageId: m.id, timeMs: nowMs, state: "CANCEL_REQUESTED" },
      { userId: m.userId, messageId: m.id, timeMs: nowMs, state: "CANCELLED" },
    ],
  };
}

/** The fenced write that records an attempt's outcome (active → the transition's state). */
export function outcomeUpdate(m: MessageRecord, t: Transition): UpdateMessageOp {
  return {
    op: "updateMessage",
    id: m.id,
    expectState: "active",
    state: t.state,
    retried: t.retried,
    dueMs: t.dueMs,
    finishedMs: t.finishedMs,
    events: t.events,
    // In a cluster: the node that ran the attempt (a recovered one names the node it was stranded on).
    ...(m.nodeId !== undefined ? { owner: m.nodeId } : {}),
  };
}
