import { badRequest, HttpError } from "../errors.js";
import { parseDuration } from "./duration.js";
import { canonicalHeaderName } from "./header-names.js";
import { validateName } from "./names.js";
import { validateRetryDelay } from "./retry-delay.js";
import type { FlowControlSpec, RedactSpec, SubPublishHeaders } from "../model/message.js";

/** Request headers with lower-case names, as Node delivers them. */
export type HeaderBag = Record<string, string | string[] | undefined>;

/** The publish-family configuration of one message (SPEC §1), validated. */
export interface PublishConfig {
  method: string;
  /** Headers to deliver, canonical names. */
  header: Record<string, string[]>;
  delayMs?: number;
  notBeforeMs?: number;
  retries?: number;
  retryDelay?: string;
  timeoutMs?: number;
  callback?: string;
  callbackHeaders: SubPublishHeaders;
  failureCallback?: string;
  failureCallbackHeaders: SubPublishHeaders;
  dedupId?: string;
  contentBasedDedup: boolean;
  labels: string[];
  redact?: RedactSpec;
  flowControl?: FlowControlSpec;
}

export interface PublishLimits {
  maxRetries: number;
  maxDelayMs: number;
  maxTimeoutMs: number;
}

/**
 * Largest parallelism (of a queue or a flow-control key) and rate (per period) accepted anywhere: far above any
 * plan and any real destination, and small enough to be stored, compared and echoed exactly.
 */
export const MAX_PARALLELISM = 1_000_000;
export const MAX_RATE = 1_000_000;

/** SPEC §1 and the SDK's `HTTPMethods`: exactly these five, as the error message below says. */
const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);

/** Incoming headers never forwarded by `Upstash-Header-Forward: true` (hop-by-hop, ours, or the caller's credentials). */
const NOT_FORWARDED = new Set([
  "authorization",
  "host",
  "connection",
  "keep-alive",
  "content-length",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "proxy-authorization",
  "proxy-connection",
  "expect",
]);

/**
 * Headers never delivered even when asked for: ours (set on every delivery), and connection-level ones the HTTP
 * client manages itself and refuses to send (it would fail every attempt of the message).
 */
const RESERVED_DELIVERY_HEADERS = new Set([
  "upstash-signature",
  "upstash-message-id",
  "upstash-retried",
  "content-length",
  "host",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "expect",
  "te",
  "trailer",
  "proxy-connection",
]);

/** RFC 9110 token: what a header name may be made of. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Anything but HTAB, visible ASCII and obs-text: a line break here would be header injection. */
const BAD_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

