import type { FastifyInstance } from "fastify";
import { badRequest } from "../../errors.js";
import { runLog, workflowEvent } from "../../workflow/logs.js";
import { trimBodies } from "../../workflow/trim-bodies.js";
import type { AppDeps } from "../request.js";
import { knownQuery, PARAMS } from "../endpoint-params.js";
import { cursorParam, intParam, list, one, orderParam, parseFilter, parseRunFilter, type Query } from "../query.js";
import type { RunFilter, RunRecord, RunState } from "../../model/run.js";

/** How many pages of runs one logs request reads at most while filters the store cannot apply drop runs. */
const MAX_SCANNED_PAGES = 10;

const RUN_STATES = new Set(["RUN_STARTED", "RUN_SUCCESS", "RUN_FAILED", "RUN_CANCELED"]);
const STEP_STATES = new Set(["STEP_SUCCESS", "STEP_RETRY", "STEP_FAILED", "STEP_PROGRESS", "STEP_CANCELED"]);

/**
 * `state`: run states (`RUN_*`) and, as the vendor's OpenAPI lists them, step states (`STEP_*`: runs with a step
 * in that state). Several values are OR-ed; `CANCELLED` is read as `CANCELED` (DECISIONS #5).
 */
function parseStates(q: Query): { run?: RunState[]; step?: Set<string> } {
  const run: RunState[] = [];
  const step = new Set<string>();
  for (const s of list(q, "state") ?? []) {
    const st = s.toUpperCase().replace("CANCELLED", "CANCELED");
    if (RUN_STATES.has(st)) run.push(st as RunState);
    else if (STEP_STATES.has(st)) step.add(st);
    else throw badRequest(`invalid state "${s}": use ${[...RUN_STATES, ...STEP_STATES].join(", ")}`);
  }
  return { run: run.length ? run : undefined, step: step.size ? step : undefined };
}

/** A run is in a state filter when it is in one of the run states or has a step in one of the step states. */
function matchesStates(run: RunRecord, log: Record<string, unknown>, runStates: RunState[] | undefined, stepStates: Set<string>): boolean {
  if (runStates?.includes(run.state)) return true;
  const groups = log.steps as { steps: { state?: string }[] }[];
  return groups.some((g) => g.steps.some((s) => s.state !== undefined && stepStates.has(s.state)));
}

/** `workflowRuns=ID@TS,…`: each run id with the creation times (unix ms) asked for. */
function parseRunPairs(q: Query): Map<string, Set<number>> | undefined {
  const items = list(q, "workflowRuns");
  if (!items) return undefined;
  const pairs = new Map<string, Set<number>>();
  for (const item of items) {
    const at = item.lastIndexOf("@");
    const id = item.slice(0, at);
    const ts = item.slice(at + 1);
    if (at <= 0 || !/^\d{1,16}$/.test(ts)) {
      throw badRequest(`invalid workflowRuns item "${item.slice(0, 100)}": expected workflowRunId@workflowCreatedAt (unix milliseconds), comma-separated`);
    }
    if (!pairs.has(id)) pairs.set(id, new Set());
    pairs.get(id)!.add(Number(ts));
  }
  return pairs;
}

/** `trimBody`: bodies cut to this many bytes, or left out with -1; absent, bodies are whole. */
function trimParam(q: Query): number | undefined {
  return q.trimBody === undefined ? undefined : intParam(q, "trimBody", -1, -1, Number.MAX_SAFE_INTEGER);
}

/**
 * GET /v2/workflows/events and /v2/workflows/logs (DECISIONS #2): runs grouped with their steps
 * (`groupBy=workflowRunId`, what the SDK's `client.logs` sends) or, without it, the state changes of workflow messages.
 */
export function workflowLogRoutes({ engine, reads: store }: AppDeps) {

  return async function plugin(app: FastifyInstance): Promise<void> {
    for (const path of ["/v2/workflows/events", "/v2/workflows/logs"]) {
      app.get(path, async (req) => {
        const grouped = one(req.query as Query, "groupBy") === "workflowRunId" || path.endsWith("/logs");
        if (!grouped) return eventMode(req.userId, knownQuery(req, PARAMS.workflowEvents));
        const q = knownQuery(req, PARAMS.runLogs);
        const trim = trimParam(q);
        const states = parseStates(q);
        const pairs = parseRunPairs(q);
        // The vendor's `workflowRuns` selects those runs alone: every other filter is ignored (its OpenAPI).
        const filter = pairs ? { runIds: [...pairs.keys()] } : parseRunFilter({ ...q, state: undefined }, "exact");
        if (!pairs && states.run && !states.step) filter.state = states.run;
        const messageId = one(q, "messageId");
        if (messageId && !pairs) {
          const m = await store.getMessage(req.userId, messageId);
          if (!m?.workflow) return { runs: [] };
          filter.runIds = [...(filter.runIds ?? []), m.workflow.runId];
        }
        const cursor = one(q, "cursor");
        if (cursor !== undefined && !/^\d+_[A-Za-z0-9_.:-]+$/.test(cursor)) throw badRequest(`invalid cursor "${cursor}"`);
        const wanted = (run: RunRecord, log: Record<string, unknown>): boolean =>
          (!pairs || pairs.get(run.runId)!.has(run.createdAtMs)) && (!states.step || matchesStates(run, log, states.run, states.step));
        const page = await matchingLogs(req.userId, filter, cursor, intParam(q, "count", 10, 1, 100), wanted);
        if (trim !== undefined) trimBodies(page.runs, trim);
        return { ...(page.cursor ? { cursor: page.cursor } : {}), runs: page.runs };
      });
    }

    /**
     * Up to `count` run logs that `wanted` keeps, newest first. Filters the store cannot apply (step states, the
     * exact creation time of `workflowRuns`) are applied to the logs read, for at most `MAX_SCANNED_PAGES` pages;
     * the cursor then continues after the last run looked at.
     */
    async function matchingLogs(
      userId: string,
      filter: RunFilter,
      cursor: string | undefined,
      count: number,
      wanted: (run: RunRecord, log: Record<string, unknown>) => boolean,
    ): Promise<{ runs: Record<string, unknown>[]; cursor?: string }> {
      const runs: Record<string, unknown>[] = [];
      let next = cursor;
      for (let pageNo = 0; pageNo < MAX_SCANNED_PAGES; pageNo++) {
        const page = await store.listRuns(userId, filter, { cursor: next, count });
        const now = engine.clock.now();
        for (const [i, run] of page.items.entries()) {
          const [entries, messages, waiters] = await Promise.all([
            store.getRunEntries(userId, run.runId),
            store.listRunMessages(userId, run.runId),
            run.state === "RUN_STARTED" ? store.listRunWaiters(userId, run.runId) : [],
          ]);
          const log = runLog(run, entries, messages, now, waiters);
          if (wanted(run, log)) runs.push(log);
          const more = i < page.items.length - 1 || page.cursor !== undefined;
          if (runs.length === count) return { runs, cursor: more ? `${run.createdAtMs}_${run.runId}` : undefined };
        }
        if (!page.cursor) return { runs };
        next = page.cursor;
      }
      return { runs, cursor: next };
    }

    async function eventMode(userId: string, q: Query) {
      const filter = parseFilter(q);
      filter.workflow = true;
      const runId = one(q, "workflowRunId");
      if (runId) filter.runId = [runId];
      const trim = trimParam(q);
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
      if (trim !== undefined) trimBodies(events, trim);
      return { ...(page.cursor ? { cursor: page.cursor } : {}), events };
    }
  };
}
