import type { FastifyInstance, RouteOptions } from "fastify";

/** What a route does to the user's data: a read-only token may call `read` routes only. */
export type RouteAccess = "read" | "write";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Declared only by a route whose method would classify it wrongly (see `accessOfRoute`). */
    access?: RouteAccess;
  }
  interface FastifyInstance {
    /** Every route served, with its access: what the auth hook enforces, listed so it can be checked. */
    routeAccess: { method: string; url: string; access: RouteAccess }[];
  }
}

/** Methods that never change anything here: every other method is a write unless its route says otherwise. */
const READING_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * A route's access: its own `config.access` if it declares one, otherwise its method. Deciding by method means a
 * route added later is classified without anyone remembering to: a new write is refused to read-only tokens by
 * default, and only a GET that changed something could slip, which no route here does (and the API has none).
 */
export function accessOfRoute(method: string, declared: RouteAccess | undefined): RouteAccess {
  return declared ?? (READING_METHODS.has(method.toUpperCase()) ? "read" : "write");
}

/** Records every route's access as it is registered; call before any route is added. */
export function recordRouteAccess(app: FastifyInstance): void {
  const table: FastifyInstance["routeAccess"] = [];
  app.decorate("routeAccess", table);
  app.addHook("onRoute", (route: RouteOptions) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      table.push({ method, url: route.url, access: accessOfRoute(method, route.config?.access) });
    }
  });
}
