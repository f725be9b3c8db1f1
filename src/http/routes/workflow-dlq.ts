import type { FastifyInstance, FastifyRequest } from "fastify";
import { notFound } from "../../errors.js";
import type { HeaderBag } from "../../protocol/publish-headers.js";
import { parseOverrides, workflowDlqJson, type FailedRun, type PreparedRun } from "../../workflow/dlq.js";
import type { AppDeps } from "../request.js";
import { bulkPage, bulkSelection, deleteWorkflowDlq, listWorkflowDlq, withCursor } from "../workflow-dlq-requests.js";

/** The workflow DLQ (SPEC §2.10, §5.11): list, get, delete, resume, restart, and the failure callback. */
export function workflowDlqRoutes({ workflowDlq: dlq, config }: AppDeps) {

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
    app.get("/v2/workflows/dlq", (req) => listWorkflowDlq(dlq, req));
    app.delete("/v2/workflows/dlq", (req) => deleteWorkflowDlq(dlq, req));

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
