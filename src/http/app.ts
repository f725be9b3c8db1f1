import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { HttpError } from "../errors.js";
import type { AppDeps } from "./request.js";
import { loggerOptions, requestLogController } from "../observability/logger-options.js";
import { requestToken, tokenLookup } from "./token-auth.js";
import { registerUnknownHeaderCheck } from "./unknown-headers.js";
import { accessOfRoute, recordRouteAccess } from "./route-access.js";
import { BodyBudget, BodyBudgetExceededError, registerBudgetedBodyParser } from "./body-budget.js";
import { dlqRoutes } from "./routes/dlq.js";
import { flowControlRoutes } from "./routes/flow-control.js";
import { queueRoutes } from "./routes/queues.js";
import { urlGroupRoutes } from "./routes/url-groups.js";
import { scheduleRoutes } from "./routes/schedules.js";
import { keyRoutes } from "./routes/keys.js";
import { logRoutes } from "./routes/logs.js";
import { messageRoutes } from "./routes/messages.js";
import { publishRoutes } from "./routes/publish.js";
import { workflowRunRoutes } from "./routes/workflow-runs.js";
import { workflowDlqRoutes } from "./routes/workflow-dlq.js";
import { WEBHOOK_ROUTE, workflowWaitRoutes } from "./routes/workflow-waits.js";
import { workflowLogRoutes } from "./routes/workflow-logs.js";
import { metricsRoutes } from "./routes/metrics.js";
import { openApiRoutes, recordRoutes } from "./routes/openapi.js";
import { packageVersion } from "../package-version.js";
import { registerPublishTracing } from "../observability/publish-tracing.js";
import { consoleRoutes, isConsolePath } from "./routes/console.js";
import { consoleOverviewRoutes } from "./routes/console-overview.js";
import { consoleTickRoutes } from "./routes/console-ticks.js";

declare module "fastify" {
  interface FastifyRequest {
    userId: string;
  }
  interface FastifyInstance {
    /** Request body bytes held in memory right now, against maxInflightBodyBytes. */
    bodyBudget: BodyBudget;
  }
}

/** Paths that need no token (health checks); every /v2 endpoint but the workflow webhook needs one (DESIGN promise 5). */
const PUBLIC_PATHS = new Set(["/", "/health", "/health/ready", "/healthz", "/openapi.json", "/metrics"]);

