import { isUtf8 } from "node:buffer";
import type { DlqRecord } from "../model/dlq.js";
import type { MessageRecord, RedactSpec } from "../model/message.js";
import type { StoredEvent } from "../model/log.js";
import { sha256 } from "../digest.js";

/** The wire shapes of replies (SPEC §2.2, §2.6, §2.7), built from stored records. */

const redacted = (value: string | Buffer): string => `REDACTED:${sha256(value, "hex")}`;

export function shownHeaders(header: Record<string, string[]>, redact: RedactSpec | undefined): Record<string, string[]> {
  if (!redact || (!redact.allHeaders && redact.headers.length === 0)) return header;
  const out: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(header)) {
    const hide = redact.allHeaders || redact.headers.includes(name.toLowerCase());
    out[name] = hide ? values.map(redacted) : values;
  }
  return out;
}

/** `body` when the bytes are valid UTF-8, else `bodyBase64` (SPEC §0.2); redacted bodies show their hash. */
export function bodyFields(body: Buffer, redact: RedactSpec | undefined): { body?: string; bodyBase64?: string } {
  if (body.length === 0) return {};
  if (redact?.body) return { body: redacted(body) };
  // isUtf8, not "no U+FFFD after decoding": a valid body may contain U+FFFD itself.
  if (isUtf8(body)) return { body: body.toString("utf8") };
  return { bodyBase64: body.toString("base64") };
}

export function labelFields(labels: string[]): { label?: string; labels?: string[] } {
  return labels.length ? { label: labels[0], labels } : {};
}

export function flowFields(m: { flowControl?: MessageRecord["flowControl"] }): Record<string, unknown> {
  const fc = m.flowControl;
  if (!fc) return {};
  return {
    flowControlKey: fc.key,
    ...(fc.parallelism !== undefined ? { parallelism: fc.parallelism } : {}),
    ...(fc.rate !== undefined ? { rate: fc.rate, period: fc.periodSec ?? 1 } : {}),
  };
}

export function messageJson(m: MessageRecord): Record<string, unknown> {
  return {
    messageId: m.id,
    url: m.url,
    ...(m.topicName ? { topicName: m.topicName } : {}),
    ...(m.endpointName ? { endpointName: m.endpointName } : {}),
    method: m.method,
    header: shownHeaders(m.header, m.redact),
    ...bodyFields(m.body, m.redact),
    maxRetries: m.maxRetries,
    ...(m.retryDelay ? { retryDelayExpression: m.retryDelay } : {}),
    ...(m.timeoutMs !== undefined ? { timeout: Math.round(m.timeoutMs / 1000) } : {}),
    notBefore: m.notBeforeMs,
    createdAt: m.createdAtMs,
    ...(m.callback ? { callback: m.callback } : {}),
    ...(m.failureCallback ? { failureCallback: m.failureCallback } : {}),
    ...(m.queueName ? { queueName: m.queueName } : {}),
    ...(m.scheduleId ? { scheduleId: m.scheduleId } : {}),
    callerIP: m.callerIp,
    callerIp: m.callerIp,
    ...flowFields(m),
    ...labelFields(m.labels),
  };
}

function subHeaderMap(h: Record<string, string> | undefined): Record<string, string[]> | undefined {
  if (!h) return undefined;
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(h)) out[k] = [v];
  return out;
}

/** One log entry; bodies are base64 in logs (SPEC §0.2). */
export function logJson(e: StoredEvent): Record<string, unknown> {
  const m = e.message;
  const shownBody = m.redact?.body ? Buffer.from(redacted(m.body)) : m.body;
  return {
    time: e.timeMs,
    state: e.state,
    messageId: m.id,
    ...(e.nextDeliveryTimeMs !== undefined ? { nextDeliveryTime: e.nextDeliveryTimeMs } : {}),
    ...(e.error !== undefined ? { error: e.error } : {}),
    url: m.url,
    ...(m.topicName ? { topicName: m.topicName } : {}),
    ...(m.endpointName ? { endpointName: m.endpointName } : {}),
    ...(m.scheduleId ? { scheduleId: m.scheduleId } : {}),
    ...(m.queueName ? { queueName: m.queueName } : {}),
    header: shownHeaders(m.header, m.redact),
    ...(shownBody.length ? { body: shownBody.toString("base64") } : {}),
    ...(e.responseStatus !== undefined ? { responseStatus: e.responseStatus } : {}),
    ...(e.responseHeaders ? { responseHeaders: e.responseHeaders } : {}),
    ...(e.responseBody && e.responseBody.length ? { responseBody: e.responseBody.toString("base64") } : {}),
    ...(m.timeoutMs !== undefined ? { timeout: m.timeoutMs } : {}),
    method: m.method,
    ...(m.callback ? { callback: m.callback, callbackHeaders: subHeaderMap(m.callbackHeaders) ?? {} } : {}),
    ...(m.failureCallback
      ? { failureCallback: m.failureCallback, failureCallbackHeaders: subHeaderMap(m.failureCallbackHeaders) ?? {} }
      : {}),
    maxRetries: m.maxRetries,
    ...(m.retryDelay ? { retryDelayExpression: m.retryDelay } : {}),
    callerIP: m.callerIp,
    callerIp: m.callerIp,
    ...flowFields(m),
    ...labelFields(m.labels),
  };
}

export function dlqJson(d: DlqRecord): Record<string, unknown> {
  const resp = d.responseBody && d.responseBody.length ? bodyFields(d.responseBody, undefined) : {};
  return {
    ...messageJson(d.message),
    dlqId: d.dlqId,
    ...(d.responseStatus !== undefined ? { responseStatus: d.responseStatus } : {}),
    ...(d.responseHeaders ? { responseHeader: d.responseHeaders } : {}),
    ...(resp.body !== undefined ? { responseBody: resp.body } : {}),
    ...(resp.bodyBase64 !== undefined ? { responseBodyBase64: resp.bodyBase64 } : {}),
    ...(d.error !== undefined ? { error: d.error } : {}),
    createdAt: d.message.createdAtMs,
    failedAt: d.createdMs,
  };
}
