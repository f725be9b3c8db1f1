import type { FastifyInstance } from "fastify";
import { badRequest } from "../../errors.js";
import { runLog, workflowEvent } from "../../workflow/logs.js";
import type { RunRecord } from "../../workflow/types.js";
import type { AppDeps } from "../app.js";
import { knownQuery, PARAMS } from "../endpoint-params.js";
import { cursorParam, intParam, one, orderParam, parseFilter, type Query } from "../query.js";
import { parseRunFilter } from "./workflow-runs.js";

/**
 * GET /v2/workflows/events and /v2/workflows/logs (DECISIONS #2): runs grouped with their steps
 * (`groupBy=workflowRunId`, what the SDK's `client.logs` sends) or, without it, the state changes of workflow messages.
 */
export function workflowLogRoutes({ engine }: AppDeps) {
  const store = engine.store;

  return async function plugin(app: FastifyInstance): Promise<void> {
    for (const path of ["/v2/workflows/events", "/v2/workflows/logs"]) {
      app.get(path, async (req) => {
        const grouped = one(req.query as Query, "groupBy") === "workflowRunId" || path.endsWith("/logs");
        if (!grouped) return eventMode(req.userId, knownQuery(req, PARAMS.workflowEvents));
        const q = knownQuery(req, PARAMS.runLogs);
        const filter = parseRunFilter(q, "exact");
        const messageId = one(q, "messageId");
        if (messageId) {
          const m = await store.getMessage(req.userId, messageId);
          if (!m?.workflow) return { runs: [] };
          filter.runIds = [...(filter.runIds ?? []), m.workflow.runId];
        }
        const cursor = one(q, "cursor");
        if (cursor !== undefined && !/^\d+_[A-Za-z0-9_.:-]+$/.test(cursor)) throw badRequest(`invalid cursor "${cursor}"`);
        const page = await store.listRuns(req.userId, filter, { cursor, count: intParam(q, "count", 10, 1, 100) });
        const now = engine.clock.now();
        const runs = [];
        for (const run of page.items) {
          const [entries, messages, waiters] = await Promise.all([
            store.getRunEntries(req.userId, run.runId),
            store.listRunMessages(req.userId, run.runId),
            run.state === "RUN_STARTED" ? store.listRunWaiters(req.userId, run.runId) : [],
          ]);
          runs.push(runLog(run, entries, messages, now, waiters));
        }
        return { ...(page.cursor ? { cursor: page.cursor } : {}), runs };
      });
    }

    async function eventMode(userId: string, q: Query) {
      const filter = parseFilter(q);
      filter.workflow = true;
      const runId = one(q, "workflowRunId");
      if (runId) filter.runId = [runId];
      const page = await store.listEvents(userId, filter, {
        cursor: cursorParam(q),
        count: intParam(q, "count", 100, 1, 1000),
        asc: orderParam(q),
      });
      const runs = new Map<string, RunRecord | undefined>();
      const events = [];
      for (const item of page.items) {
        const id = item.message.workflow!.runId;
        if (!runs.has(id)) runs.set(id, await store.getRun(userId, id));
        events.push(workflowEvent(runs.get(id), item.message, item));
      }
      return { ...(page.cursor ? { cursor: page.cursor } : {}), events };
    }
  };
}
