import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import { tokenFor, type Config } from "../config.js";
import type { Engine } from "../engine/engine.js";
import { HttpError } from "../errors.js";
import { dlqRoutes } from "./routes/dlq.js";
import { keyRoutes } from "./routes/keys.js";
import { logRoutes } from "./routes/logs.js";
import { messageRoutes } from "./routes/messages.js";
import { publishRoutes } from "./routes/publish.js";

declare module "fastify" {
  interface FastifyRequest {
    userId: string;
  }
}

export interface AppDeps {
  engine: Engine;
  config: Config;
}

/** Paths that need no token (health checks); every /v2 endpoint needs one (DESIGN promise 5). */
const PUBLIC_PATHS = new Set(["/", "/health", "/healthz"]);

/** The HTTP API: auth, one error mapping, and one plugin per resource. */
export function buildApp(deps: AppDeps): FastifyInstance {
  const { config } = deps;
  const app = Fastify({
    logger: config.logLevel === "silent" ? false : { level: config.logLevel },
    bodyLimit: config.limits.maxBodyBytes,
    // Destinations are URLs inside the path: allow them to be long, and keep `//` as it came.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 16 * 1024 },
    trustProxy: false,
  });

  // Bodies are opaque bytes for publishes; routes that take JSON parse it themselves with a clear error.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

  const tokens = new Map(config.users.map((u) => [tokenFor(u), u.userId]));
  app.decorateRequest("userId", "");
  app.addHook("onRequest", async (req) => {
    const path = req.url.split("?", 1)[0];
    if (PUBLIC_PATHS.has(path)) return;
    const token = bearerToken(req);
    if (!token) throw new HttpError(401, "missing token: send Authorization: Bearer <QSTASH_TOKEN>");
    const userId = tokens.get(token);
    if (!userId) throw new HttpError(401, "invalid token");
    req.userId = userId;
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.status).send({ error: err.message });
    if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return reply.code(413).send({ error: `request body is larger than the configured limit maxBodyBytes (${config.limits.maxBodyBytes} bytes)` });
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: err.message });
    }
    req.log.error({ err }, "request failed");
    return reply.code(500).send({ error: "internal error" });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: `not found: ${req.method} ${req.url.split("?", 1)[0]}` });
  });

  app.get("/health", async () => ({ status: "ok" }));
  app.register(publishRoutes(deps));
  app.register(messageRoutes(deps));
  app.register(logRoutes(deps));
  app.register(dlqRoutes(deps));
  app.register(keyRoutes(deps));
  return app;
}

function bearerToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h) {
    const m = /^Bearer\s+(.+)$/i.exec(h.trim());
    return m ? m[1].trim() : undefined;
  }
  const q = req.query as Record<string, unknown>;
  const t = q?.qstash_token;
  return typeof t === "string" && t ? t : undefined;
}

/** Parses a JSON request body with an error that says what is wrong. */
export function jsonBody(req: FastifyRequest): unknown {
  const raw = req.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) throw new HttpError(400, "request body must be JSON");
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch (e) {
    throw new HttpError(400, `request body is not valid JSON: ${(e as Error).message}`);
  }
}

export function rawBody(req: FastifyRequest): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}
