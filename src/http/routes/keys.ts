import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../request.js";

/** GET /v2/keys (also the SDK's dev-mode probe) and POST /v2/keys/rotate. */
export function keyRoutes({ engine }: AppDeps) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get("/v2/keys", async (req) => engine.keys.get(req.userId));
    app.post("/v2/keys/rotate", async (req) => engine.keys.rotate(req.userId));
  };
}
