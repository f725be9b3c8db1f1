import { createHash } from "node:crypto";
import { parsePublishHeaders, type PublishConfig, type PublishLimits } from "../protocol/publish-headers.js";
import type { Destination } from "../protocol/destination.js";
import { HttpError } from "../errors.js";
import { newId } from "./ids.js";
import type { MessageKind, MessageRecord } from "./message.js";
import type { Transition } from "./transitions.js";
import type { RunPlan } from "../workflow/workflows.js";

/** Where one message goes; a URL group fans out into one target per endpoint. */
export interface Target {
  url: string;
  topicName?: string;
  endpointName?: string;
  queueName?: string;
  scheduleId?: string;
}

/** Where a publish to `dest` goes: the URL itself, or one target per endpoint of the URL group (404 if none). */
export function targetsOf(
  engine: { urlGroups: { require(userId: string, name: string): { endpoints: { url: string; name?: string }[] } } },
  userId: string,
  dest: Destination,
  queueName?: string,
  scheduleId?: string,
): Target[] {
  if (dest.kind === "url") return [{ url: dest.url, queueName, scheduleId }];
  return engine.urlGroups
    .require(userId, dest.name)
    .endpoints.map((e) => ({ url: e.url, topicName: dest.name, endpointName: e.name, queueName, scheduleId }));
}

/** One request (publish, batch, schedule tick) creating more messages than `maxMessagesPerRequest` is a 413 naming it. */
export function assertMessageCount(count: number, maxMessagesPerRequest: number, what: string): void {
  if (count > maxMessagesPerRequest) {
    throw new HttpError(413, `${what} would create ${count} messages; the configured limit maxMessagesPerRequest is ${maxMessagesPerRequest}`);
  }
}

export interface Origin {
  userId: string;
  callerIp: string;
  nowMs: number;
}

export interface NewMessage {
  record: MessageRecord;
  dedupKey?: string;
  /** For a message of a workflow run: how it joins its run when stored. */
  run?: RunPlan;
  /** Set on every message of one fan-out: their common body is stored once under this id. */
  sharedBodyId?: string;
}

/**
 * The messages of one publish to `targets`, all with the same body. A URL group's messages share one stored
 * body, so a large body sent to many endpoints is written once instead of once per endpoint.
 */
export function buildMessages(cfg: PublishConfig, targets: Target[], body: Buffer, origin: Origin, defaultRetries: number): NewMessage[] {
  const sharedBodyId = targets.length > 1 && body.length > 0 ? newId("body_", origin.nowMs) : undefined;
  return targets.map((t) => {
    const m = buildMessage(cfg, t, body, origin, defaultRetries);
    if (sharedBodyId !== undefined) m.sharedBodyId = sharedBodyId;
    return m;
  });
}

/** Builds a pending message from validated publish headers; the due time is Not-Before, else now + Delay. */
export function buildMessage(
  cfg: PublishConfig,
  target: Target,
  body: Buffer,
  origin: Origin,
  defaultRetries: number,
  kind: MessageKind = "publish",
): NewMessage {
  const due = cfg.notBeforeMs ?? origin.nowMs + (cfg.delayMs ?? 0);
  const record: MessageRecord = {
    id: newId("msg_", origin.nowMs),
    userId: origin.userId,
    kind,
    url: target.url,
    method: cfg.method,
    header: cfg.header,
    body,
    maxRetries: cfg.retries ?? defaultRetries,
    retryDelay: cfg.retryDelay,
    timeoutMs: cfg.timeoutMs,
    callback: cfg.callback,
    callbackHeaders: emptyToUndefined(cfg.callbackHeaders),
    failureCallback: cfg.failureCallback,
    failureCallbackHeaders: emptyToUndefined(cfg.failureCallbackHeaders),
    notBeforeMs: due,
    createdAtMs: origin.nowMs,
    callerIp: origin.callerIp,
    labels: cfg.labels,
    redact: cfg.redact,
    topicName: target.topicName,
    endpointName: target.endpointName,
    queueName: target.queueName,
    scheduleId: target.scheduleId,
    flowControl: cfg.flowControl,
    state: "pending",
    retried: 0,
    dueMs: due,
  };
  return { record, dedupKey: dedupKeyFor(cfg, target, body) };
}

