import type { FastifyInstance } from "fastify";
import { assertPublishable } from "../../engine/egress.js";
import type { Endpoint } from "../../engine/url-groups.js";
import { badRequest, HttpError } from "../../errors.js";
import { validateName } from "../../protocol/names.js";
import type { StoredUrlGroup } from "../../store/store.js";
import { jsonBody, type AppDeps } from "../request.js";
import { knownQuery, PARAMS } from "../endpoint-params.js";

function groupJson(g: StoredUrlGroup) {
  return {
    name: g.name,
    createdAt: g.createdAtMs,
    updatedAt: g.updatedAtMs,
    endpoints: g.endpoints.map((e) => ({ ...(e.name !== undefined ? { name: e.name } : {}), url: e.url })),
  };
}

/** `{endpoints: [...]}` with each entry checked; `forRemoval` allows `{name}` or `{url}` alone. */
function parseEndpoints(body: unknown, forRemoval: boolean): { url?: string; name?: string }[] {
  const list = (body as { endpoints?: unknown } | null)?.endpoints;
  if (!Array.isArray(list) || list.length === 0) throw badRequest("body must be {\"endpoints\": [{\"url\": …, \"name\": …}, …]} with at least one endpoint");
  return list.map((raw, i) => {
    if (typeof raw !== "object" || raw === null) throw badRequest(`endpoints[${i}] must be an object`);
    const { url, name } = raw as Record<string, unknown>;
    if (url !== undefined && (typeof url !== "string" || !/^https?:\/\/[^/\s]+/i.test(url))) {
      throw badRequest(`endpoints[${i}].url must be an http(s) URL, got ${JSON.stringify(url)}`);
    }
    if (url !== undefined) {
      try {
        new URL(url as string);
      } catch {
        throw badRequest(`endpoints[${i}].url is not a valid URL: ${JSON.stringify(url)}`);
      }
    }
    if (name !== undefined && name !== "" && typeof name !== "string") throw badRequest(`endpoints[${i}].name must be a string`);
    if (typeof name === "string" && name !== "") validateName(name, `endpoints[${i}].name`);
    const cleanName = typeof name === "string" && name !== "" ? name : undefined;
    if (!forRemoval && url === undefined) throw badRequest(`endpoints[${i}].url is required`);
    if (forRemoval && url === undefined && cleanName === undefined) throw badRequest(`endpoints[${i}] needs a url or a name`);
    return { ...(url !== undefined ? { url: url as string } : {}), ...(cleanName !== undefined ? { name: cleanName } : {}) };
  });
}

/** URL groups (SPEC §2.5), still spelled "topics" on the wire. */
export function urlGroupRoutes({ engine, config }: AppDeps) {
  const groups = engine.urlGroups;
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.post<{ Params: { name: string } }>("/v2/topics/:name/endpoints", async (req) => {
      validateName(req.params.name, "url group name");
      const endpoints = parseEndpoints(jsonBody(req), false) as Endpoint[];
      for (const e of endpoints) assertPublishable(config.egress, { url: e.url, topicName: req.params.name });
      await groups.addEndpoints(req.userId, req.params.name, endpoints, config.limits.maxUrlGroupEndpoints);
      return groupJson(groups.require(req.userId, req.params.name));
    });

    app.delete<{ Params: { name: string } }>("/v2/topics/:name/endpoints", async (req) => {
      await groups.removeEndpoints(req.userId, req.params.name, parseEndpoints(jsonBody(req), true));
      const left = groups.get(req.userId, req.params.name);
      return left ? groupJson(left) : { deleted: true };
    });

    app.get("/v2/topics", async (req) => {
      knownQuery(req, PARAMS.none);
      return groups.list(req.userId).map(groupJson);
    });

    app.get<{ Params: { name: string } }>("/v2/topics/:name", async (req) => groupJson(groups.require(req.userId, req.params.name)));

    app.delete<{ Params: { name: string } }>("/v2/topics/:name", async (req) => {
      await groups.delete(req.userId, req.params.name);
      return { deleted: true };
    });

    // Neither OpenAPI nor SDK has it (a vendor docs page mentions default headers of a group): refused in words
    // rather than with the router's bare 404, which would read as "no such group" (docs/compatibility.md).
    app.patch<{ Params: { name: string } }>("/v2/topics/:name", async (_req, reply) => {
      reply.header("allow", "GET, DELETE");
      throw new HttpError(
        405,
        "PATCH /v2/topics/{name} is not supported: a URL group has no default headers or settings to change; " +
          "send headers with each publish, and change endpoints with POST or DELETE /v2/topics/{name}/endpoints",
      );
    });
  };
}
