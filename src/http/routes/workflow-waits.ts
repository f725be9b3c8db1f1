import type { FastifyInstance, FastifyRequest } from "fastify";
import { badRequest, HttpError, notFound } from "../../errors.js";
import { parseDuration } from "../../protocol/duration.js";
import { canonicalHeaderName } from "../../protocol/header-names.js";
import { jsonBody, rawBody, type AppDeps } from "../request.js";
import type { StoredWaiter } from "../../model/waiter.js";

/** The webhook path of `context.createWebhook` (SPEC §5.7); the only `/v2` route that takes no token. */
export const WEBHOOK_ROUTE = "/v2/workflows/hooks/:userId/:runId/:eventId";

/**
 * The one answer to a webhook request that is refused for what its URL names (unknown user, unknown or ended
 * run, unknown webhook): told apart, they would let anyone probe which users and runs exist.
 */
export const NO_WEBHOOK = "no such webhook: the URL is not one that a running workflow created";

/** Request headers a waiter keeps as the publish headers of its answer: the SDK's step headers. */
function stepHeaders(headers: FastifyRequest["headers"]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, v] of Object.entries(headers)) {
    if (v === undefined || (name !== "content-type" && !name.startsWith("upstash-"))) continue;
    out[name] = Array.isArray(v) ? v : [v];
  }
  return out;
}

function headerMap(v: unknown, what: string): Record<string, string[]> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw badRequest(`${what} must be an object of header names to arrays of strings`);
  const out: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(v as Record<string, unknown>)) {
    const values = Array.isArray(value) ? value : [value];
    if (!values.every((x) => typeof x === "string")) throw badRequest(`${what}: header ${name} must be a string or an array of strings`);
    out[name] = values as string[];
  }
  return out;
}

