import { parseJsonBounded } from "../protocol/json-depth.js";
import type { LogEvent } from "../model/log.js";
import type { MessageRecord } from "../model/message.js";
import type { RunEntry, RunRecord } from "../model/run.js";
import type { StoredWaiter } from "../model/waiter.js";

/**
 * The run-grouped workflow log (SPEC §5.10): a run's entries become its step groups (sequential steps one per
 * group, results of one `Promise.all` together), and its unfinished or failed deliveries the pending `next` group.
 * Pure: everything it shows is passed in.
 */

type Json = Record<string, unknown>;
interface RunMessage {
  message: MessageRecord;
  events: LogEvent[];
}

const text = (b: Buffer | undefined): string => (b ?? Buffer.alloc(0)).toString("utf8");


/** The fields of a published step the log repeats, under the names the log uses. */
function stepFields(step: Json): Json {
  const out: Json = {};
  for (const k of ["stepId", "stepName", "stepType", "out", "concurrent", "sleepFor", "sleepUntil", "waitEventId", "waitTimeout"]) {
    if (step[k] !== undefined) out[k] = step[k];
  }
  if (step.timeout !== undefined) out.waitTimeoutDuration = step.timeout;
  return out;
}

type Group = { type: "sequential" | "parallel" | "next"; steps: Json[] };

/**
 * The `Promise.all`s of a run, from their plan steps (published together, one per branch): each branch's result,
 * or its failure, is shown in its fork's parallel group, created where the first of them appears.
 */
class Forks {
  private readonly byTarget = new Map<unknown, { group?: Group }>();
  private readonly byMessage = new Map<string, Json>();
  private current: { group?: Group } | undefined;

  constructor(private readonly groups: Group[]) {}

  /** A plan step: plan steps that follow each other (one batch) are the branches of one fork. */
  plan(messageId: string, step: Json): void {
    this.current ??= {};
    this.byTarget.set(step.targetStep, this.current);
    this.byMessage.set(messageId, step);
  }

  /** Any other step: the next plan step starts a new fork. */
  interrupt(): void {
    this.current = undefined;
  }

  /** The plan step a message carried, if it carried one. */
  planOf(messageId: string): Json | undefined {
    return this.byMessage.get(messageId);
  }

  /** Adds a branch's log to its fork's group; false when no plan names the branch. */
  place(stepId: unknown, logged: Json): boolean {
    const fork = this.byTarget.get(stepId);
    if (!fork) return false;
    if (!fork.group) {
      fork.group = { type: "parallel", steps: [] };
      this.groups.push(fork.group);
    }
    fork.group.steps.push(logged);
    return true;
  }
}