/** The HTTP API: auth, one error mapping, and one plugin per resource. */
export function buildApp(deps: AppDeps): FastifyInstance {
  const { config } = deps;
  const bounds = config.requestBounds;
  const app = Fastify({
    logger: loggerOptions(config.logLevel),
    logController: requestLogController(config.logLevel),
    bodyLimit: config.limits.maxBodyBytes,
    // A client that never finishes its headers, or trickles its body, is cut off (408) instead of holding its
    // socket for ever. Node checks these every `connectionsCheckingInterval`, so that follows the shorter one.
    requestTimeout: bounds.requestTimeoutMs,
    keepAliveTimeout: bounds.keepAliveTimeoutMs,
    http: {
      headersTimeout: bounds.headersTimeoutMs,
      requestTimeout: bounds.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(bounds.headersTimeoutMs / 4))),
    },
    // Destinations are URLs inside the path: allow them to be long, and keep `//` as it came.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 16 * 1024 },
    // Only the configured proxies are believed: anyone else could claim any address in X-Forwarded-For.
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    // Errors from Node's HTTP parser (e.g. a request line or headers over 16 KiB) also answer in JSON.
    clientErrorHandler: (err: Error & { code?: string }, socket) => {
      // A response already under way cannot be replaced by another one: the connection just ends.
      const inProgress = (socket as typeof socket & { _httpMessage?: { headersSent: boolean } })._httpMessage;
      if (!socket.writable || inProgress?.headersSent) return socket.destroy();
      const [status, error] = clientErrorReply(err.code, bounds.headersTimeoutMs, bounds.requestTimeoutMs);
      const body = JSON.stringify({ error: err.code ? error : `malformed HTTP request: ${err.message}` });
      socket.end(
        `HTTP/1.1 ${status}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      socket.destroySoon();
    },
    // Router-level failures (a path with malformed %-escapes, an over-long path) get the same `{error}` shape.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      const path = (req.raw.url ?? "").split("?", 1)[0];
      if (err.code === "FST_ERR_MAX_PARAM_LENGTH") {
        return reply.code(414).send({ error: `request path is too long (${path.length} characters)` });
      }
      if (err.code === "FST_ERR_BAD_URL") {
        return reply.code(400).send({ error: `invalid request path "${path.slice(0, 200)}": malformed percent-encoding` });
      }
      return reply.code(err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400).send({ error: err.message });
    },
  });
  // Before any route: /openapi.json is made from what the router holds.
  const routes = recordRoutes(app);

  // Bodies are opaque bytes for publishes; routes that take JSON parse it themselves with a clear error.
  app.removeAllContentTypeParsers();
  const budget = new BodyBudget(bounds.maxInflightBodyBytes);
  app.decorate("bodyBudget", budget);
  registerBudgetedBodyParser(
    app,
    budget,
    // Fastify's own code, so a route with a smaller body limit (the webhook) can answer with its own setting's name.
    () => Object.assign(new HttpError(413, `request body is larger than the configured limit maxBodyBytes (${config.limits.maxBodyBytes} bytes)`), { code: "FST_ERR_CTP_BODY_TOO_LARGE" }),
  );

  const ownerOfToken = tokenLookup(config.users);
  app.decorateRequest("userId", "");
  recordRouteAccess(app);
  // The one place tokens are checked: who the caller is, and whether a read-only token may call this route.
  // Callback style (fastify catches what it throws): an async hook costs every request a promise.
  app.addHook("onRequest", (req, reply, done) => {
    authenticate(req, reply);
    done();
  });
  function authenticate(req: FastifyRequest, reply: FastifyReply): void {
    const path = req.url.split("?", 1)[0];
    if (PUBLIC_PATHS.has(path) || isConsolePath(path)) return;
    // Workflow webhooks are called by third parties: matched by route, not by a prefix of the raw path.
    if (req.routeOptions.url === WEBHOOK_ROUTE) return;
    const token = requestToken(req);
    if (!token) {
      reply.header("www-authenticate", "Bearer");
      // The SDKs show this text as the error's message: it says what to set, not only what is wrong.
      throw new HttpError(
        401,
        "missing token: send Authorization: Bearer <token> (the SDKs read it from QSTASH_TOKEN), or ?qstash_token=<token>; " +
          "a token is the base64 of {\"UserID\":…,\"Password\":…} of a configured user",
      );
    }
    const owner = ownerOfToken(token);
    if (!owner) throw new HttpError(401, "invalid token");
    if (owner.readOnly && accessOfRoute(req.method, req.routeOptions.config?.access) === "write") {
      throw new HttpError(403, `read-only token: ${req.method} ${req.routeOptions.url ?? path} changes data and needs the user's full token`);
    }
    req.userId = owner.userId;
  }

  // Requests without a user (health checks, third parties calling the workflow webhook) are not judged.
  registerUnknownHeaderCheck(app, config.rejectUnknownHeaders, (req) => req.userId === "");
  registerPublishTracing(app, deps.engine.tracing);

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    // Refused before its body was read (a bad token, a body too large or over the budget): the rest of the body
    // is not waited for, the connection closes after the reply.
    if (!req.raw.complete) reply.header("connection", "close");
    if (err instanceof BodyBudgetExceededError) reply.header("retry-after", String(err.retryAfterSeconds));
    if (err instanceof HttpError) return reply.code(err.status).send({ error: err.message });
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
  // Readiness: a load balancer sends work only to a node that holds its lease (a node that lost it restarts itself).
  app.get("/health/ready", async (_req, reply) => {
    const r = deps.readiness();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? "ready" : "not ready", ...(r.node ? { node: r.node } : {}), leader: r.leader });
  });
  app.register(publishRoutes(deps));
  app.register(messageRoutes(deps));
  app.register(logRoutes(deps));
  app.register(dlqRoutes(deps));
  app.register(keyRoutes(deps));
  app.register(queueRoutes(deps));
  app.register(flowControlRoutes(deps));
  app.register(urlGroupRoutes(deps));
  app.register(scheduleRoutes(deps));
  app.register(workflowRunRoutes(deps));
  app.register(workflowDlqRoutes(deps));
  app.register(workflowWaitRoutes(deps));
  app.register(workflowLogRoutes(deps));
  // /metrics checks its own token (not a user's): see routes/metrics.ts.
  app.register(metricsRoutes(deps));
  app.register(openApiRoutes(routes, packageVersion()));
  app.register(consoleRoutes(deps));
  app.register(consoleOverviewRoutes(deps));
  app.register(consoleTickRoutes(deps));
  return app;
}

/** The status line and error of a request Node's HTTP parser refused or timed out. */
function clientErrorReply(code: string | undefined, headersTimeoutMs: number, requestTimeoutMs: number): [string, string] {
  if (code === "HPE_HEADER_OVERFLOW") return ["431 Request Header Fields Too Large", "request line or headers are larger than 16 KiB"];
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return [
      "408 Request Timeout",
      `request not received in time: headers must arrive within headersTimeout (${headersTimeoutMs}ms) and the whole request within requestTimeout (${requestTimeoutMs}ms)`,
    ];
  }
  return ["400 Bad Request", `malformed HTTP request: ${code}`];
}
