import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { validateName } from "../../protocol/names.js";
import { assertMessageCount, buildMessages, targetsOf, type NewMessage } from "../../engine/build-message.js";
import { assertPublishable } from "../../engine/egress.js";
import { badRequest, HttpError } from "../../errors.js";
import { parseDestination, type Destination } from "../../protocol/destination.js";
import { parsePublishHeaders, withQueryConfig, type HeaderBag } from "../../protocol/publish-headers.js";
import { assertBodySize, jsonBody, rawBody, rawRemainder, type AppDeps } from "../request.js";
import { noteUnknownHeaders } from "../unknown-headers.js";
import { workflowHeadersOf } from "../../workflow/headers.js";
import { RunClosedError } from "../../workflow/workflows.js";
import type { AcceptResult } from "../../engine/accept.js";
import { carryTraceparent } from "../../observability/traceparent.js";
import type { RunRecord } from "../../model/run.js";

interface BatchItem {
  destination: string;
  headers?: Record<string, string>;
  body?: unknown;
  queue?: string;
}

/** POST /v2/publish/{destination} and POST /v2/batch. */
export function publishRoutes({ engine, workflows, settings, config }: AppDeps) {
  const limits = config.limits;

  /** Validates one publish and builds its messages; throws a 4xx for anything wrong, before anything is stored. */
  function prepare(
    req: FastifyRequest,
    dest: Destination,
    headers: HeaderBag,
    body: Buffer,
    queueName: string | undefined,
    runs: Map<string, RunRecord>,
  ): NewMessage[] {
    assertBodySize(body, limits.maxBodyBytes);
    if (queueName !== undefined) validateName(queueName, "queue name");
    const origin = { userId: req.userId, callerIp: req.ip, nowMs: engine.clock.now() };
    const wf = workflowHeadersOf(headers);
    let items: NewMessage[];
    if (wf) {
      // A message of a workflow run (SPEC §5): it joins its run when stored.
      if (dest.kind !== "url") throw badRequest("a workflow message must be sent to a URL, not to a URL group");
      items = [workflows.prepare(wf, headers, body, { url: dest.url, queueName }, origin, runs)];
    } else {
      const cfg = parsePublishHeaders(headers, limits);
      items = buildMessages(cfg, targetsOf(engine, req.userId, dest, queueName), body, origin, config.defaultRetries);
    }
    for (const item of items) assertPublishable(config.egress, item.record);
    if (req.traceparent) for (const item of items) carryTraceparent(item.record, req.traceparent);
    return items;
  }

  /** Accepts messages; a workflow step refused because its run has ended is the SDK's 400 (SPEC §5.4). */
  async function acceptAll(userId: string, items: NewMessage[]): Promise<AcceptResult[]> {
    const [, results] = await Promise.all([ensureQueues(userId, items), engine.accept(items)]);
    const refused = results.findIndex((r) => r.rejected);
    if (refused !== -1) throw new RunClosedError(items[refused].record.workflow!.runId, results[refused].rejected!);
    return results;
  }

  /**
   * Enqueueing to a queue that does not exist yet creates it (parallelism 1), as a first publish would expect.
   * The queues exist in memory when this returns (their writes are queued ahead of the messages'), so callers
   * accept the messages in the same turn: nothing runs between building the ids and queueing them, and a
   * concurrent enqueue with a later id cannot start first.
   */
  function ensureQueues(userId: string, items: NewMessage[]): Promise<unknown> {
    const names = new Set(items.map((m) => m.record.queueName).filter((n): n is string => n !== undefined));
    return Promise.all([...names].filter((name) => !settings.hasQueue(userId, name)).map((name) => settings.upsertQueue(userId, name, {})));
  }

  async function publishOne(req: FastifyRequest, reply: FastifyReply, prefix: string, queueName?: string) {
    if (queueName !== undefined) validateName(queueName, "queue name");
    const { remainder, query } = rawRemainder(req, prefix);
    const { destination, config: queryConfig } = parseDestination(remainder, query);
    noteUnknownHeaders(req, Object.keys(queryConfig), config.rejectUnknownHeaders, "query parameters: ");
    const headers = withQueryConfig(req.headers, queryConfig);
    const runs = await workflows.runsFor(req.userId, [headers]);
    const items = prepare(req, destination, headers, rawBody(req), queueName, runs);
    assertMessageCount(items.length, limits.maxMessagesPerRequest, "this publish");
    const results = await acceptAll(req.userId, items);
    const replies = results.map((r, i) => ({
      messageId: r.messageId,
      url: items[i].record.url,
      ...(r.deduplicated ? { deduplicated: true } : {}),
    }));
    if (destination.kind === "group") return replies;
    if (replies[0].deduplicated) reply.code(202);
    return replies[0];
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.post("/v2/publish/*", async (req, reply) => publishOne(req, reply, "/v2/publish/"));

    app.post<{ Params: { queue: string } }>("/v2/enqueue/:queue/*", async (req, reply) => {
      // The prefix is the queue segment as sent (it may be percent-encoded), not the decoded parameter.
      const path = (req.raw.url ?? "").split("?")[0];
      const rest = path.slice(path.indexOf("/v2/enqueue/") + "/v2/enqueue/".length);
      return publishOne(req, reply, `/v2/enqueue/${rest.slice(0, rest.indexOf("/"))}/`, req.params.queue);
    });

    app.post("/v2/batch", { bodyLimit: limits.maxBodyBytes * 4 + 1024 * 1024 }, async (req) => {
      const parsed = jsonBody(req);
      if (!Array.isArray(parsed)) throw badRequest("batch body must be a JSON array of {destination, headers, body}");
      if (parsed.length === 0) throw badRequest("batch must contain at least one message");
      if (parsed.length > limits.maxBatchItems) {
        throw new HttpError(413, `batch has ${parsed.length} messages; the configured limit maxBatchItems is ${limits.maxBatchItems}`);
      }
      // Runs that workflow steps continue are read first, so every message is then built in one turn.
      const runs = await workflows.runsFor(req.userId, parsed.map(itemHeaders));
      // Each item is validated on its own: a bad item gets {error} in its slot and the others are still published.
      // A step for a run that has ended refuses the batch as a whole, as the SDK expects (it publishes one run per batch).
      const prepared: (NewMessage[] | { error: string })[] = parsed.map((item: unknown, i: number) => {
        try {
          return prepareItem(req, item, i, runs);
        } catch (err) {
          if (err instanceof HttpError && !(err instanceof RunClosedError)) return { error: err.message };
          throw err;
        }
      });
      const all = prepared.flatMap((p) => (Array.isArray(p) ? p : []));
      assertMessageCount(all.length, limits.maxMessagesPerRequest, "this batch");
      const results = await acceptAll(req.userId, all);
      let k = 0;
      return prepared.map((p) => {
        if (!Array.isArray(p)) return p;
        const replies = p.map((m) => {
          const r = results[k++];
          return { messageId: r.messageId, url: m.record.url, ...(r.deduplicated ? { deduplicated: true } : {}) };
        });
        return replies.length === 1 && !p[0].record.topicName ? replies[0] : replies;
      });
    });

    /** An item's headers with lower-case names, for reading its workflow run before validation. */
    function itemHeaders(raw: unknown): HeaderBag {
      const h = (raw as BatchItem | null)?.headers;
      const out: HeaderBag = {};
      if (typeof h !== "object" || h === null) return out;
      for (const [k, v] of Object.entries(h)) if (typeof v === "string") out[k.toLowerCase()] = v;
      return out;
    }

    function prepareItem(req: FastifyRequest, raw: unknown, i: number, runs: Map<string, RunRecord>): NewMessage[] {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw badRequest(`batch item ${i} must be an object`);
      const item = raw as BatchItem;
      if (typeof item.destination !== "string" || item.destination === "") {
        throw badRequest(`batch item ${i}: destination must be a non-empty string`);
      }
      if (item.headers !== undefined && (typeof item.headers !== "object" || item.headers === null || Array.isArray(item.headers))) {
        throw badRequest(`batch item ${i}: headers must be an object of strings`);
      }
      // A JSON value other than a string is sent as its JSON text: the workflow SDK passes `context.call` bodies through as given.
      const body = item.body === undefined || item.body === null ? "" : typeof item.body === "string" ? item.body : JSON.stringify(item.body);
      if (item.queue !== undefined && typeof item.queue !== "string") throw badRequest(`batch item ${i}: queue must be a string`);
      const headers: HeaderBag = {};
      for (const [k, v] of Object.entries(item.headers ?? {})) {
        if (typeof v !== "string") throw badRequest(`batch item ${i}: header ${k} must be a string`);
        headers[k.toLowerCase()] = v;
      }
      noteUnknownHeaders(req, Object.keys(headers), config.rejectUnknownHeaders, `batch item ${i}: `);
      const q = item.destination.indexOf("?");
      const { destination, config: queryConfig } =
        q === -1 ? parseDestination(item.destination, "") : parseDestination(item.destination.slice(0, q), item.destination.slice(q + 1));
      return prepare(req, destination, withQueryConfig(headers, queryConfig), Buffer.from(body, "utf8"), item.queue, runs);
    }
  };
}
