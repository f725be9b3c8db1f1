import type { FastifyInstance, FastifyRequest } from "fastify";
import { badRequest } from "../errors.js";
import { canonicalHeaderName } from "../protocol/header-names.js";
import { unknownUpstashHeaders } from "../protocol/known-headers.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Unknown `Upstash-*` headers this request carried (its own, and its batch items'), in canonical form. */
    unknownHeaders: string[] | null;
  }
}

/** The response header naming the unknown `Upstash-*` headers a request carried. */
export const UNKNOWN_HEADERS_RESPONSE_HEADER = "Sluice-Unknown-Headers";

/**
 * Notes the unknown `Upstash-*` headers among `names`: a 400 naming them when `rejectUnknownHeaders` is set,
 * and remembered in both cases for the response header and the warning. `where` says whose headers they are (a batch item).
 */
export function noteUnknownHeaders(req: FastifyRequest, names: Iterable<string>, reject: boolean, where = ""): void {
  const unknown = unknownUpstashHeaders(names).map(canonicalHeaderName);
  if (unknown.length === 0) return;
  // Recorded even when refused: a refused batch item still leaves the batch answered, with the report.
  req.unknownHeaders = [...new Set([...(req.unknownHeaders ?? []), ...unknown])];
  if (reject) {
    throw badRequest(`${where}unknown Upstash header${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (rejectUnknownHeaders is on; check the spelling)`);
  }
}

/**
 * Judges every authenticated request's headers; the answer names what was not understood, and one warning line
 * says who sent it, so a typo such as `Upstash-Delays` does not silently publish without its delay.
 */
export function registerUnknownHeaderCheck(app: FastifyInstance, reject: boolean, skip: (req: FastifyRequest) => boolean): void {
  app.decorateRequest("unknownHeaders", null);
  // Callback-style hooks (a throw is still caught by fastify): an async hook costs every request a promise.
  app.addHook("preHandler", (req, _reply, done) => {
    if (!skip(req)) noteUnknownHeaders(req, Object.keys(req.headers), reject);
    done();
  });
  app.addHook("onSend", (req, reply, payload, done) => {
    const unknown = req.unknownHeaders;
    if (unknown && unknown.length > 0) {
      reply.header(UNKNOWN_HEADERS_RESPONSE_HEADER, unknown.join(", "));
      req.log.warn({ userId: req.userId, method: req.method, path: req.url.split("?", 1)[0], unknownHeaders: unknown }, "request has unknown Upstash headers; they were ignored");
    }
    done(null, payload);
  });
}
