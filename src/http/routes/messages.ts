import type { FastifyInstance } from "fastify";
import { notFound } from "../../errors.js";
import { messageJson } from "../../protocol/shapes.js";
import type { AppDeps } from "../app.js";
import { bulkScope } from "../bulk-scope.js";
import { PARAMS } from "../endpoint-params.js";
import { parseFilter } from "../query.js";

/** GET/DELETE /v2/messages/{id} and bulk DELETE /v2/messages. */
export function messageRoutes({ engine }: AppDeps) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get<{ Params: { id: string } }>("/v2/messages/:id", async (req) => {
      const m = await engine.store.getMessage(req.userId, req.params.id);
      if (!m || (m.state !== "pending" && m.state !== "active")) throw notFound(`message ${req.params.id} not found`);
      return messageJson(m);
    });

    app.delete<{ Params: { id: string } }>("/v2/messages/:id", async (req) => {
      const cancelled = await engine.cancel(req.userId, [req.params.id]);
      if (cancelled === 0) throw notFound(`message ${req.params.id} not found or already finished`);
      return { cancelled };
    });

    // Without ids, every filter given selects; with none at all this cancels all the user's unfinished messages,
    // which is what the SDK's `cancel({all: true})` sends (only `count`). At most `count` are cancelled per call:
    // a caller repeats it until it reports 0.
    app.delete("/v2/messages", async (req) => {
      const { q, count } = bulkScope(req, PARAMS.messageCancel, "message");
      const ids = await engine.store.findUnfinished(req.userId, parseFilter(q), count);
      const cancelled = ids.length ? await engine.cancel(req.userId, ids) : 0;
      return { cancelled };
    });
  };
}
