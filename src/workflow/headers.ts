import type { HeaderBag } from "../protocol/publish-headers.js";
import type { CallType } from "../model/message.js";

/** The raw `Upstash-Workflow-*` headers of a publish that belongs to a workflow run (SPEC §5.1). */
export interface WorkflowHeaders {
  runId: string;
  init: boolean;
  callType: CallType;
  /** The workflow endpoint (run identity); the destination when absent. */
  url?: string;
  invoke: boolean;
  /** The SDK re-triggering a run that `/v2/trigger` with `Upstash-Workflow-Unknown-Sdk` started. */
  triggerBySdk: boolean;
  features: Set<string>;
}

const CALL_TYPES = new Set<CallType>(["step", "toCallback", "fromCallback", "failureCall"]);

function get(h: HeaderBag, name: string): string | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v[v.length - 1] : v).trim();
}

/** The workflow part of a publish's headers, or undefined for an ordinary message. */
export function workflowHeadersOf(h: HeaderBag): WorkflowHeaders | undefined {
  const runId = get(h, "upstash-workflow-runid");
  if (!runId) return undefined;
  const callType = (get(h, "upstash-workflow-calltype") || "step") as CallType;
  return {
    runId,
    init: get(h, "upstash-workflow-init")?.toLowerCase() === "true",
    callType: CALL_TYPES.has(callType) ? callType : "step",
    url: get(h, "upstash-workflow-url") || undefined,
    invoke: get(h, "upstash-workflow-invoke")?.toLowerCase() === "true",
    triggerBySdk: get(h, "upstash-workflow-trigger-by-sdk")?.toLowerCase() === "true",
    features: new Set(
      (get(h, "upstash-feature-set") ?? "")
        .split(",")
        .map((f) => f.trim())
        .filter(Boolean),
    ),
  };
}

/**
 * Trigger headers every later message of the run to the workflow URL inherits (`WF_TriggerOnConfig`, and the
 * forwarded user headers the SDK no longer repeats on steps). A message's own headers win over these.
 */
const INHERITED = new Set([
  "upstash-retries",
  "upstash-retry-delay",
  "upstash-flow-control-key",
  "upstash-flow-control-value",
  "upstash-timeout",
  "upstash-label",
  "upstash-redact-fields",
]);

/**
 * Forwarded headers a run never re-sends: a first invocation called directly re-triggers itself forwarding every
 * header it received (SPEC §5.12), including the delivery's own and the unknown-SDK marker, which re-sent would
 * make the endpoint re-trigger again.
 */
export const NOT_INHERITED = new Set([
  "upstash-forward-upstash-workflow-unknown-sdk",
  "upstash-forward-upstash-workflow-runid",
  "upstash-forward-upstash-workflow-createdat",
  "upstash-forward-upstash-signature",
  "upstash-forward-upstash-message-id",
  "upstash-forward-upstash-retried",
  "upstash-forward-upstash-caller-ip",
  "upstash-forward-upstash-label",
  "upstash-forward-host",
  "upstash-forward-content-length",
  "upstash-forward-connection",
  "upstash-forward-accept-encoding",
  "upstash-forward-user-agent",
  "upstash-forward-transfer-encoding",
]);

/** The trigger headers a run keeps for its later messages. */
export function inheritedHeaders(h: HeaderBag): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(h)) {
    if (!INHERITED.has(name) && !name.startsWith("upstash-forward-")) continue;
    if (NOT_INHERITED.has(name)) continue;
    const v = get(h, name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/**
 * The user's own forwarded headers among a run's inherited ones: re-sent on callback deliveries to the workflow
 * URL, which must not carry the SDK's protocol headers (a callback body is not a step list, SPEC §5.2).
 */
export function userForwardHeaders(inherit: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(inherit)) {
    if (name.startsWith("upstash-forward-") && !name.startsWith("upstash-forward-upstash-workflow-")) out[name] = v;
  }
  return out;
}

/** `{Name: [values]}` (as the SDK sends waiter and invoker headers) as a lower-case publish header bag. */
export function flattenHeaders(h: Record<string, string[] | string> | undefined): HeaderBag {
  const out: HeaderBag = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    const value = Array.isArray(v) ? v[0] : v;
    if (typeof value === "string") out[k.toLowerCase()] = value;
  }
  return out;
}
