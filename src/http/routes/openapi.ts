import type { FastifyInstance } from "fastify";
import { OPERATION_NOTES, type OperationNote } from "../openapi-operations.js";

/** The methods an OpenAPI path item can hold; a route that takes any method lists these. */
const OPENAPI_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

export interface RouteEntry {
  method: string;
  url: string;
}

/**
 * Records every route as fastify registers it, so the description is made from the router itself and cannot
 * list a route that is not served or miss one that is. Must be called before any route is added.
 */
export function recordRoutes(app: FastifyInstance): RouteEntry[] {
  const routes: RouteEntry[] = [];
  app.addHook("onRoute", (r) => {
    for (const method of Array.isArray(r.method) ? r.method : [r.method]) routes.push({ method: method.toUpperCase(), url: r.url });
  });
  return routes;
}

/** GET /openapi.json: Sluice's description of every route it serves (OpenAPI 3.1). */
export function openApiRoutes(routes: RouteEntry[], version: string) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    let doc: object | undefined;
    app.get("/openapi.json", async () => (doc ??= openApiDocument(routes, version)));
  };
}

export function openApiDocument(routes: RouteEntry[], version: string): object {
  const paths: Record<string, Record<string, object>> = {};
  const byUrl = new Map<string, Set<string>>();
  for (const r of routes) {
    const methods = byUrl.get(r.url) ?? new Set<string>();
    methods.add(r.method);
    byUrl.set(r.url, methods);
  }
  for (const [url, methods] of byUrl) {
    const anyMethod = OPENAPI_METHODS.every((m) => methods.has(m.toUpperCase()));
    for (const method of OPENAPI_METHODS) {
      const upper = method.toUpperCase();
      if (!methods.has(upper)) continue;
      // Fastify adds HEAD beside every GET; only a route that takes any method documents it.
      if (upper === "HEAD" && methods.has("GET") && !anyMethod) continue;
      const note = OPERATION_NOTES[`${upper} ${url}`] ?? OPERATION_NOTES[`ANY ${url}`];
      (paths[openApiPath(url)] ??= {})[method] = operation(url, upper, note);
    }
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Sluice",
      version,
      description:
        "Self-hosted HTTP message queue, scheduler and workflow engine. It speaks the QStash v2 REST API and the server side of " +
        "Upstash Workflow; every route below is one this server serves.",
    },
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: 'base64 of {"UserID":"<id>","Password":"<password>"}' },
        queryToken: { type: "apiKey", in: "query", name: "qstash_token" },
      },
      schemas: { Error: { type: "object", required: ["error"], properties: { error: { type: "string" } } } },
    },
    paths,
  };
}

/** `/v2/dlq/:id` → `/v2/dlq/{id}`; a wildcard is the destination (a URL or a URL group name), as sent. */
function openApiPath(url: string): string {
  return url.replace(/:(\w+)/g, "{$1}").replace(/\*$/, "{destination}");
}

function pathParams(url: string): string[] {
  const names = [...url.matchAll(/:(\w+)/g)].map((m) => m[1]);
  return url.endsWith("*") ? [...names, "destination"] : names;
}

function operation(url: string, method: string, note: OperationNote | undefined): object {
  const parameters: object[] = pathParams(url).map((name) => ({
    name,
    in: "path",
    required: true,
    schema: { type: "string" },
    ...(name === "destination" ? { description: "A URL (kept as sent, `//` included) or a URL group name" } : {}),
  }));
  const query = note?.query;
  if (query) {
    for (const name of query.ids) parameters.push({ name, in: "query", schema: { type: "string" }, description: "Exact ids (exclusive with filters)" });
    for (const name of query.filters) parameters.push({ name, in: "query", schema: { type: "string" }, description: "Filter" });
    for (const name of query.options) parameters.push({ name, in: "query", schema: { type: "string" } });
  }
  const body =
    note?.body === "json"
      ? { requestBody: { required: true, content: { "application/json": { schema: {} } } } }
      : note?.body === "bytes"
        ? { requestBody: { content: { "*/*": { schema: { type: "string", format: "binary" } } } } }
        : {};
  const errorReply = { description: "Refused: the reason is in `error`", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
  return {
    operationId: `${method.toLowerCase()}${openApiPath(url).replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? "").toUpperCase())}`,
    summary: note?.summary ?? `${method} ${url}`,
    tags: [note?.tag ?? "Other"],
    ...(note?.public ? { security: [] } : { security: [{ bearer: [] }, { queryToken: [] }] }),
    ...(parameters.length ? { parameters } : {}),
    ...body,
    responses: { "200": { description: "Done" }, "4XX": errorReply },
  };
}