export function runLog(run: RunRecord, entries: RunEntry[], allMessages: RunMessage[], nowMs: number, waiters: StoredWaiter[] = []): Json {
  // Messages older than the run belong to an earlier run of the same id, which has ended (DECISIONS #21).
  const messages = allMessages.filter((m) => m.message.createdAtMs >= run.createdAtMs);
  const byId = new Map(messages.map((m) => [m.message.id, m]));
  const calls = messages.filter((m) => m.message.workflow?.callType === "toCallback");
  let callIndex = 0;
  const groups: Group[] = [];
  const seen = new Set<unknown>();
  const forks = new Forks(groups);
  entries.forEach((entry, i) => {
    if (entry.callType !== "step") return;
    const carrier = byId.get(entry.messageId)?.message;
    const base: Json = {
      callType: entry.callType,
      messageId: entry.messageId,
      retries: carrier?.maxRetries ?? 0,
      ...(carrier?.retryDelay ? { retryDelay: carrier.retryDelay } : {}),
      state: "STEP_SUCCESS",
      createdAt: entry.createdMs,
      headers: carrier?.header ?? {},
    };
    if (i === 0) {
      groups.push({
        type: "sequential",
        steps: [{ stepId: 0, stepName: "init", stepType: "Initial", out: text(entry.body), concurrent: 1, ...base }],
      });
      return;
    }
    // A step body is the user's bytes: one that is not JSON, or too deep to write back into the log, is not shown.
    const step = parseJsonBounded(text(entry.body)) as any;
    if (!step || typeof step !== "object") return;
    // A plan step (stepId 0 with a target) only schedules a branch; the branch's result is what the log shows.
    if (step.stepId === 0 && step.targetStep !== undefined) {
      forks.plan(entry.messageId, step);
      return;
    }
    forks.interrupt();
    // A step published twice (delivery is at least once) is shown once, as the SDK reads it.
    if (seen.has(step.stepId)) return;
    seen.add(step.stepId);
    const logged: Json = { ...base, ...stepFields(step) };
    if (step.stepType === "Call") {
      const call = calls[callIndex++]?.message;
      if (call) {
        logged.callUrl = call.url;
        logged.callMethod = call.method;
        logged.callHeaders = call.header;
        logged.callBody = text(call.body);
      }
      const res = typeof step.out === "string" ? (parseJsonBounded(step.out) as any) : undefined;
      if (res && typeof res === "object") {
        logged.callResponseStatus = res.status;
        logged.callResponseBody = typeof res.body === "string" ? res.body : JSON.stringify(res.body);
        logged.callResponseHeaders = res.header;
      }
    }
    const invoked = carrier?.workflow?.invoked;
    if (step.stepType === "Invoke" && invoked) {
      logged.invokedWorkflowRunId = invoked.runId;
      logged.invokedWorkflowUrl = invoked.url;
      logged.invokedWorkflowCreatedAt = invoked.createdAtMs;
    }
    if (step.stepType === "SleepFor" || step.stepType === "SleepUntil") {
      if (step.sleepFor !== undefined) logged.sleepFor = step.sleepFor;
      if (step.sleepUntil !== undefined) logged.sleepUntil = step.sleepUntil;
    }
    const concurrent = Number(step.concurrent ?? 1);
    const last = groups[groups.length - 1];
    if (concurrent > 1) {
      if (forks.place(step.stepId, logged)) return;
      if (last?.type === "parallel" && last.steps.length < concurrent && last.steps[0].concurrent === concurrent) last.steps.push(logged);
      else groups.push({ type: "parallel", steps: [logged] });
    } else {
      groups.push({ type: "sequential", steps: [logged] });
    }
  });

  // Deliveries still under way (or the one that failed the run): what the run is doing next.
  const next: Json[] = [];
  for (const { message: m, events } of messages) {
    const tag = m.workflow;
    if (!tag || tag.callType === "failureCall") continue;
    // A `context.call` under way is shown with where it goes; its failure is not the run's (WF_NoDelete).
    const isCall = tag.callType === "toCallback";
    // Only a run still going has deliveries under way: once it has ended, the delivery that ended it may still be
    // finishing, and what it left pending is dropped, neither is a step of it.
    const unfinished = run.state === "RUN_STARTED" && (m.state === "pending" || m.state === "active");
    const failedRun = !isCall && m.state === "failed" && run.state === "RUN_FAILED";
    const cancelled = m.state === "cancelled" && run.state === "RUN_CANCELED" && events.some((e) => e.state === "CANCEL_REQUESTED");
    if (!unfinished && !failedRun && !cancelled) continue;
    const errors = events
      .filter((e) => e.state === "ERROR")
      .map((e) => ({
        error: e.error ?? "",
        body: text(e.responseBody),
        headers: e.responseHeaders ?? {},
        status: e.responseStatus ?? 0,
        time: e.timeMs,
      }));
    const stepName = events
      .map((e) => e.responseHeaders?.["Upstash-Error-Step-Name"]?.[0])
      .filter((n): n is string => !!n)
      .pop();
    // A parallel branch that failed the run is shown by name among its siblings.
    const plan = failedRun ? forks.planOf(m.id) : undefined;
    if (plan && !seen.has(plan.targetStep)) {
      forks.place(plan.targetStep, {
        callType: "step",
        messageId: m.id,
        ...stepFields({ ...plan, stepId: plan.targetStep }),
        retries: m.maxRetries,
        ...(m.retryDelay ? { retryDelay: m.retryDelay } : {}),
        state: "STEP_FAILED",
        ...(errors.length ? { errors } : {}),
        createdAt: m.createdAtMs,
        headers: m.header,
      });
      continue;
    }
    next.push({
      messageId: m.id,
      ...(stepName ? { stepName } : {}),
      ...(isCall ? { callType: "toCallback", callUrl: m.url, callMethod: m.method } : {}),
      state: failedRun
        ? "STEP_FAILED"
        : cancelled
          ? "STEP_CANCELED"
          : m.retried > 0 && m.state === "pending"
            ? "STEP_RETRY"
            : "STEP_PROGRESS",
      retries: m.maxRetries,
      ...(m.retryDelay ? { retryDelay: m.retryDelay } : {}),
      ...(errors.length ? { errors } : {}),
      ...(unfinished ? { nextDeliveryTime: Math.max(m.dueMs, m.state === "active" ? nowMs : m.dueMs) } : {}),
    });
  }
  // Waits under way: the run is waiting for an event (or a webhook call) until the deadline.
  for (const w of waiters) {
    next.push({
      stepId: w.step.stepId,
      stepName: w.step.stepName,
      stepType: w.step.stepType,
      waitEventId: w.eventId,
      waitTimeoutDeadline: w.deadlineMs,
      state: "STEP_PROGRESS",
      createdAt: w.createdMs,
    });
  }
  if (next.length) groups.push({ type: "next", steps: next });

  const log: Json = {
    workflowRunId: run.runId,
    workflowUrl: run.url,
    workflowState: run.state,
    workflowRunCreatedAt: run.createdAtMs,
    ...(run.completedAtMs !== undefined ? { workflowRunCompletedAt: run.completedAtMs } : {}),
    ...(run.callerIp ? { workflowRunCallerIp: run.callerIp } : {}),
    ...(run.response !== undefined ? { workflowRunResponse: run.response } : {}),
    ...(run.invoker
      ? {
          invoker: {
            workflowRunId: run.invoker.workflowRunId,
            workflowUrl: run.invoker.workflowUrl,
            workflowRunCreatedAt: run.invoker.workflowRunCreatedAt,
          },
        }
      : {}),
    ...(run.dlqId ? { dlqId: run.dlqId } : {}),
    ...(run.labels.length ? { label: run.labels.join(","), labels: run.labels } : {}),
    ...(run.flowControlKey ? { flowControlKey: run.flowControlKey } : {}),
    steps: groups,
  };
  if (run.failureFunction) log.failureFunction = failureFunctionLog(run, byId.get(run.failureFunction.messageId));
  return log;
}

