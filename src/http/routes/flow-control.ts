import type { FastifyInstance } from "fastify";
import { flowInfo, listFlow, steerFlow } from "../../engine/controls.js";
import { badRequest } from "../../errors.js";
import type { AppDeps } from "../app.js";
import { one, type Query } from "../query.js";
import { knownQuery, PARAMS } from "../endpoint-params.js";
import { MAX_PARALLELISM, MAX_RATE } from "../../protocol/publish-headers.js";

function positiveInt(q: Query, name: string, max: number): number | undefined {
  const v = one(q, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw badRequest(`invalid ${name} "${v}": expected an integer from 1 to ${max}`);
  return Number(v);
}

function flag(q: Query, name: string): boolean {
  const v = one(q, name);
  if (v === undefined) return false;
  if (v !== "true" && v !== "false") throw badRequest(`invalid ${name} "${v}": expected true or false`);
  return v === "true";
}

/** Flow-control keys at run time (SPEC §2.9) and the user's global parallelism. */
export function flowControlRoutes({ engine, config }: AppDeps) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get("/v2/flowControl", async (req) => listFlow(engine, req.userId, one(knownQuery(req, PARAMS.flowControlList), "search")));

    app.get<{ Params: { key: string } }>("/v2/flowControl/:key", async (req) => flowInfo(engine, req.userId, req.params.key));

    app.post<{ Params: { key: string } }>("/v2/flowControl/:key/pause", async (req) => {
      await steerFlow(engine, req.userId, req.params.key, (lane) => (lane.limiter.paused = true));
      return flowInfo(engine, req.userId, req.params.key);
    });

    app.post<{ Params: { key: string } }>("/v2/flowControl/:key/resume", async (req) => {
      await steerFlow(engine, req.userId, req.params.key, (lane) => (lane.limiter.paused = false));
      return flowInfo(engine, req.userId, req.params.key);
    });

    app.post<{ Params: { key: string } }>("/v2/flowControl/:key/pin", async (req) => {
      const q = req.query as Query;
      const parallelism = positiveInt(q, "parallelism", MAX_PARALLELISM);
      const rate = positiveInt(q, "rate", MAX_RATE);
      const periodSec = positiveInt(q, "period", 7 * 86_400);
      if (parallelism === undefined && rate === undefined && periodSec === undefined) {
        throw badRequest("pin needs at least one of parallelism, rate or period");
      }
      await steerFlow(engine, req.userId, req.params.key, (lane, now) => lane.limiter.pin({ parallelism, rate, periodSec }, now));
      return flowInfo(engine, req.userId, req.params.key);
    });

    app.post<{ Params: { key: string } }>("/v2/flowControl/:key/unpin", async (req) => {
      const q = req.query as Query;
      const opts = { parallelism: flag(q, "parallelism"), rate: flag(q, "rate") };
      await steerFlow(engine, req.userId, req.params.key, (lane, now) => lane.limiter.unpin(opts, now));
      return flowInfo(engine, req.userId, req.params.key);
    });

    app.post<{ Params: { key: string } }>("/v2/flowControl/:key/resetRate", async (req) => {
      await steerFlow(engine, req.userId, req.params.key, (lane, now) => lane.limiter.resetRate(now));
      return flowInfo(engine, req.userId, req.params.key);
    });

    // Back to the messages' own configuration: unpinned, resumed, a fresh rate window.
    app.post<{ Params: { key: string } }>("/v2/flowControl/:key/reset", async (req) => {
      await steerFlow(engine, req.userId, req.params.key, (lane, now) => {
        lane.limiter.unpin({ parallelism: true, rate: true });
        lane.limiter.clearHeld();
        lane.limiter.paused = false;
        lane.limiter.resetRate(now);
      });
      return flowInfo(engine, req.userId, req.params.key);
    });

    app.get("/v2/globalParallelism", async (req) => ({
      parallelismMax: config.globalParallelism || config.maxInFlight,
      parallelismCount: engine.dispatcher.userCount(req.userId),
    }));
  };
}
