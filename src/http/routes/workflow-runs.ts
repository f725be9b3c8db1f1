import type { FastifyInstance, FastifyRequest } from "fastify";
import { assertPublishable } from "../../engine/egress.js";
import { newId } from "../../engine/ids.js";
import { badRequest, HttpError, notFound } from "../../errors.js";
import { parseDestination } from "../../protocol/destination.js";
import type { HeaderBag } from "../../protocol/publish-headers.js";
import { workflowHeadersOf } from "../../workflow/headers.js";
import { rawStep } from "../../workflow/workflows.js";
import { assertBodySize, jsonBody, rawBody, rawRemainder, type AppDeps } from "../request.js";
import { bulkScope } from "../bulk-scope.js";
import { PARAMS } from "../endpoint-params.js";
import { one, parseRunFilter, type Query } from "../query.js";


const FEATURES = "LazyFetch,InitialBody,WF_DetectTrigger,WF_TriggerOnConfig";

/** Runs: lazy step fetch, finish and cancel, bulk cancel, and server-side triggers (SPEC §2.10, §5.12). */
export function workflowRunRoutes({ engine, reads, workflows, config }: AppDeps) {

  /**
   * The publish headers of a server-side trigger: the caller's configuration plus what the SDK's own trigger
   * would carry, so the endpoint receives an ordinary first step (with the SDK's protocol header).
   */
  function triggerHeaders(given: HeaderBag, url: string): { headers: HeaderBag; runId: string } {
    const headers: HeaderBag = {};
    for (const [k, v] of Object.entries(given)) if (v !== undefined) headers[k.toLowerCase()] = v;
    const requested = one(headers as Query, "upstash-workflow-runid");
    const runId = requested ?? `wfr_${newId("")}`;
    if (runId.length > 200 || !/^[A-Za-z0-9_.:-]+$/.test(runId)) {
      throw badRequest(`invalid Upstash-Workflow-RunId "${runId.slice(0, 100)}": use letters, digits, "_", "-", "." or ":" (at most 200)`);
    }
    headers["upstash-workflow-runid"] = runId;
    headers["upstash-workflow-init"] = "true";
    headers["upstash-workflow-url"] = url;
    headers["upstash-feature-set"] = FEATURES;
    headers["upstash-forward-upstash-workflow-sdk-version"] = "1";
    headers["upstash-method"] = "POST";
    if (one(headers as Query, "upstash-workflow-unknown-sdk") !== undefined) headers["upstash-forward-upstash-workflow-unknown-sdk"] = "true";
    headers["content-type"] ??= "application/json";
    return { headers, runId };
  }

  /** Creates one run from a server-side trigger; resolves its id, creation time and whether it already existed. */
  async function trigger(req: FastifyRequest, destination: string, given: HeaderBag, body: Buffer) {
    assertBodySize(body, config.limits.maxBodyBytes);
    const q = destination.indexOf("?");
    const { destination: dest } = parseDestination(q === -1 ? destination : destination.slice(0, q), q === -1 ? "" : destination.slice(q + 1));
    if (dest.kind !== "url") throw badRequest("a workflow must be triggered at its URL");
    const { headers, runId } = triggerHeaders(given, dest.url);
    const wf = workflowHeadersOf(headers)!;
    const item = workflows.prepare(wf, headers, body, { url: dest.url }, { userId: req.userId, callerIp: req.ip, nowMs: engine.clock.now() }, new Map());
    item.record.workflow!.triggerApi = true;
    assertPublishable(config.egress, item.record);
    return { item, runId };
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get<{ Params: { runId: string } }>("/v2/workflows/runs/:runId", async (req) => {
      const run = await reads.getRun(req.userId, req.params.runId);
      // The SDK reads 404 as "this run has ended" (SPEC §2.10).
      if (!run || run.state !== "RUN_STARTED") throw notFound(`workflow run ${req.params.runId} not found or already finished`);
      return (await workflows.entries(req.userId, run.runId)).map(rawStep);
    });

    app.delete<{ Params: { runId: string } }>("/v2/workflows/runs/:runId", async (req) => {
      const q = req.query as Query;
      const cancelParam = one(q, "cancel");
      if (cancelParam !== undefined && cancelParam !== "true" && cancelParam !== "false") {
        throw badRequest(`invalid cancel "${cancelParam}": use true or false`);
      }
      const cancel = cancelParam !== "false";
      const body = rawBody(req);
      assertBodySize(body, config.limits.maxBodyBytes);
      const runId = req.params.runId;
      const before = await workflows.finish(
        req.userId,
        runId,
        cancel ? { cancel: true } : { cancel: false, response: body.length ? body.toString("utf8") : undefined },
      );
      if (before === undefined) throw notFound(`workflow run ${runId} not found`);
      if (before !== "RUN_STARTED") {
        // Finishing twice (a redelivered last step) is harmless; anything else on an ended run is refused.
        if (!cancel && before === "RUN_SUCCESS") return { workflowRunId: runId };
        throw badRequest(`workflow run ${runId} has already ended (${before})`);
      }
      return cancel ? { cancelled: 1 } : { workflowRunId: runId };
    });

    // At most `count` runs per call; cancelled runs leave the selection, so repeating the call until it reports 0
    // reaches every match.
    app.delete("/v2/workflows/runs", async (req) => {
      const { q, count } = bulkScope(req, PARAMS.runCancel, "workflow run");
      const filter = parseRunFilter(q, "prefix");
      filter.state = ["RUN_STARTED"];
      const { items } = await reads.listRuns(req.userId, filter, { count });
      let cancelled = 0;
      for (const run of items) if ((await workflows.finish(req.userId, run.runId, { cancel: true })) === "RUN_STARTED") cancelled++;
      return { cancelled };
    });

    app.post("/v2/trigger/*", async (req) => {
      const { remainder, query } = rawRemainder(req, "/v2/trigger/");
      const { item, runId } = await trigger(req, query ? `${remainder}?${query}` : remainder, req.headers as HeaderBag, rawBody(req));
      const [r] = await engine.accept([item]);
      if (r.rejected) throw new HttpError(409, `workflow run ${runId} cannot be started again`);
      const run = await reads.getRun(req.userId, runId);
      return { workflowRunId: runId, workflowCreatedAt: run?.createdAtMs ?? item.record.createdAtMs, ...(r.deduplicated ? { deduplicated: true } : {}) };
    });

    app.post("/v2/batch/trigger", async (req, reply) => {
      const parsed = jsonBody(req);
      if (!Array.isArray(parsed) || parsed.length === 0) throw badRequest("batch trigger body must be a non-empty JSON array of {destination, headers, body}");
      if (parsed.length > config.limits.maxBatchItems) {
        throw new HttpError(413, `batch has ${parsed.length} runs; the configured limit maxBatchItems is ${config.limits.maxBatchItems}`);
      }
      // Every item is checked before any run is created: one bad item refuses the whole batch.
      const prepared = await Promise.all(
        parsed.map(async (raw: unknown, i: number) => {
          if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw badRequest(`batch item ${i} must be an object`);
          const it = raw as { destination?: unknown; headers?: unknown; body?: unknown };
          if (typeof it.destination !== "string" || !it.destination) throw badRequest(`batch item ${i}: destination must be a non-empty string`);
          if (it.body !== undefined && typeof it.body !== "string") throw badRequest(`batch item ${i}: body must be a string`);
          if (it.headers !== undefined && (typeof it.headers !== "object" || it.headers === null || Array.isArray(it.headers))) {
            throw badRequest(`batch item ${i}: headers must be an object of strings`);
          }
          const headers: HeaderBag = {};
          for (const [k, v] of Object.entries((it.headers as Record<string, unknown>) ?? {})) {
            if (typeof v !== "string") throw badRequest(`batch item ${i}: header ${k} must be a string`);
            headers[k.toLowerCase()] = v;
          }
          try {
            return await trigger(req, it.destination, headers, Buffer.from((it.body as string | undefined) ?? "", "utf8"));
          } catch (err) {
            if (err instanceof HttpError) throw new HttpError(err.status, `batch item ${i}: ${err.message}`);
            throw err;
          }
        }),
      );
      const results = await engine.accept(prepared.map((p) => p.item));
      reply.code(201);
      return Promise.all(
        prepared.map(async ({ item, runId }, i) => {
          const run = results[i].deduplicated ? await reads.getRun(req.userId, runId) : undefined;
          return {
            workflowRunId: runId,
            workflowCreatedAt: run?.createdAtMs ?? item.record.createdAtMs,
            ...(results[i].deduplicated ? { deduplicated: true } : {}),
          };
        }),
      );
    });
  };
}
