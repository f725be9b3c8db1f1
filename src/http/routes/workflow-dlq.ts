import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Engine } from "../../engine/engine.js";
import { badRequest, notFound } from "../../errors.js";
import type { HeaderBag } from "../../protocol/publish-headers.js";
import type { MessageFilter, Page } from "../../store/store.js";
import { parseOverrides, WorkflowDlq, workflowDlqJson, type FailedRun, type PreparedRun } from "../../workflow/dlq.js";
import type { AppDeps } from "../app.js";
import { bulkScope, type BulkScope } from "../bulk-scope.js";
import { knownQuery, PARAMS } from "../endpoint-params.js";
import { allValues, cursorParam, dateParam, intParam, list, orderParam, type Query } from "../query.js";

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

/** A page of a bulk selection: every given id, or `count` entries after the cursor. */
function bulkPage({ q, ids, count }: BulkScope): Page {
  return ids ? { count } : { cursor: cursorParam(q), count, asc: orderParam(q) };
}

/** The bulk selection of a delete, resume or restart; workflow DLQ routes do not take `host` or `path`. */
function bulkSelection(req: FastifyRequest): { scope: BulkScope; filter: MessageFilter } {
  rejectHostPath(req.query as Query);
  const scope = bulkScope(req, PARAMS.workflowDlqBulk, "workflow DLQ entry");
  return { scope, filter: parseWorkflowDlqFilter(scope.q) };
}

/** Named apart from other unknown parameters: they are filters elsewhere, so the caller may expect them here. */
function rejectHostPath(q: Query): void {
  for (const name of ["host", "path", "host[]", "path[]"]) {
    if (q[name] !== undefined) throw badRequest(`filter ${name.replace("[]", "")} is not supported by the workflow DLQ`);
  }
}

const withCursor = (cursor: string | undefined): { cursor?: string } => (cursor ? { cursor } : {});

/** `GET /v2/workflows/dlq` and the SDK's `GET /v2/dlq?source=workflow`: `{messages, cursor?}`. */
export async function listWorkflowDlq(engine: Engine, req: FastifyRequest): Promise<Record<string, unknown>> {
  rejectHostPath(req.query as Query);
  const q = knownQuery(req, PARAMS.workflowDlqList);
  const filter = parseWorkflowDlqFilter(q);
  const ids = filter.dlqIds?.length;
  const page = await new WorkflowDlq(engine).list(
    req.userId,
    filter,
    ids ? { count: ids } : { cursor: cursorParam(q), count: intParam(q, "count", 100, 1, 100), asc: orderParam(q) },
  );
  return { messages: page.items.map(workflowDlqJson), ...withCursor(page.cursor) };
}

/** `DELETE /v2/workflows/dlq` (and `DELETE /v2/dlq?source=workflow`): ids, filters, or everything (`?count=100`). */
export async function deleteWorkflowDlq(engine: Engine, req: FastifyRequest): Promise<Record<string, unknown>> {
  const { scope, filter } = bulkSelection(req);
  const dlq = new WorkflowDlq(engine);
  const page = await dlq.list(req.userId, filter, bulkPage(scope));
  const deleted = await dlq.delete(req.userId, page.items.map((f) => f.entry.dlqId));
  return { deleted, ...withCursor(page.cursor) };
}

