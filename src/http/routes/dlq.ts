import type { FastifyInstance, FastifyRequest } from "fastify";
import { assertPublishable } from "../../engine/egress.js";
import { newId } from "../../engine/ids.js";
import { badRequest, notFound } from "../../errors.js";
import { parsePublishHeaders, type HeaderBag } from "../../protocol/publish-headers.js";
import { dlqJson } from "../../protocol/shapes.js";
import type { AppDeps } from "../request.js";
import { deleteWorkflowDlq, listWorkflowDlq } from "../workflow-dlq-requests.js";
import { bulkScope } from "../bulk-scope.js";
import { knownQuery, PARAMS } from "../endpoint-params.js";
import { cursorParam, intParam, one, orderParam, parseFilter, type Query } from "../query.js";
import type { DlqRecord } from "../../model/dlq.js";
import type { MessageRecord } from "../../model/message.js";

/**
 * The plain DLQ (SPEC §2.6): list, get, delete one/many/all, retry one/many with header overrides. It shows only
 * entries of plain messages (DECISIONS #9): the entries of workflow runs are the workflow DLQ's
 * (`?source=workflow`, `/v2/workflows/dlq`), where they are resumed or restarted instead of retried.
 */
export function dlqRoutes({ engine, reads: store, workflowDlq, config }: AppDeps) {

  /** A plain entry by id; an entry of a workflow message is not one (404). */
  async function plainEntry(userId: string, dlqId: string): Promise<DlqRecord> {
    const entry = await store.getDlq(userId, dlqId);
    if (!entry || entry.message.workflow) throw notFound(`DLQ entry ${dlqId} not found`);
    return entry;
  }

  /** A page of at most `count` entries selected by `dlqIds` (exclusive) or by filters, with the cursor to continue. */
  async function select(req: FastifyRequest, q: Query, count: number): Promise<{ items: DlqRecord[]; cursor?: string }> {
    const filter = parseFilter(q);
    filter.workflow = false;
    return store.listDlq(req.userId, filter, {
      cursor: filter.dlqIds?.length ? undefined : cursorParam(q),
      count: filter.dlqIds?.length ? filter.dlqIds.length : count,
      asc: orderParam(q),
    });
  }

  /**
   * The bulk selection of a delete or retry: ids, filters or everything, `count` (1–500) per call. With
   * `allIdsFound`, ids that name no entry are a 404 listing them (the OpenAPI's "some messages were not found"),
   * before anything is done, so the caller never has to work out which of its ids were acted on.
   */
  async function selectBulk(req: FastifyRequest, allIdsFound = false): Promise<{ items: DlqRecord[]; cursor?: string }> {
    const { q, ids, count } = bulkScope(req, PARAMS.dlqBulk, "DLQ");
    const page = await select(req, q, count);
    if (allIdsFound && ids) {
      const found = new Set(page.items.map((e) => e.dlqId));
      const missing = [...new Set(ids)].filter((id) => !found.has(id));
      if (missing.length) throw notFound(`DLQ entries not found: ${missing.slice(0, 20).join(", ")}${missing.length > 20 ? ` and ${missing.length - 20} more` : ""}; nothing was retried`);
    }
    return page;
  }

  /** A fresh message from a DLQ entry: same content, a new id, any publish header given on the request overriding. */
  function retried(req: FastifyRequest, entry: DlqRecord): { record: MessageRecord } {
    const h = req.headers as HeaderBag;
    const cfg = parsePublishHeaders(h, config.limits);
    const now = engine.clock.now();
    const m = entry.message;
    const has = (name: string): boolean => h[name] !== undefined;
    const header = { ...m.header };
    for (const name of Object.keys(cfg.header)) if (name !== "Content-Type" || has("content-type")) header[name] = cfg.header[name];
    const due = cfg.notBeforeMs ?? now + (cfg.delayMs ?? 0);
    const record: MessageRecord = {
      ...m,
      id: newId("msg_"),
      header,
      method: has("upstash-method") ? cfg.method : m.method,
      maxRetries: cfg.retries ?? m.maxRetries,
      retryDelay: cfg.retryDelay ?? m.retryDelay,
      timeoutMs: cfg.timeoutMs ?? m.timeoutMs,
      callback: cfg.callback ?? m.callback,
      failureCallback: cfg.failureCallback ?? m.failureCallback,
      labels: has("upstash-label") ? cfg.labels : m.labels,
      flowControl: cfg.flowControl ?? m.flowControl,
      notBeforeMs: due,
      createdAtMs: now,
      callerIp: req.ip,
      state: "pending",
      retried: 0,
      dueMs: due,
      cancelRequested: undefined,
      finishedMs: undefined,
    };
    // The policy may have changed since the message was first published.
    assertPublishable(config.egress, record);
    return { record };
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get("/v2/dlq", async (req) => {
      // The workflow SDK's `client.dlq.list()` (SPEC §5.11).
      if (isWorkflowSource(req)) return listWorkflowDlq(workflowDlq, req);
      const q = knownQuery(req, PARAMS.dlqList);
      const page = await select(req, q, intParam(q, "count", 100, 1, 100));
      return { messages: page.items.map(dlqJson), ...(page.cursor ? { cursor: page.cursor } : {}) };
    });

    app.get<{ Params: { id: string } }>("/v2/dlq/:id", async (req) => {
      return dlqJson(await plainEntry(req.userId, req.params.id));
    });

    app.delete<{ Params: { id: string } }>("/v2/dlq/:id", async (req) => {
      const entry = await plainEntry(req.userId, req.params.id);
      await engine.deleteDlq(req.userId, [entry.dlqId]);
      return { deleted: 1 };
    });

    app.delete("/v2/dlq", async (req) => {
      if (isWorkflowSource(req)) return deleteWorkflowDlq(workflowDlq, req);
      const page = await selectBulk(req);
      await engine.deleteDlq(req.userId, page.items.map((e) => e.dlqId));
      return { deleted: page.items.length, ...(page.cursor ? { cursor: page.cursor } : {}) };
    });

    app.post("/v2/dlq/retry", async (req, reply) => {
      if (isWorkflowSource(req)) throw badRequest("workflow DLQ entries are not retried: resume or restart their runs with /v2/workflows/dlq/resume or /restart");
      const page = await selectBulk(req, true);
      // Everything is validated before anything is requeued, so a bad override header changes nothing.
      const fresh = page.items.map((e) => [e, retried(req, e)] as const);
      const ids = await Promise.all(fresh.map(([entry, msg]) => engine.requeueFromDlq(req.userId, entry.dlqId, msg)));
      // An entry retried by a concurrent request meanwhile is skipped, so it is never published twice.
      const responses = ids.filter((id): id is string => id !== undefined).map((messageId) => ({ messageId }));
      reply.code(201);
      return { responses, ...(page.cursor ? { cursor: page.cursor } : {}) };
    });

    app.post<{ Params: { id: string } }>("/v2/dlq/retry/:id", async (req, reply) => {
      const entry = await plainEntry(req.userId, req.params.id);
      const messageId = await engine.requeueFromDlq(req.userId, entry.dlqId, retried(req, entry));
      if (!messageId) throw notFound(`DLQ entry ${req.params.id} not found`);
      reply.code(201);
      return { messageId };
    });
  };
}

function isWorkflowSource(req: FastifyRequest): boolean {
  return one(req.query as Query, "source") === "workflow";
}
