import type { FastifyRequest } from "fastify";
import { badRequest } from "../errors.js";
import type { Query } from "./query.js";

/**
 * The query parameters each list and bulk endpoint reads (DECISIONS #20): what the installed SDKs send
 * (`@upstash/qstash`, `@upstash/workflow`), the openapi references, and our documented extras. Anything else is a
 * 400 naming it: a parameter that was dropped would silently widen the answer, or the items a bulk call acts on.
 * The `[]` spellings are the ones some HTTP clients use for repeated keys; they are read wherever listed.
 */
export interface EndpointParams {
  /** Parameters that name items exactly; a selection by them takes no filter (exclusive, SPEC §2.2). */
  readonly ids: readonly string[];
  /** Parameters that narrow the selection: several values are OR-ed, separate filters AND-ed. */
  readonly filters: readonly string[];
  /** Paging and switches, which select nothing by themselves. */
  readonly options: readonly string[];
}

/** Read on every endpoint: the token of callers that cannot send a header (SPEC §0.1). */
const AUTH = ["qstash_token"];

const MESSAGE_FILTERS = [
  "url", "topicName", "urlGroup", "endpointName", "scheduleId", "queueName", "label", "flowControlKey", "callerIp",
  "callerIP", "host", "path", "fromDate", "toDate", "messageId",
];

const WORKFLOW_DLQ_FILTERS = [
  "workflowUrl", "workflowUrl[]", "url", "workflowRunId", "workflowRunId[]", "workflowCreatedAt", "label", "label[]",
  "failureFunctionState", "failureFunctionState[]", "failureCallbackState", "callerIp", "callerIP", "callerIp[]",
  "flowControlKey", "flowControlKey[]", "fromDate", "toDate", "responseStatus",
];

const RUN_FILTERS = [
  "workflowUrl", "workflowUrl[]", "label", "label[]", "fromDate", "toDate", "callerIp", "callerIP", "callerIp[]",
  "flowControlKey", "flowControlKey[]", "host", "host[]", "path", "path[]",
];

const MESSAGE_IDS = ["messageIds", "messageIds[]"];
const DLQ_IDS = ["dlqIds", "dlqIds[]"];
const NOTHING: EndpointParams = { ids: [], filters: [], options: [] };

export const PARAMS = {
  /** `DELETE /v2/messages`. */
  messageCancel: { ids: MESSAGE_IDS, filters: MESSAGE_FILTERS, options: ["count", "cursor", "all"] },
  /** `GET /v2/events`, `GET /v2/logs`. */
  logs: { ids: MESSAGE_IDS, filters: [...MESSAGE_FILTERS, "state"], options: ["count", "cursor", "order"] },
  /** `GET /v2/dlq` (plain entries; `source=workflow` switches to the workflow DLQ). */
  dlqList: { ids: DLQ_IDS, filters: [...MESSAGE_FILTERS, "responseStatus"], options: ["count", "cursor", "order", "source"] },
  /** `DELETE /v2/dlq`, `POST /v2/dlq/retry`. */
  dlqBulk: { ids: DLQ_IDS, filters: [...MESSAGE_FILTERS, "responseStatus"], options: ["count", "cursor", "order", "source", "all"] },
  /** `GET /v2/workflows/dlq`, `GET /v2/dlq?source=workflow`. */
  workflowDlqList: { ids: DLQ_IDS, filters: WORKFLOW_DLQ_FILTERS, options: ["count", "cursor", "order", "source"] },
  /** `DELETE /v2/workflows/dlq` (and `/v2/dlq?source=workflow`), `POST /v2/workflows/dlq/resume|restart`. */
  workflowDlqBulk: { ids: DLQ_IDS, filters: WORKFLOW_DLQ_FILTERS, options: ["count", "cursor", "order", "source", "all"] },
  /** `DELETE /v2/workflows/runs`: the SDK sends `cursor` beside its filters; cancelled runs leave the selection, so it is not needed. */
  runCancel: {
    ids: ["workflowRunIds", "workflowRunIds[]"],
    filters: RUN_FILTERS,
    options: ["count", "cursor", "all", "workflowUrlExactMatch"],
  },
  /** `GET /v2/workflows/logs`, `GET /v2/workflows/events?groupBy=workflowRunId`: runs with their steps. */
  runLogs: {
    ids: [],
    filters: [...RUN_FILTERS, "workflowRunId", "workflowRunIds", "workflowRunIds[]", "workflowCreatedAt", "workflowRuns", "state", "messageId"],
    options: ["count", "cursor", "groupBy", "workflowUrlExactMatch", "trimBody"],
  },
  /** `GET /v2/workflows/events` without `groupBy`: the state changes of workflow messages. */
  workflowEvents: { ids: MESSAGE_IDS, filters: [...MESSAGE_FILTERS, "state", "workflowRunId"], options: ["count", "cursor", "order", "groupBy", "trimBody"] },
  /** `GET /v2/schedules`, `GET /v2/queues`, `GET /v2/topics`. */
  none: NOTHING,
  /** `GET /v2/flowControl`. */
  flowControlList: { ids: [], filters: [], options: ["search"] },
} satisfies Record<string, EndpointParams>;

/** The request's query, once every parameter in it is one `params` reads; otherwise a 400 naming the others. */
export function knownQuery(req: FastifyRequest, params: EndpointParams): Query {
  const q = (req.query ?? {}) as Query;
  const known = [...params.ids, ...params.filters, ...params.options];
  const unknown = Object.keys(q).filter((name) => !known.includes(name) && !AUTH.includes(name));
  if (unknown.length) {
    const route = `${req.method} ${req.routeOptions.url ?? req.url.split("?", 1)[0]}`;
    throw badRequest(
      `unknown query parameter${unknown.length > 1 ? "s" : ""} ${unknown.map((n) => `"${n}"`).join(", ")} for ${route}` +
        (known.length ? `: use ${known.join(", ")}` : ": it takes none"),
    );
  }
  return q;
}
