import type { FastifyInstance, FastifyRequest } from "fastify";
import { parseTraceparent } from "./traceparent.js";
import type { PublishSpan, Tracing } from "./tracing.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The trace a publish's messages carry to their deliveries: the publish span's, or the caller's when tracing is off. */
    traceparent: string | undefined;
  }
}

/** The routes that create messages from a client's request. */
const PUBLISH_ROUTES = new Set(["/v2/publish/*", "/v2/enqueue/:queue/*", "/v2/batch"]);

/**
 * Gives each publish request its trace: with tracing on, a publish span (child of the caller's `traceparent`) ended
 * with the reply; with it off, the caller's `traceparent` as sent, if valid. Registered after the token check, so
 * the user is known. Other routes pay one set lookup.
 */
export function registerPublishTracing(app: FastifyInstance, tracing: Tracing | undefined): void {
  app.decorateRequest("traceparent", undefined);
  const spans = new WeakMap<FastifyRequest, PublishSpan>();
  // Callback style: an async hook costs every request a promise.
  app.addHook("onRequest", (req, _reply, done) => {
    startTrace(req);
    done();
  });
  function startTrace(req: FastifyRequest): void {
    const route = req.routeOptions.url;
    if (route === undefined || !PUBLISH_ROUTES.has(route)) return;
    const raw = req.headers.traceparent;
    const incoming = typeof raw === "string" && parseTraceparent(raw) ? raw.trim() : undefined;
    if (!tracing) {
      req.traceparent = incoming;
      return;
    }
    const runId = req.headers["upstash-workflow-runid"];
    const span = tracing.startPublish(route, req.userId, incoming, typeof runId === "string" ? runId : undefined);
    spans.set(req, span);
    req.traceparent = span.traceparent;
  }
  if (tracing) {
    app.addHook("onResponse", async (req, reply) => {
      spans.get(req)?.end(reply.statusCode);
      spans.delete(req);
    });
  }
}
