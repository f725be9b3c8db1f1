import { badRequest } from "../errors.js";
import type { MessageFilter } from "../store/store.js";
import type { LogState } from "../model/log.js";
import type { RunFilter } from "../model/run.js";

export type Query = Record<string, string | string[] | undefined>;

/** All values of a query parameter: repeated keys and comma-joined values both count (SPEC §0.1). */
export function list(q: Query, ...names: string[]): string[] | undefined {
  const out: string[] = [];
  for (const name of names) {
    const v = q[name];
    if (v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) {
      for (const part of item.split(",")) if (part.trim()) out.push(part.trim());
    }
  }
  return out.length ? out : undefined;
}

export function one(q: Query, name: string): string | undefined {
  const v = q[name];
  const s = Array.isArray(v) ? v[v.length - 1] : v;
  return s === undefined || s === "" ? undefined : s;
}

/** An integer query parameter within [min, max]; absent gives `dflt`, above `max` is read as `max`. */
export function intParam(q: Query, name: string, dflt: number, min: number, max: number): number {
  const n = integer(q, name);
  if (n === undefined) return dflt;
  if (n < min) throw badRequest(`invalid ${name} ${n}: must be at least ${min}`);
  return Math.min(n, max);
}

/**
 * `count` of a bulk action: how many items one call may touch. Out of [1, max] is refused rather than clamped,
 * so a caller never believes a call did more (or less) than it did.
 */
export function countParam(q: Query, dflt: number, max: number): number {
  const n = integer(q, "count");
  if (n === undefined) return dflt;
  if (n < 1 || n > max) throw badRequest(`invalid count ${n}: must be between 1 and ${max}`);
  return n;
}

function integer(q: Query, name: string): number | undefined {
  const s = one(q, name);
  if (s === undefined) return undefined;
  if (!/^-?\d+$/.test(s)) throw badRequest(`invalid ${name} "${s}": expected an integer`);
  return Number(s);
}

/** All values of a parameter, without splitting on commas (URLs may hold them). */
export function allValues(q: Query, ...names: string[]): string[] | undefined {
  const out: string[] = [];
  for (const name of names) {
    const v = q[name];
    for (const item of v === undefined ? [] : Array.isArray(v) ? v : [v]) if (item.trim()) out.push(item.trim());
  }
  return out.length ? out : undefined;
}

/**
 * Destination URLs: repeated, or comma-joined as the SDKs' multi-value filters are; but a comma splits only where
 * another http(s) URL begins, so a URL holding commas (`?ids=1,2`) stays whole.
 */
export function urlList(q: Query, name: string): string[] | undefined {
  const parts = allValues(q, name)?.flatMap((v) => v.split(/,(?=\s*https?:\/\/)/i).map((u) => u.trim()));
  const urls = parts?.filter(Boolean);
  return urls?.length ? urls : undefined;
}

/** A time in unix milliseconds. */
export function dateParam(q: Query, name: string): number | undefined {
  const s = one(q, name);
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s)) throw badRequest(`invalid ${name} "${s}": expected unix milliseconds`);
  return Number(s);
}

const LOG_STATES: Record<string, LogState[]> = {
  CREATED: ["CREATED"],
  ACTIVE: ["ACTIVE"],
  RETRY: ["RETRY"],
  ERROR: ["ERROR"],
  DELIVERED: ["DELIVERED"],
  FAILED: ["FAILED"],
  CANCEL_REQUESTED: ["CANCEL_REQUESTED"],
  CANCELLED: ["CANCELLED"],
  CANCELED: ["CANCELLED"],
  IN_PROGRESS: ["ACTIVE", "RETRY", "ERROR"],
};

/** The selection shared by logs, bulk cancel and the DLQ; `topicName` and `urlGroup` are the same filter. */
export function parseFilter(q: Query): MessageFilter {
  const f: MessageFilter = {
    messageIds: list(q, "messageIds", "messageIds[]"),
    dlqIds: list(q, "dlqIds", "dlqIds[]"),
    messageId: one(q, "messageId"),
    url: urlList(q, "url"),
    topicName: list(q, "topicName", "urlGroup"),
    endpointName: list(q, "endpointName"),
    scheduleId: list(q, "scheduleId"),
    queueName: list(q, "queueName"),
    label: list(q, "label"),
    flowControlKey: list(q, "flowControlKey"),
    callerIp: list(q, "callerIp", "callerIP"),
    host: list(q, "host"),
    path: list(q, "path"),
    fromDate: dateParam(q, "fromDate"),
    toDate: dateParam(q, "toDate"),
  };
  const states = list(q, "state");
  if (states) {
    f.state = states.flatMap((s) => {
      const mapped = LOG_STATES[s.toUpperCase()];
      if (!mapped) throw badRequest(`invalid state "${s}": use one of ${Object.keys(LOG_STATES).join(", ")}`);
      return mapped;
    });
  }
  const statuses = list(q, "responseStatus");
  if (statuses) {
    f.responseStatus = statuses.map((s) => {
      if (!/^\d{1,3}$/.test(s)) throw badRequest(`invalid responseStatus "${s}": expected an HTTP status code`);
      return Number(s);
    });
  }
  return f;
}