/** The workflow DLQ (SPEC §2.10, §5.11): list, get, delete, resume, restart, and the failure callback. */
export function workflowDlqRoutes({ engine, config }: AppDeps) {
  const dlq = new WorkflowDlq(engine);

  type Action = "resume" | "restart";
  const prepare = (action: Action, found: FailedRun, req: FastifyRequest): Promise<PreparedRun> => {
    const o = parseOverrides(req.headers as HeaderBag, config.limits);
    return action === "resume" ? dlq.prepareResume(found, o, req.ip) : dlq.prepareRestart(found, o, req.ip);
  };

  /** Bulk resume or restart: the selected entries (ids must all exist), each made a new run once. */
  async function bulk(action: Action, req: FastifyRequest): Promise<Record<string, unknown>> {
    // Bad override headers refuse the call before anything is selected or changed.
    parseOverrides(req.headers as HeaderBag, config.limits);
    const { scope, filter } = bulkSelection(req);
    const page = await dlq.list(req.userId, filter, bulkPage(scope));
    if (filter.dlqIds?.length) {
      const found = new Set(page.items.map((f) => f.entry.dlqId));
      const missing = filter.dlqIds.filter((id) => !found.has(id));
      if (missing.length) throw notFound(`workflow DLQ entries not found: ${missing.join(", ")}`);
    }
    const prepared: PreparedRun[] = [];
    for (const found of page.items) {
      try {
        prepared.push(await prepare(action, found, req));
      } catch (err) {
        // Selected by ids, a run that cannot be resumed is the caller's error; selected by filter it is skipped,
        // so one such entry cannot block every later call.
        if (filter.dlqIds?.length) throw err;
      }
    }
    const done = await dlq.commit(prepared);
    // Every given entry was resumed or deleted by someone else in the meantime.
    if (filter.dlqIds?.length && done.length === 0) throw notFound(`workflow DLQ entries not found: ${filter.dlqIds.join(", ")}`);
    return {
      workflowRuns: done.map((p) => ({ workflowRunId: p.workflowRunId, workflowCreatedAt: p.workflowCreatedAt })),
      ...withCursor(page.cursor),
    };
  }

  /** Resume or restart of one entry: `{workflowRunId, workflowCreatedAt}`; 404 if it is gone, also meanwhile. */
  async function single(action: Action, req: FastifyRequest<{ Params: { dlqId: string } }>): Promise<Record<string, unknown>> {
    const found = await dlq.require(req.userId, req.params.dlqId);
    const [done] = await dlq.commit([await prepare(action, found, req)]);
    if (!done) throw notFound(`workflow DLQ entry ${req.params.dlqId} not found`);
    return { workflowRunId: done.workflowRunId, workflowCreatedAt: done.workflowCreatedAt };
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get("/v2/workflows/dlq", (req) => listWorkflowDlq(engine, req));
    app.delete("/v2/workflows/dlq", (req) => deleteWorkflowDlq(engine, req));

    app.get<{ Params: { dlqId: string } }>("/v2/workflows/dlq/:dlqId", async (req) => {
      return workflowDlqJson(await dlq.require(req.userId, req.params.dlqId));
    });

    app.delete<{ Params: { dlqId: string } }>("/v2/workflows/dlq/:dlqId", async (req) => {
      const { entry } = await dlq.require(req.userId, req.params.dlqId);
      const deleted = await dlq.delete(req.userId, [entry.dlqId]);
      if (!deleted) throw notFound(`workflow DLQ entry ${req.params.dlqId} not found`);
      return { deleted };
    });

    app.post("/v2/workflows/dlq/resume", (req) => bulk("resume", req));
    app.post("/v2/workflows/dlq/restart", (req) => bulk("restart", req));
    app.post<{ Params: { dlqId: string } }>("/v2/workflows/dlq/resume/:dlqId", (req) => single("resume", req));
    app.post<{ Params: { dlqId: string } }>("/v2/workflows/dlq/restart/:dlqId", (req) => single("restart", req));

    app.post<{ Params: { dlqId: string } }>("/v2/workflows/dlq/callback/:dlqId", async (req) => {
      const run = await dlq.retryFailureCallback(req.userId, req.params.dlqId);
      return { workflowRunId: run.runId, workflowCreatedAt: run.createdAtMs };
    });

    // The vendor's OpenAPI answers a cancelled callback with a bare 302 (no body, no Location).
    app.delete<{ Params: { dlqId: string } }>("/v2/workflows/dlq/callback/:dlqId", async (req, reply) => {
      await dlq.cancelFailureCallback(req.userId, req.params.dlqId);
      return reply.code(302).send();
    });
  };
}