/** The failure function's block: what failed (from the callback's body) and how the callback itself went. */
function failureFunctionLog(run: RunRecord, delivery: RunMessage | undefined): Json {
  const ff = run.failureFunction!;
  const sent = delivery ? (parseJsonBounded(text(delivery.message.body)) as any) : undefined;
  const lastResponse = delivery?.events.filter((e) => e.responseStatus !== undefined || e.error !== undefined).pop();
  const errors = delivery?.events
    .filter((e) => e.state === "ERROR")
    .map((e) => ({ error: e.error ?? "", body: text(e.responseBody), headers: e.responseHeaders ?? {}, status: e.responseStatus ?? 0, time: e.timeMs }));
  return {
    messageId: ff.messageId,
    url: ff.url,
    state: ff.state,
    ...(ff.dlqId ? { dlqId: ff.dlqId } : {}),
    failStatus: sent?.status ?? 0,
    failResponse: sent?.body ? Buffer.from(String(sent.body), "base64").toString("utf8") : "",
    failHeaders: sent?.header ?? {},
    ...(errors?.length ? { errors } : {}),
    ...(lastResponse?.responseStatus !== undefined ? { responseStatus: lastResponse.responseStatus } : {}),
    ...(lastResponse?.responseBody ? { responseBody: text(lastResponse.responseBody) } : {}),
    ...(lastResponse?.responseHeaders ? { responseHeaders: lastResponse.responseHeaders } : {}),
    ...(delivery && (delivery.message.state === "pending" || delivery.message.state === "active") ? { nextDeliveryTime: delivery.message.dueMs } : {}),
    ...(delivery ? { maxRetries: delivery.message.maxRetries } : {}),
  };
}

/** One state change of a workflow message, in the event-mode shape (`WorkflowEvent`). */
export function workflowEvent(run: RunRecord | undefined, m: MessageRecord, e: LogEvent): Json {
  return {
    time: e.timeMs,
    state: e.state,
    workflowRunId: m.workflow?.runId,
    workflowUrl: run?.url ?? m.url,
    ...(run ? { workflowCreatedAt: run.createdAtMs } : {}),
    messageId: m.id,
    stepInfo: { messageId: m.id, callType: m.workflow?.callType, createdAt: m.createdAtMs },
    ...(e.nextDeliveryTimeMs !== undefined ? { nextDeliveryTime: e.nextDeliveryTimeMs } : {}),
    ...(e.error !== undefined ? { error: e.error } : {}),
    ...(e.responseStatus !== undefined ? { responseStatus: e.responseStatus } : {}),
    ...(e.responseBody ? { responseBody: text(e.responseBody) } : {}),
    ...(e.responseHeaders ? { responseHeaders: e.responseHeaders } : {}),
    headers: m.header,
    ...(run?.invoker
      ? {
          invokerWorkflowRunId: run.invoker.workflowRunId,
          invokerWorkflowUrl: run.invoker.workflowUrl,
          invokerWorkflowCreatedAt: run.invoker.workflowRunCreatedAt,
        }
      : {}),
    ...(run?.response !== undefined ? { workflowRunResponse: run.response } : {}),
    ...(m.labels.length ? { label: m.labels.join(","), labels: m.labels } : {}),
    callerIp: m.callerIp,
  };
}
