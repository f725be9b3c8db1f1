import type { StoredQueue, StoredSchedule, StoredUrlGroup } from "./store.js";
import type { DlqEntry, DlqRecord } from "../model/dlq.js";
import type { LogEvent } from "../model/log.js";
import type { MessageRecord, MessageState } from "../model/message.js";
import type { RunRecord } from "../model/run.js";
import type { StoredWaiter } from "../model/waiter.js";

/**
 * How records are laid out in columns, the same for every backend: a column exists only for what is filtered or
 * indexed; the rest of a record lives in one JSON text column (`spec`, `detail`), written once. A backend passes
 * its rows through these, after turning its own encodings (labels, booleans) into plain values.
 */
type Row = Record<string, any>;

/** Fields of a message kept in the `spec` JSON column (everything that is neither indexed nor the body). */
type MessageSpecColumn = Pick<
  MessageRecord,
  | "kind"
  | "method"
  | "header"
  | "maxRetries"
  | "retryDelay"
  | "timeoutMs"
  | "callback"
  | "callbackHeaders"
  | "failureCallback"
  | "failureCallbackHeaders"
  | "notBeforeMs"
  | "redact"
  | "flowControl"
  | "sourceMessageId"
  | "sourceQueueName"
  | "workflow"
>;

/** The columns of a message row; `labels` is a list, which each backend encodes its own way. */
export function messageColumns(m: MessageRecord): Row {
  const u = urlParts(m.url);
  const spec: MessageSpecColumn = {
    kind: m.kind,
    method: m.method,
    header: m.header,
    maxRetries: m.maxRetries,
    retryDelay: m.retryDelay,
    timeoutMs: m.timeoutMs,
    callback: m.callback,
    callbackHeaders: m.callbackHeaders,
    failureCallback: m.failureCallback,
    failureCallbackHeaders: m.failureCallbackHeaders,
    notBeforeMs: m.notBeforeMs,
    redact: m.redact,
    flowControl: m.flowControl,
    sourceMessageId: m.sourceMessageId,
    sourceQueueName: m.sourceQueueName,
    workflow: m.workflow,
  };
  return {
    id: m.id,
    user_id: m.userId,
    state: m.state,
    due_ms: m.dueMs,
    retried: m.retried,
    created_ms: m.createdAtMs,
    finished_ms: m.finishedMs ?? null,
    url: m.url,
    host: u.host,
    path: u.pathname,
    topic_name: m.topicName ?? null,
    endpoint_name: m.endpointName ?? null,
    queue_name: m.queueName ?? null,
    schedule_id: m.scheduleId ?? null,
    flow_key: m.flowControl?.key ?? null,
    caller_ip: m.callerIp,
    labels: m.labels,
    spec: JSON.stringify(spec),
    body: m.body,
    body_id: null,
    source_id: m.sourceMessageId ?? null,
    run_id: m.workflow?.runId ?? null,
    // Set by a cluster store for a message inserted active (the node it is in flight on).
    node_id: null,
  };
}

/** Host and path of recent destinations: a batch or a fan-out names the same few URLs for thousands of rows. */
const parsedUrls = new Map<string, { host: string; pathname: string }>();

function urlParts(url: string): { host: string; pathname: string } {
  let parts = parsedUrls.get(url);
  if (!parts) {
    const u = new URL(url);
    parts = { host: u.host, pathname: u.pathname };
    if (parsedUrls.size >= 1024) parsedUrls.clear();
    parsedUrls.set(url, parts);
  }
  return parts;
}

/** A message from its row, with `labels` already decoded and its body read (from `bodies` when shared). */
export function messageFromColumns(r: Row, labels: string[], body: Buffer): MessageRecord {
  const spec = JSON.parse(r.spec) as MessageSpecColumn;
  return {
    ...spec,
    id: r.id,
    userId: r.user_id,
    url: r.url,
    body,
    createdAtMs: r.created_ms,
    callerIp: r.caller_ip ?? "",
    labels,
    topicName: r.topic_name ?? undefined,
    endpointName: r.endpoint_name ?? undefined,
    queueName: r.queue_name ?? undefined,
    scheduleId: r.schedule_id ?? undefined,
    state: r.state as MessageState,
    retried: r.retried,
    dueMs: r.due_ms,
    finishedMs: r.finished_ms ?? undefined,
    // Only a cluster store records it; a store of one node has no such column.
    ...(r.node_id ? { nodeId: r.node_id } : {}),
  };
}

/** The `detail` column of an event: NULL for the common event that has none. */
export function eventDetail(e: LogEvent): string | null {
  return e.error !== undefined || e.nextDeliveryTimeMs !== undefined || e.responseStatus !== undefined || e.responseHeaders
    ? JSON.stringify({ error: e.error, nextDeliveryTimeMs: e.nextDeliveryTimeMs, responseStatus: e.responseStatus, responseHeaders: e.responseHeaders })
    : null;
}

/** An event from its columns (`time_ms`, `state`, `detail`, `response_body`). */
export function eventFromColumns(userId: string, messageId: string, r: { time_ms: number; state: string; detail: string | null; response_body: Buffer | null }): LogEvent {
  const detail = r.detail ? JSON.parse(r.detail) : {};
  return {
    userId,
    messageId,
    timeMs: r.time_ms,
    state: r.state as LogEvent["state"],
    error: detail.error,
    nextDeliveryTimeMs: detail.nextDeliveryTimeMs,
    responseStatus: detail.responseStatus,
    responseHeaders: detail.responseHeaders,
    responseBody: r.response_body ?? undefined,
  };
}