function first(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/** Merges `upstash-*` query parameters under the headers (headers win), for webhook-style callers. */
export function withQueryConfig(headers: HeaderBag, queryConfig: Record<string, string>): HeaderBag {
  if (Object.keys(queryConfig).length === 0) return headers;
  const merged: HeaderBag = { ...headers };
  for (const [k, v] of Object.entries(queryConfig)) if (merged[k] === undefined) merged[k] = v;
  return merged;
}

/** Parses and validates every publish-family header; throws a 400 (or 412 over a limit) naming the header. */
export function parsePublishHeaders(h: HeaderBag, limits: PublishLimits): PublishConfig {
  const get = (name: string): string | undefined => {
    const v = first(h[name]);
    return v === undefined ? undefined : v.trim();
  };

  const method = (get("upstash-method") || "POST").toUpperCase();
  if (!METHODS.has(method)) throw badRequest(`invalid Upstash-Method "${get("upstash-method")}": use GET, POST, PUT, PATCH or DELETE`);

  const header: Record<string, string[]> = {};
  const add = (name: string, value: string | string[] | undefined): void => {
    if (value === undefined) return;
    if (RESERVED_DELIVERY_HEADERS.has(name)) return;
    // Batch items bring headers as JSON strings, which can hold what no HTTP request can carry: refuse them here
    // rather than store a message whose every attempt would fail.
    if (!HEADER_NAME.test(name)) throw badRequest(`invalid header name "${name}" to forward`);
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (BAD_HEADER_VALUE.test(v)) throw badRequest(`invalid value for header "${name}": control characters are not allowed`);
    }
    const key = canonicalHeaderName(name);
    (header[key] ??= []).push(...values);
  };
  const forwardAll = get("upstash-header-forward")?.toLowerCase() === "true";
  for (const [name, value] of Object.entries(h)) {
    if (name.startsWith("upstash-forward-")) {
      const target = name.slice("upstash-forward-".length);
      if (target) add(target, value);
    } else if (name === "content-type") {
      add(name, value);
    } else if (forwardAll && !name.startsWith("upstash-") && !NOT_FORWARDED.has(name)) {
      add(name, value);
    }
  }

  const cfg: PublishConfig = {
    method,
    header,
    callbackHeaders: subHeaders(h, "upstash-callback-"),
    failureCallbackHeaders: subHeaders(h, "upstash-failure-callback-"),
    contentBasedDedup: get("upstash-content-based-deduplication")?.toLowerCase() === "true",
    labels: [],
  };

  const delay = get("upstash-delay");
  if (delay) {
    cfg.delayMs = parseDuration(delay, "Upstash-Delay");
    if (cfg.delayMs > limits.maxDelayMs) throw overLimit("Upstash-Delay", "maxDelay", limits.maxDelayMs, "ms");
  }
  const notBefore = get("upstash-not-before");
  if (notBefore) {
    if (!/^\d{1,13}$/.test(notBefore)) throw badRequest(`invalid Upstash-Not-Before "${notBefore}": expected unix seconds`);
    cfg.notBeforeMs = Number(notBefore) * 1000;
    if (cfg.notBeforeMs - Date.now() > limits.maxDelayMs) throw overLimit("Upstash-Not-Before", "maxDelay", limits.maxDelayMs, "ms");
  }
  const retries = get("upstash-retries");
  if (retries !== undefined && retries !== "") {
    if (!/^\d+$/.test(retries)) throw badRequest(`invalid Upstash-Retries "${retries}": expected a non-negative integer`);
    cfg.retries = Number(retries);
    if (cfg.retries > limits.maxRetries) throw overLimit("Upstash-Retries", "maxRetries", limits.maxRetries);
  }
  const retryDelay = get("upstash-retry-delay");
  if (retryDelay) {
    // Evaluated for every retry the message may make, so a division by zero is refused now, not met later.
    validateRetryDelay(retryDelay, cfg.retries ?? limits.maxRetries);
    cfg.retryDelay = retryDelay;
  }
  const timeout = get("upstash-timeout");
  if (timeout) {
    cfg.timeoutMs = parseDuration(timeout, "Upstash-Timeout");
    if (cfg.timeoutMs <= 0) throw badRequest(`invalid Upstash-Timeout "${timeout}": must be positive`);
    if (cfg.timeoutMs > limits.maxTimeoutMs) throw overLimit("Upstash-Timeout", "maxTimeout", limits.maxTimeoutMs, "ms");
  }
  const callback = get("upstash-callback");
  if (callback) cfg.callback = validateCallbackUrl(callback, "Upstash-Callback");
  const failureCallback = get("upstash-failure-callback");
  if (failureCallback) cfg.failureCallback = validateCallbackUrl(failureCallback, "Upstash-Failure-Callback");

  const dedupId = get("upstash-deduplication-id");
  if (dedupId !== undefined) {
    if (dedupId === "" || dedupId.length > 500) throw badRequest("invalid Upstash-Deduplication-Id: must be 1 to 500 characters");
    cfg.dedupId = dedupId;
  }
  const label = get("upstash-label");
  if (label) {
    cfg.labels = [...new Set(label.split(",").map((l) => l.trim()).filter(Boolean))].map((l) => validateName(l, "Upstash-Label"));
  }
  const redact = get("upstash-redact-fields");
  if (redact) cfg.redact = parseRedact(redact);

  const fcKey = get("upstash-flow-control-key");
  const fcValue = get("upstash-flow-control-value");
  if (fcKey !== undefined || fcValue !== undefined) cfg.flowControl = parseFlowControl(fcKey, fcValue);

  // The callback messages are built only after an attempt, when a bad header could no longer be reported:
  // check their configuration now, exactly as it will be parsed then.
  validateSubHeaders(cfg.callbackHeaders, "Upstash-Callback-", limits);
  validateSubHeaders(cfg.failureCallbackHeaders, "Upstash-Failure-Callback-", limits);
  return cfg;
}