/**
 * Deduplication is per destination: the same id sent to two URLs (or to each endpoint of a group) makes two
 * messages; a second publish to the same destination inside the window is the duplicate.
 */
function dedupKeyFor(cfg: PublishConfig, target: Target, body: Buffer): string | undefined {
  // A group endpoint is its own destination even when two endpoints share a URL.
  const dest = target.topicName === undefined ? target.url : `${target.url}\u0000${target.topicName}\u0000${target.endpointName ?? ""}`;
  if (cfg.dedupId !== undefined) return `id:${cfg.dedupId}|${dest}`;
  if (!cfg.contentBasedDedup) return undefined;
  const h = createHash("sha256");
  h.update(dest).update("\0").update(body).update("\0");
  for (const name of Object.keys(cfg.header).sort()) h.update(name.toLowerCase()).update(":").update(cfg.header[name].join(",")).update("\0");
  return `content:${h.digest("base64url")}`;
}

function emptyToUndefined<T extends object>(o: T): T | undefined {
  return Object.keys(o).length ? o : undefined;
}

const b64 = (b: Buffer | undefined): string => (b ?? Buffer.alloc(0)).toString("base64");

/**
 * The JSON body of a callback (after every attempt) or failure callback (once, after the final failure),
 * field for field as SPEC §3.4/§3.5 lists them. With no response, status is 0 and `error` says why.
 */
export function callbackBody(source: MessageRecord, t: Transition, dlqId?: string): Record<string, unknown> {
  return {
    status: t.response?.status ?? 0,
    header: t.response?.headers ?? {},
    // A call failed for its over-limit response says why in the body: the workflow SDK hands the body to the workflow.
    body: b64(t.response?.body ?? (t.responseTruncated && t.error !== undefined ? Buffer.from(t.error) : undefined)),
    ...(t.responseTruncated ? { bodyTruncated: true } : {}),
    ...(t.error !== undefined ? { error: t.error } : {}),
    retried: t.retried - 1,
    maxRetries: source.maxRetries,
    ...(dlqId !== undefined ? { dlqId } : {}),
    sourceMessageId: source.id,
    ...(source.topicName ? { topicName: source.topicName } : {}),
    ...(source.endpointName ? { endpointName: source.endpointName } : {}),
    url: source.url,
    method: source.method,
    sourceHeader: source.header,
    sourceBody: b64(source.body),
    notBefore: source.notBeforeMs,
    createdAt: source.createdAtMs,
    ...(source.scheduleId ? { scheduleId: source.scheduleId } : {}),
    ...(source.queueName ? { queueName: source.queueName } : {}),
    callerIP: source.callerIp,
    callerIp: source.callerIp,
  };
}

/**
 * A callback message, configured by the source's `Upstash-Callback-*` (or `-Failure-Callback-*`) headers exactly
 * as a publish would be; it inherits the source's retries unless those headers set their own.
 */
export function buildCallbackMessage(
  source: MessageRecord,
  kind: "callback" | "failureCallback",
  body: Record<string, unknown>,
  nowMs: number,
  limits: PublishLimits,
): MessageRecord | undefined {
  const url = kind === "callback" ? source.callback : source.failureCallback;
  if (!url) return undefined;
  const sub = (kind === "callback" ? source.callbackHeaders : source.failureCallbackHeaders) ?? {};
  const cfg = parsePublishHeaders({ ...sub, "content-type": "application/json" }, limits);
  // A callback of a callback would loop; the sub-config's own callbacks are ignored.
  const { record } = buildMessage(
    { ...cfg, callback: undefined, failureCallback: undefined, callbackHeaders: {}, failureCallbackHeaders: {}, dedupId: undefined, contentBasedDedup: false },
    { url },
    Buffer.from(JSON.stringify(body)),
    { userId: source.userId, callerIp: source.callerIp, nowMs },
    source.maxRetries,
    kind,
  );
  record.sourceMessageId = source.id;
  record.sourceQueueName = source.queueName;
  return record;
}
