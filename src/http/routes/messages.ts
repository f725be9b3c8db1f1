import type { FastifyInstance } from "fastify";
import { notFound } from "../../errors.js";
import { messageJson } from "../../protocol/shapes.js";
import type { AppDeps } from "../request.js";
import { bulkScope } from "../bulk-scope.js";
import { PARAMS } from "../endpoint-params.js";
import { parseFilter } from "../query.js";

/** Messages one commit of a bulk cancel takes, and how many such commits one call may make (5 million messages). */
const CANCEL_CHUNK = 500;
const MAX_CANCEL_CHUNKS = 10_000;

/** GET/DELETE /v2/messages/{id} and bulk DELETE /v2/messages. */
export function messageRoutes({ engine, reads }: AppDeps) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get<{ Params: { id: string } }>("/v2/messages/:id", async (req) => {
      const m = await reads.getMessage(req.userId, req.params.id);
      if (!m || (m.state !== "pending" && m.state !== "active")) throw notFound(`message ${req.params.id} not found`);
      return messageJson(m);
    });

    app.delete<{ Params: { id: string } }>("/v2/messages/:id", async (req) => {
      const cancelled = await engine.cancel(req.userId, [req.params.id]);
      if (cancelled === 0) throw notFound(`message ${req.params.id} not found or already finished`);
      return { cancelled };
    });

    // Without ids, every filter given selects; with none at all this cancels all the user's unfinished messages,
    // which is what the SDK's `cancel({all: true})` sends (only `count`). The installed SDK (@upstash/qstash 2.12)
    // documents one call as cancelling every match and `count` as ignored, so `count` is only checked (1–500), and
    // the matches are worked through in chunks, each its own commit: one call never holds one huge transaction.
    app.delete("/v2/messages", async (req) => {
      const { q } = bulkScope(req, PARAMS.messageCancel, "message");
      const filter = parseFilter(q);
      let cancelled = 0;
      for (let chunk = 0; chunk < MAX_CANCEL_CHUNKS; chunk++) {
        // What one chunk cancelled (or asked to cancel, when in flight) leaves the selection of the next.
        const ids = await reads.findUnfinished(req.userId, filter, CANCEL_CHUNK);
        const n = ids.length ? await engine.cancel(req.userId, ids) : 0;
        cancelled += n;
        if (n === 0 || ids.length < CANCEL_CHUNK) break;
      }
      return { cancelled };
    });
  };
}
