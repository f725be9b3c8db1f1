import type { FastifyInstance } from "fastify";
import { badRequest } from "../../errors.js";
import { validateName } from "../../protocol/names.js";
import { MAX_PARALLELISM } from "../../protocol/publish-headers.js";
import { jsonBody, type AppDeps } from "../request.js";
import { knownQuery, PARAMS } from "../endpoint-params.js";

/** The queue API (SPEC §2.3): upsert, get, list, delete, pause, resume. Enqueueing is in publish.ts. */
export function queueRoutes({ settings }: AppDeps) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.post("/v2/queues", async (req) => {
      const body = jsonBody(req);
      if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("body must be a JSON object {queueName, parallelism, paused}");
      const { queueName, parallelism, paused } = body as Record<string, unknown>;
      if (typeof queueName !== "string") throw badRequest("queueName is required and must be a string");
      validateName(queueName, "queueName");
      if (parallelism !== undefined && (!Number.isInteger(parallelism) || (parallelism as number) < 1 || (parallelism as number) > MAX_PARALLELISM)) {
        throw badRequest(`parallelism must be an integer from 1 to ${MAX_PARALLELISM}, got ${JSON.stringify(parallelism)}`);
      }
      if (paused !== undefined && typeof paused !== "boolean") throw badRequest(`paused must be true or false, got ${JSON.stringify(paused)}`);
      await settings.upsertQueue(req.userId, queueName, { parallelism: (parallelism as number | undefined) ?? 1, paused: (paused as boolean | undefined) ?? false });
      return { queueName };
    });

    app.get("/v2/queues", async (req) => {
      knownQuery(req, PARAMS.none);
      return settings.listQueues(req.userId);
    });

    app.get<{ Params: { name: string } }>("/v2/queues/:name", async (req) => settings.queueInfo(req.userId, req.params.name));

    app.delete<{ Params: { name: string } }>("/v2/queues/:name", async (req) => {
      await settings.deleteQueue(req.userId, req.params.name);
      return { deleted: true };
    });

    for (const action of ["pause", "resume"] as const) {
      app.post<{ Params: { name: string } }>(`/v2/queues/:name/${action}`, async (req) => {
        await settings.queueInfo(req.userId, req.params.name); // 404 for an unknown queue
        await settings.upsertQueue(req.userId, req.params.name, { paused: action === "pause" });
        return { paused: action === "pause" };
      });
    }
  };
}