/**
 * For bulk cancel / delete / retry: a filter present with no value (`?label=`, `?messageIds=`) would otherwise be
 * dropped and widen the selection to everything the user has, so it is a 400 instead.
 */
export function rejectEmptyFilters(q: Query, names: readonly string[]): void {
  for (const name of names) {
    const v = q[name];
    if (v === undefined) continue;
    const values = Array.isArray(v) ? v : [v];
    if (values.every((item) => item.split(",").every((part) => part.trim() === ""))) {
      throw badRequest(`filter ${name} has no value: give one, or leave the filter out`);
    }
  }
}

/** Cursors are opaque strings of digits here; anything else is a client error, not an empty page. */
export function cursorParam(q: Query): string | undefined {
  const c = one(q, "cursor");
  if (c === undefined) return undefined;
  if (!/^\d{1,19}$/.test(c)) throw badRequest(`invalid cursor "${c}"`);
  return c;
}

export function orderParam(q: Query): boolean {
  const o = one(q, "order");
  if (o === undefined) return false;
  const lower = o.toLowerCase();
  if (lower === "asc" || lower === "earliestfirst") return true;
  if (lower === "desc" || lower === "latestfirst") return false;
  throw badRequest(`invalid order "${o}": use asc or desc`);
}

/** The run selection shared by logs and bulk cancel (SPEC §2.10); the logs read `state` themselves. */
export function parseRunFilter(q: Query, urlMode: "exact" | "prefix"): RunFilter {
  const urls = allValues(q, "workflowUrl", "workflowUrl[]");
  const exact = urlMode === "exact" || one(q, "workflowUrlExactMatch") === "true";
  const f: RunFilter = {
    runIds: list(q, "workflowRunIds", "workflowRunIds[]", "workflowRunId"),
    url: exact ? urls : undefined,
    urlPrefix: exact ? undefined : urls,
    label: list(q, "label", "label[]"),
    fromDate: dateParam(q, "fromDate"),
    toDate: dateParam(q, "toDate"),
    createdAt: dateParam(q, "workflowCreatedAt"),
    callerIp: list(q, "callerIp", "callerIP", "callerIp[]"),
    flowControlKey: list(q, "flowControlKey", "flowControlKey[]"),
    host: list(q, "host", "host[]"),
    path: allValues(q, "path", "path[]"),
  };
  return f;
}

const FAILURE_STATES = new Set(["CALLBACK_INPROGRESS", "CALLBACK_SUCCESS", "CALLBACK_FAIL", "CALLBACK_CANCELED"]);

/**
 * The workflow DLQ selection (SPEC §2.10, the SDK's `WorkflowDLQListFilters`): `dlqIds` alone, or filters on the
 * entry (fromDate/toDate = when it entered the DLQ, responseStatus, label, flowControlKey, workflowRunId) and on
 * its run (workflowUrl — `url` is the SDK's deprecated name for it —, workflowCreatedAt, callerIp,
 * failureFunctionState). Which parameters exist, and that none is empty on a bulk action, is checked before.
 */
export function parseWorkflowDlqFilter(q: Query): MessageFilter {
  const states = list(q, "failureFunctionState", "failureFunctionState[]", "failureCallbackState")?.map((s) => {
    const st = s.toUpperCase();
    if (!FAILURE_STATES.has(st)) throw badRequest(`invalid failureFunctionState "${s}": use ${[...FAILURE_STATES].join(", ")}`);
    return st;
  });
  const statuses = list(q, "responseStatus")?.map((s) => {
    if (!/^\d{1,3}$/.test(s)) throw badRequest(`invalid responseStatus "${s}": expected an HTTP status code`);
    return Number(s);
  });
  return {
    dlqIds: list(q, "dlqIds", "dlqIds[]"),
    runId: list(q, "workflowRunId", "workflowRunId[]"),
    label: list(q, "label", "label[]"),
    flowControlKey: list(q, "flowControlKey", "flowControlKey[]"),
    fromDate: dateParam(q, "fromDate"),
    toDate: dateParam(q, "toDate"),
    responseStatus: statuses,
    workflow: true,
    failedRun: {
      url: allValues(q, "workflowUrl", "workflowUrl[]", "url"),
      createdAt: dateParam(q, "workflowCreatedAt"),
      callerIp: list(q, "callerIp", "callerIP", "callerIp[]"),
      failureFunctionState: states,
    },
  };
}
