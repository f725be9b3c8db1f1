import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../request.js";
import { knownQuery, type EndpointParams } from "../endpoint-params.js";
import { intParam } from "../query.js";

const TICK_PARAMS: EndpointParams = { ids: [], filters: [], options: ["count"] };
const MAX_TICKS = 20;

/**
 * GET /v2/console/schedules/{id}/ticks?count=5: a schedule's next ticks from now, computed from its cron (the
 * schedule's own `nextScheduleTime` gives only the first). A paused schedule lists the ticks it would fire if resumed.
 */
export function consoleTickRoutes({ engine, scheduler }: AppDeps) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get<{ Params: { id: string } }>("/v2/console/schedules/:id/ticks", async (req) => {
      const count = intParam(knownQuery(req, TICK_PARAMS), "count", 5, 1, MAX_TICKS);
      const schedule = scheduler.get(req.userId, req.params.id);
      const ticks: number[] = [];
      let after = engine.clock.now();
      while (ticks.length < count) {
        const next = schedule.spec.next(after);
        if (next === null) break;
        ticks.push(next);
        after = next;
      }
      return { scheduleId: schedule.id, paused: schedule.paused, ticks };
    });
  };
}