/** Parses the `Upstash-Callback-*` (or `-Failure-Callback-*`) configuration; a 4xx names the header as sent. */
function validateSubHeaders(sub: SubPublishHeaders, prefix: string, limits: PublishLimits): void {
  if (Object.keys(sub).length === 0) return;
  try {
    parsePublishHeaders({ ...sub, "content-type": "application/json" }, limits);
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    throw new HttpError(err.status, err.message.replace(/\bUpstash-(?!Callback-|Failure-Callback-)/g, prefix));
  }
}

/** Collects `<prefix>X` headers as `upstash-X`, so a callback is configured exactly like a publish. */
function subHeaders(h: HeaderBag, prefix: string): SubPublishHeaders {
  const out: SubPublishHeaders = {};
  for (const [name, value] of Object.entries(h)) {
    if (!name.startsWith(prefix) || value === undefined) continue;
    const rest = name.slice(prefix.length);
    if (rest) out[`upstash-${rest}`] = first(value) ?? "";
  }
  return out;
}

function validateCallbackUrl(value: string, what: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw badRequest(`invalid ${what} "${value}": not a URL`);
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || !u.host) {
    throw badRequest(`invalid ${what} "${value}": must be an http(s) URL`);
  }
  return value;
}

/** Accepts the SDK's `body,header,header[X]` and the docs' `body, headers`. */
export function parseRedact(value: string): RedactSpec {
  const spec: RedactSpec = { body: false, allHeaders: false, headers: [] };
  for (const raw of value.split(",")) {
    const part = raw.trim();
    if (!part) continue;
    const lower = part.toLowerCase();
    if (lower === "body") spec.body = true;
    else if (lower === "header" || lower === "headers") spec.allHeaders = true;
    else {
      const m = /^headers?\[([^\]]+)\]$/i.exec(part);
      if (!m) throw badRequest(`invalid Upstash-Redact-Fields part "${part}": use body, header or header[Name]`);
      spec.headers.push(m[1].trim().toLowerCase());
    }
  }
  return spec;
}

/** Parses `Upstash-Flow-Control-Value` leniently: `parallelism=3, rate=10, period=1m`, any order, spaces or none. */
export function parseFlowControl(key: string | undefined, value: string | undefined): FlowControlSpec {
  if (!key) throw badRequest("Upstash-Flow-Control-Key is required when Upstash-Flow-Control-Value is given");
  validateName(key, "Upstash-Flow-Control-Key");
  if (!value) throw badRequest("Upstash-Flow-Control-Value is required with Upstash-Flow-Control-Key, e.g. parallelism=3, rate=10, period=1m");
  const spec: FlowControlSpec = { key };
  for (const raw of value.split(/[,;]/)) {
    const part = raw.trim();
    if (!part) continue;
    const m = /^([a-zA-Z]+)\s*=\s*(.+)$/.exec(part);
    if (!m) throw badFlowValue(value);
    const name = m[1].toLowerCase();
    const v = m[2].trim();
    if (name === "parallelism" || name === "rate" || name === "ratepersecond") {
      const max = name === "parallelism" ? MAX_PARALLELISM : MAX_RATE;
      if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) {
        throw badRequest(`invalid Upstash-Flow-Control-Value: ${m[1]} must be an integer from 1 to ${max}, got "${v}"`);
      }
      if (name === "parallelism") spec.parallelism = Number(v);
      else spec.rate = Number(v);
    } else if (name === "period") {
      const ms = parseDuration(v, "Upstash-Flow-Control-Value period");
      if (ms < 1000 || ms % 1000 !== 0) throw badRequest(`invalid Upstash-Flow-Control-Value: period must be whole seconds ≥ 1s, got "${v}"`);
      if (ms > 7 * 86_400_000) throw badRequest(`invalid Upstash-Flow-Control-Value: period must be at most 1 week, got "${v}"`);
      spec.periodSec = ms / 1000;
    } else {
      throw badFlowValue(value);
    }
  }
  if (spec.parallelism === undefined && spec.rate === undefined) throw badFlowValue(value);
  return spec;
}

function badFlowValue(value: string): HttpError {
  return badRequest(
    `invalid Upstash-Flow-Control-Value "${value}": should be either rate=X or parallelism=Y, or both as comma-separated values (period=Z optional)`,
  );
}

function overLimit(header: string, setting: string, max: number, unit = ""): HttpError {
  return new HttpError(412, `${header} exceeds the configured limit ${setting} (${max}${unit})`);
}
