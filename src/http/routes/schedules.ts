import type { FastifyInstance } from "fastify";
import { assertPublishable } from "../../engine/egress.js";
import type { Schedule, ScheduleInput } from "../../engine/scheduler.js";
import { validateScheduleId } from "../../engine/scheduler.js";
import { parseDestination } from "../../protocol/destination.js";
import { parsePublishHeaders, withQueryConfig } from "../../protocol/publish-headers.js";
import { bodyFields, flowFields, labelFields, shownHeaders } from "../../protocol/shapes.js";
import { validateName } from "../../protocol/names.js";
import { assertBodySize, rawBody, rawRemainder, type AppDeps } from "../request.js";
import { knownQuery, PARAMS } from "../endpoint-params.js";
import type { MessageState } from "../../model/message.js";

const TICK_STATE: Record<MessageState, "IN_PROGRESS" | "SUCCESS" | "FAIL"> = {
  pending: "IN_PROGRESS",
  active: "IN_PROGRESS",
  delivered: "SUCCESS",
  failed: "FAIL",
  cancelled: "FAIL",
};

/** Schedules (SPEC §2.4): create or replace, get, list, delete, pause and resume (PATCH and POST). */
export function scheduleRoutes({ reads, scheduler, settings, config }: AppDeps) {

  async function scheduleJson(s: Schedule): Promise<Record<string, unknown>> {
    const cfg = parsePublishHeaders(s.headers, config.limits);
    const states = await reads.messageStates(s.lastMessageIds);
    const lastStates: Record<string, string> = {};
    for (const [id, state] of states) lastStates[id] = TICK_STATE[state];
    return {
      scheduleId: s.id,
      cron: s.cron,
      createdAt: s.createdAtMs,
      destination: s.destination,
      method: cfg.method,
      header: shownHeaders(cfg.header, cfg.redact),
      ...bodyFields(s.body, cfg.redact),
      retries: cfg.retries ?? config.defaultRetries,
      ...(cfg.delayMs !== undefined ? { delay: Math.round(cfg.delayMs / 1000) } : {}),
      ...(cfg.timeoutMs !== undefined ? { timeout: Math.round(cfg.timeoutMs / 1000) } : {}),
      ...(cfg.callback ? { callback: cfg.callback } : {}),
      ...(cfg.failureCallback ? { failureCallback: cfg.failureCallback } : {}),
      ...(cfg.retryDelay ? { retryDelayExpression: cfg.retryDelay } : {}),
      ...(s.headers["upstash-queue-name"] ? { queueName: s.headers["upstash-queue-name"] } : {}),
      ...flowFields(cfg),
      ...labelFields(cfg.labels),
      callerIP: s.callerIp,
      callerIp: s.callerIp,
      isPaused: s.paused,
      ...(s.lastMs !== null ? { lastScheduleTime: s.lastMs } : {}),
      ...(s.nextMs !== null && !s.paused ? { nextScheduleTime: s.nextMs } : {}),
      ...(s.lastMessageIds.length ? { lastScheduleStates: lastStates } : {}),
    };
  }

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.post("/v2/schedules/*", async (req) => {
      const { remainder, query } = rawRemainder(req, "/v2/schedules/");
      const { destination, config: queryConfig } = parseDestination(remainder, query);
      const body = rawBody(req);
      assertBodySize(body, config.limits.maxBodyBytes);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(withQueryConfig(req.headers, queryConfig))) {
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
      }
      const id = headers["upstash-schedule-id"];
      const queueName = headers["upstash-queue-name"];
      if (queueName !== undefined) validateName(queueName, "Upstash-Queue-Name");
      const input: ScheduleInput = {
        userId: req.userId,
        id: id === undefined ? undefined : validateScheduleId(id),
        cron: headers["upstash-cron"] ?? "",
        destination,
        headers,
        body,
        callerIp: req.ip,
      };
      // All of it is validated before the queue is created, so a bad schedule leaves nothing behind.
      scheduler.validate(input);
      // A URL group's endpoints were checked when they were added.
      const { callback, failureCallback } = parsePublishHeaders(headers, config.limits);
      assertPublishable(config.egress, { url: destination.kind === "url" ? destination.url : undefined, callback, failureCallback });
      if (queueName !== undefined && !settings.hasQueue(req.userId, queueName)) await settings.upsertQueue(req.userId, queueName, {});
      const { schedule, deduplicated } = await scheduler.upsert(input);
      return { scheduleId: schedule.id, ...(deduplicated ? { deduplicated: true } : {}) };
    });

    app.get("/v2/schedules", async (req) => {
      knownQuery(req, PARAMS.none);
      return Promise.all(scheduler.list(req.userId).map(scheduleJson));
    });

    app.get<{ Params: { id: string } }>("/v2/schedules/:id", async (req) => scheduleJson(scheduler.get(req.userId, req.params.id)));

    app.delete<{ Params: { id: string } }>("/v2/schedules/:id", async (req) => {
      await scheduler.delete(req.userId, req.params.id);
      return { deleted: true };
    });

    for (const method of ["PATCH", "POST"] as const) {
      for (const action of ["pause", "resume"] as const) {
        app.route<{ Params: { id: string } }>({
          method,
          url: `/v2/schedules/:id/${action}`,
          handler: async (req) => {
            await scheduler.setPaused(req.userId, req.params.id, action === "pause");
            return { isPaused: action === "pause" };
          },
        });
      }
    }
  };
}