/** The `detail` column of a DLQ entry. */
export function dlqDetail(e: DlqEntry): string {
  return JSON.stringify({ responseHeaders: e.responseHeaders, error: e.error });
}

/** A DLQ entry joined with its message: the entry's columns are prefixed `r_`, the message's are plain. */
export function dlqFromColumns(r: Row, message: MessageRecord): DlqRecord {
  const detail = r.r_detail ? JSON.parse(r.r_detail) : {};
  return {
    dlqId: r.r_dlq_id,
    userId: r.user_id,
    messageId: r.id,
    createdMs: r.r_created_ms,
    responseStatus: r.r_response_status ?? undefined,
    responseHeaders: detail.responseHeaders,
    responseBody: r.r_response_body ?? undefined,
    error: detail.error,
    message,
  };
}

/** Fields of a run kept in its `spec` JSON column. */
type RunSpecColumn = Pick<RunRecord, "triggerMessageId" | "inherit" | "failureUrl" | "failureHeaders" | "invoker" | "failureFunction" | "dlqId">;

/** The columns of a run row; `labels` is a list, which each backend encodes its own way. */
export function runColumns(r: RunRecord): Row {
  const u = new URL(r.url);
  const spec: RunSpecColumn = {
    triggerMessageId: r.triggerMessageId,
    inherit: r.inherit,
    failureUrl: r.failureUrl,
    failureHeaders: r.failureHeaders,
    invoker: r.invoker,
    failureFunction: r.failureFunction,
    dlqId: r.dlqId,
  };
  return {
    user_id: r.userId,
    run_id: r.runId,
    url: r.url,
    host: u.host,
    path: u.pathname,
    state: r.state,
    created_ms: r.createdAtMs,
    completed_ms: r.completedAtMs ?? null,
    caller_ip: r.callerIp,
    labels: r.labels,
    flow_key: r.flowControlKey ?? null,
    spec: JSON.stringify(spec),
    response: r.response ?? null,
  };
}

export function runFromColumns(r: Row, labels: string[]): RunRecord {
  const spec = JSON.parse(r.spec) as RunSpecColumn;
  return {
    ...spec,
    userId: r.user_id,
    runId: r.run_id,
    url: r.url,
    state: r.state,
    createdAtMs: r.created_ms,
    completedAtMs: r.completed_ms ?? undefined,
    callerIp: r.caller_ip ?? "",
    labels,
    flowControlKey: r.flow_key ?? undefined,
    response: r.response ?? undefined,
  };
}

/** The `spec` column of a waiter: what is neither indexed nor its id. */
export function waiterSpec(w: StoredWaiter): string {
  return JSON.stringify({ url: w.url, headers: w.headers, timeoutUrl: w.timeoutUrl, timeoutHeaders: w.timeoutHeaders, step: w.step });
}

export function waiterFromColumns(r: Row): StoredWaiter {
  return {
    ...JSON.parse(r.spec),
    id: r.id,
    userId: r.user_id,
    eventId: r.event_id,
    runId: r.run_id,
    createdMs: r.created_ms,
    deadlineMs: r.deadline_ms,
  };
}

export interface QueueHolder {
  userId: string;
  queueName: string;
  id: string;
  finished: boolean;
  callbacks: number;
}

/**
 * `Store.listQueueHolders` from its two reads: queue messages past their first attempt and unfinished (`id`,
 * `user_id`, `queue_name`), and queue messages with unfinished callbacks (the same, with their count `n`).
 */
export function queueHolders(started: Row[], waitingOnCallbacks: Row[]): QueueHolder[] {
  const out = new Map<string, QueueHolder>();
  for (const r of started) out.set(r.id, { userId: r.user_id, queueName: r.queue_name, id: r.id, finished: false, callbacks: 0 });
  for (const r of waitingOnCallbacks) {
    const h = out.get(r.id);
    if (h) h.callbacks += r.n;
    else out.set(r.id, { userId: r.user_id, queueName: r.queue_name, id: r.id, finished: true, callbacks: r.n });
  }
  return [...out.values()];
}

/** `paused` is an integer 0/1 in SQLite and a boolean in PostgreSQL: `Boolean` reads both. */
export function queueFromColumns(r: Row): StoredQueue {
  return { userId: r.user_id, name: r.name, parallelism: r.parallelism, paused: Boolean(r.paused), createdAtMs: r.created_ms, updatedAtMs: r.updated_ms };
}

export function urlGroupFromColumns(r: Row): StoredUrlGroup {
  return { userId: r.user_id, name: r.name, createdAtMs: r.created_ms, updatedAtMs: r.updated_ms, endpoints: JSON.parse(r.endpoints) };
}

export function scheduleFromColumns(r: Row): StoredSchedule {
  return {
    id: r.id,
    userId: r.user_id,
    cron: r.cron,
    destination: r.destination,
    headers: JSON.parse(r.headers),
    body: r.body ?? Buffer.alloc(0),
    callerIp: r.caller_ip ?? "",
    paused: Boolean(r.paused),
    createdAtMs: r.created_ms,
    revision: r.revision,
    nextMs: r.next_ms,
    lastMs: r.last_ms,
    lastMessageIds: r.last_ids ? JSON.parse(r.last_ids) : [],
  };
}