function httpUrl(v: unknown, what: string): string {
  if (typeof v !== "string" || !v) throw badRequest(`${what} is required: the workflow URL to answer`);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw badRequest(`invalid ${what} "${v.slice(0, 200)}": expected an http(s) URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw badRequest(`invalid ${what} "${v.slice(0, 200)}": expected an http(s) URL`);
  return v;
}

/** The wait's timeout in ms: a duration string, a number of seconds, or absent (the longest allowed). */
function timeoutMs(v: unknown, maxMs: number): number {
  let ms: number;
  if (v === undefined || v === null) return maxMs;
  if (typeof v === "number") {
    if (!Number.isFinite(v) || v < 0) throw badRequest(`invalid timeout ${v}: expected a duration like "10s" or a number of seconds`);
    ms = Math.round(v * 1000);
  } else if (typeof v === "string") {
    ms = parseDuration(v, "timeout");
  } else {
    throw badRequest(`invalid timeout ${JSON.stringify(v).slice(0, 100)}: expected a duration like "10s" or a number of seconds`);
  }
  if (ms > maxMs) throw new HttpError(412, `timeout exceeds the configured limit maxWaitTimeout (${maxMs}ms)`);
  return ms;
}

/** Header names compared without case (the SDK sends both `…-RunId` and `…-Runid`). */
function headerValue(h: Record<string, string[]> | undefined, name: string): string | undefined {
  for (const [k, v] of Object.entries(h ?? {})) if (k.toLowerCase() === name && v[0]) return v[0];
  return undefined;
}

/** Waits, notify, waiters and webhooks (SPEC §5.7, §2.10). */
export function workflowWaitRoutes({ engine, waits, config }: AppDeps) {

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.post<{ Params: { eventId: string } }>("/v2/wait/:eventId", async (req) => {
      const eventId = req.params.eventId;
      if (!eventId) throw badRequest("event id is required: POST /v2/wait/{eventId}");
      const body = jsonBody(req);
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw badRequest("wait request must be a JSON object {url, timeout, timeoutUrl, timeoutHeaders, step}");
      }
      const b = body as Record<string, unknown>;
      const url = httpUrl(b.url, "url");
      const step = b.step;
      if (typeof step !== "object" || step === null || Array.isArray(step)) throw badRequest("step is required: the Wait step to complete");
      const s = step as Record<string, unknown>;
      if (typeof s.stepName !== "string" || typeof s.stepType !== "string") throw badRequest("step needs a stepName and a stepType");
      const timeoutUrl = b.timeoutUrl === undefined || b.timeoutUrl === null ? url : httpUrl(b.timeoutUrl, "timeoutUrl");
      const headers = stepHeaders(req.headers);
      const timeoutHeaders = headerMap(b.timeoutHeaders, "timeoutHeaders") ?? headers;
      const runId = headerValue(headers, "upstash-workflow-runid") ?? headerValue(timeoutHeaders, "upstash-workflow-runid");
      if (!runId) throw badRequest("Upstash-Workflow-RunId header is required: the run that waits");
      const now = engine.clock.now();
      const waiter: StoredWaiter = {
        userId: req.userId,
        eventId,
        runId,
        createdMs: now,
        deadlineMs: now + timeoutMs(b.timeout, config.limits.maxWaitTimeoutMs),
        url,
        headers,
        timeoutUrl,
        timeoutHeaders,
        step: s,
      };
      const { messageId } = await waits.wait(waiter, req.ip);
      return messageId ? { waiting: false, messageId } : { waiting: true, deadline: Math.floor(waiter.deadlineMs / 1000) };
    });

    app.post<{ Params: { eventId: string } }>("/v2/notify/:eventId", async (req, reply) => {
      if (!req.params.eventId) throw badRequest("event id is required: POST /v2/notify/{eventId}");
      const results = await waits.notify(req.userId, req.params.eventId, rawBody(req), req.ip);
      reply.code(201);
      return results;
    });

    // Run-scoped ("safe") notify: the reply is the same array as the plain form, as the SDK types it (DECISIONS #8);
    // the OpenAPI shows one object here, which the SDK's `NotifyResponse[]` would misread.
    app.post<{ Params: { runId: string; eventId: string } }>("/v2/notify/:runId/:eventId", async (req, reply) => {
      const { runId, eventId } = req.params;
      if (!runId || !eventId) throw badRequest("run id and event id are required: POST /v2/notify/{runId}/{eventId}");
      const results = await waits.notifyRun(req.userId, runId, eventId, rawBody(req), req.ip);
      // 400, not 404: the OpenAPI's answer to a run id that names no running run ("invalid workflow run ID").
      if (!results) throw badRequest(`invalid workflow run id ${runId}: no such run is running (not found, or already finished)`);
      reply.code(201);
      return results;
    });

    app.get<{ Params: { eventId: string } }>("/v2/waiters/:eventId", async (req) => {
      if (!req.params.eventId) throw badRequest("event id is required: GET /v2/waiters/{eventId}");
      return waits.list(req.userId, req.params.eventId);
    });

    // Called by third parties without a token: only webhooks a live run created, with a body of bounded size.
    // In a plugin of its own, so its smaller body limit gets an error that names its own setting.
    app.register(async (hooks) => {
      const bodyLimit = config.limits.maxWebhookBodyBytes;
      hooks.setErrorHandler((err: Error & { code?: string }, _req, reply) => {
        if (err.code !== "FST_ERR_CTP_BODY_TOO_LARGE") throw err;
        return reply.code(413).send({ error: `webhook request body is larger than the configured limit maxWebhookBodyBytes (${bodyLimit} bytes)` });
      });
      hooks.all<{ Params: { userId: string; runId: string; eventId: string } }>(WEBHOOK_ROUTE, { bodyLimit }, async (req) => {
        const { userId, runId, eventId } = req.params;
        const header: Record<string, string[]> = {};
        // `headersDistinct` keeps repeated headers apart (absent on injected test requests).
        const distinct = req.raw.headersDistinct ?? req.headers;
        for (const [name, v] of Object.entries(distinct)) if (v !== undefined) header[canonicalHeaderName(name)] = Array.isArray(v) ? v : [String(v)];
        const body = rawBody(req);
        const request = {
          proto: req.protocol,
          host: req.headers.host ?? `${config.host}:${config.port}`,
          url: req.raw.url ?? "/",
          method: req.method,
          header,
          ...(body.length ? { body: body.toString("base64") } : {}),
        };
        if (!(await waits.notifyWebhook(userId, runId, eventId, Buffer.from(JSON.stringify(request)), req.ip))) throw notFound(NO_WEBHOOK);
        req.userId = userId;
        return { workflowRunId: runId, eventId };
      });
    });
  };
}
