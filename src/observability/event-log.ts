import type { FastifyBaseLogger } from "fastify";
import type { Engine } from "../engine/engine.js";

/**
 * One structured line per engine event an operator can act on, with the ids to look it up: at `info` the
 * failures (an attempt, a message into the DLQ, a workflow run) and late schedule ticks; at `debug` every
 * successful delivery too. Store and engine faults go out at `warn`/`error`, a repeating store fault throttled.
 */
export function subscribeEventLog(engine: Engine, log: FastifyBaseLogger): void {
  engine.on("attemptFailed", (m, { error, status, nextDeliveryMs }) =>
    log.info(
      { event: "attemptFailed", userId: m.userId, messageId: m.id, url: m.url, attempt: m.retried, maxRetries: m.maxRetries, status, error, ...(nextDeliveryMs !== undefined ? { nextDeliveryTime: new Date(nextDeliveryMs).toISOString() } : {}) },
      nextDeliveryMs !== undefined ? "attempt failed; will retry" : "attempt failed; no retries left",
    ),
  );
  engine.on("failed", (m, dlq) =>
    log.info({ event: "messageFailed", userId: m.userId, messageId: m.id, dlqId: dlq.dlqId, url: m.url, status: dlq.responseStatus, error: dlq.error }, "message failed into the DLQ"),
  );
  engine.on("runFailed", (userId, runId) => log.info({ event: "runFailed", userId, workflowRunId: runId }, "workflow run failed"));
  engine.on("scheduleLate", (userId, scheduleId, lateMs) => log.info({ event: "scheduleLate", userId, scheduleId, lateMs }, "schedule fired late"));
  engine.on("delivered", (m) => log.debug({ event: "delivered", userId: m.userId, messageId: m.id, url: m.url, attempt: m.retried }, "message delivered"));
  engine.on("error", (err: unknown) => log.error({ event: "engineError", err }, "engine error"));
  engine.on("takenOver", (m) => log.warn({ event: "takenOver", userId: m.userId, messageId: m.id }, "attempt taken over by another node (this one was taken as gone): its outcome here is dropped"));
  engine.on("storeError", throttled((err, suppressed) => log.warn({ event: "storeError", err, suppressed }, "store write failed")));
}

/** At most one line per `everyMs` for a fault that can repeat thousands of times a second (a full disk). */
function throttled(write: (err: unknown, suppressed: number) => void, everyMs = 10_000): (err: unknown) => void {
  let lastMs = -Infinity;
  let suppressed = 0;
  return (err) => {
    const now = Date.now();
    if (now - lastMs < everyMs) {
      suppressed++;
      return;
    }
    lastMs = now;
    write(err, suppressed);
    suppressed = 0;
  };
}
