import { timingSafeEqual } from "node:crypto";
import { sha256 } from "../../digest.js";
import type { FastifyInstance } from "fastify";
import { HttpError } from "../../errors.js";
import { Metrics } from "../../observability/metrics.js";
import type { AppDeps } from "../request.js";
import { requestToken } from "../token-auth.js";

/**
 * GET /metrics in the Prometheus text format. Not a user's endpoint: it counts every user, so it takes its own
 * token (SLUICE_METRICS_TOKEN) rather than a user's, or none when metricsPublic is set (dev mode's default).
 */
export function metricsRoutes({ engine, config }: AppDeps) {
  const { metricsPublic, metricsToken, metricsStoreCountMs } = config.observability;
  const expected = metricsToken === undefined ? undefined : sha256(metricsToken);
  return async function plugin(app: FastifyInstance): Promise<void> {
    const metrics = new Metrics(engine, metricsStoreCountMs);
    app.addHook("onClose", async () => metrics.close());
    app.get("/metrics", async (req, reply) => {
      if (!metricsPublic) {
        if (!expected) throw new HttpError(403, "metrics need a token: set SLUICE_METRICS_TOKEN (or SLUICE_METRICS_PUBLIC=true)");
        const token = requestToken(req);
        if (!token) throw new HttpError(401, "missing token: send Authorization: Bearer <SLUICE_METRICS_TOKEN>");
        if (!timingSafeEqual(sha256(token), expected)) throw new HttpError(401, "invalid metrics token");
      }
      reply.header("content-type", metrics.contentType);
      return metrics.scrape();
    });
  };
}
