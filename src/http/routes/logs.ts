import type { FastifyInstance } from "fastify";
import { logJson } from "../../protocol/shapes.js";
import type { AppDeps } from "../request.js";
import { knownQuery, PARAMS } from "../endpoint-params.js";
import { cursorParam, intParam, orderParam, parseFilter } from "../query.js";

/** GET /v2/events (key `events`) and GET /v2/logs (key `logs`): one implementation, two spellings (DECISIONS #2). */
export function logRoutes({ reads }: AppDeps) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    for (const [path, key, max] of [
      ["/v2/events", "events", 1000],
      ["/v2/logs", "logs", 1000],
    ] as const) {
      app.get(path, async (req) => {
        const q = knownQuery(req, PARAMS.logs);
        const page = await reads.listEvents(req.userId, parseFilter(q), {
          cursor: cursorParam(q),
          count: intParam(q, "count", 100, 1, max),
          asc: orderParam(q),
        });
        return { ...(page.cursor ? { cursor: page.cursor } : {}), [key]: page.items.map(logJson) };
      });
    }
  };
}
