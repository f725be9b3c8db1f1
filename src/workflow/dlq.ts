import type { Clock } from "../engine/clock.js";
import type { MessageWrites } from "../engine/hooks.js";
import { newId } from "../engine/ids.js";
import type { Transition } from "../engine/transitions.js";
import { badRequest, notFound } from "../errors.js";
import { parsePublishHeaders, type HeaderBag, type PublishLimits } from "../protocol/publish-headers.js";
import { dlqJson, labelFields } from "../protocol/shapes.js";
import type { MessageFilter, OpResult, Page, Store, WriteOp } from "../store/store.js";
import { addRunHeaders, type Workflows } from "./workflows.js";
import type { DlqRecord } from "../model/dlq.js";
import type { FlowControlSpec, MessageRecord } from "../model/message.js";
import type { RunEntry, RunRecord } from "../model/run.js";

/** What the workflow DLQ uses of the engine and the workflow layer. */
export interface WorkflowDlqDeps {
  store: Store;
  clock: Clock;
  messages: MessageWrites;
  workflows: Pick<Workflows, "failureMessage">;
}

/**
 * The workflow DLQ (SPEC §2.10, §5.11, DECISIONS #9): the DLQ entries that failed a run, and what can be done
 * with them — resume (a new run that keeps the steps done before the failure), restart (a new run from the
 * initial payload), delete, and retrying or cancelling the run's failure callback.
 *
 * Which DLQ entries are workflow entries: only the one a run failed with (`run.dlqId`: a `step` or `fromCallback`
 * message that failed for good). Other DLQ entries of workflow messages are listed nowhere, neither here nor in
 * the plain DLQ, and stay until retention removes them (their attempts remain in the logs):
 * - `toCallback` (the third-party request of `context.call`): its failure is not the run's. The run receives the
 *   final response as the call's result and goes on; retrying the request from a DLQ would deliver a second
 *   result into a run that has moved past that step.
 * - `failureCall` (the run's failure callback): its state is shown on the run's entry (`failureCallbackInfo`) and
 *   it is retried through `POST /v2/workflows/dlq/callback/{dlqId}`, which consumes its entry.
 * - a second failing branch of a run that had already failed.
 *
 * A new run (resume or restart) keeps the failed run's configuration: the inherited trigger headers (retries,
 * retry delay, timeout, flow control, labels, forwarded headers), its failure callback and its labels, with the
 * request's override headers applied. It does not keep the failed run's invoker: the parent was already answered
 * `isFailed` when this run failed, and a second answer would append a second result to the parent's Invoke step.
 *
 * Limitation: resume redelivers only the failed message. A run that failed inside parallel steps gets back the
 * failed branch; branches that were still pending when the run failed were cancelled with it and are not
 * redelivered, so such a resumed run may wait forever for them — restart it instead.
 */

/** Override headers a resume or restart accepts (SPEC §2.10); others on the request are ignored. */
const OVERRIDE_HEADERS = [
  "upstash-retries",
  "upstash-retry-delay",
  "upstash-flow-control-key",
  "upstash-flow-control-value",
  "upstash-label",
  "upstash-delay",
  "upstash-not-before",
  "upstash-failure-callback",
];
/** Of those, the ones the new run keeps for all its later steps (the rest apply to the redelivered message only). */
const INHERITED_OVERRIDES = new Set(["upstash-retries", "upstash-retry-delay", "upstash-flow-control-key", "upstash-flow-control-value", "upstash-label"]);

export interface DlqOverrides {
  retries?: number;
  retryDelay?: string;
  flowControl?: FlowControlSpec;
  labels?: string[];
  delayMs?: number;
  notBeforeMs?: number;
  failureUrl?: string;
  /** Lower-case trigger headers the new run inherits on top of the failed run's. */
  inherit: Record<string, string>;
}

/** Validates the override headers of a resume or restart request; a bad one is a 400 naming it. */
export function parseOverrides(h: HeaderBag, limits: PublishLimits): DlqOverrides {
  const picked: HeaderBag = {};
  const inherit: Record<string, string> = {};
  for (const name of OVERRIDE_HEADERS) {
    const v = h[name];
    const value = Array.isArray(v) ? v[v.length - 1] : v;
    if (value === undefined || value.trim() === "") continue;
    picked[name] = value.trim();
    if (INHERITED_OVERRIDES.has(name)) inherit[name] = value.trim();
  }
  const cfg = parsePublishHeaders(picked, limits);
  return {
    retries: cfg.retries,
    retryDelay: cfg.retryDelay,
    flowControl: cfg.flowControl,
    labels: picked["upstash-label"] !== undefined ? cfg.labels : undefined,
    delayMs: cfg.delayMs,
    notBeforeMs: cfg.notBeforeMs,
    failureUrl: cfg.failureCallback,
    inherit,
  };
}

/** A workflow DLQ entry with the run it failed. */
export interface FailedRun {
  entry: DlqRecord;
  run: RunRecord;
}

/** A new run built from a DLQ entry, to be committed with others; applied once, however often it is asked for. */
export interface PreparedRun {
  dlqId: string;
  workflowRunId: string;
  workflowCreatedAt: number;
  op: WriteOp;
}

/** The wire shape of a workflow DLQ entry (SPEC §5.11; the SDK's `DLQMessage`, plus the openapi's extra fields). */
export function workflowDlqJson({ entry, run }: FailedRun): Record<string, unknown> {
  const ff = run.failureFunction;
  return {
    ...dlqJson(entry),
    workflowRunId: run.runId,
    workflowUrl: run.url,
    workflowCreatedAt: run.createdAtMs,
    ...(run.failureUrl ? { failureCallback: run.failureUrl } : {}),
    ...(ff
      ? {
          failureCallbackInfo: {
            state: ff.state,
            ...(ff.failStatus !== undefined ? { responseStatus: ff.failStatus } : {}),
            ...(ff.failResponse !== undefined ? { responseBody: ff.failResponse } : {}),
            ...(ff.failHeaders !== undefined ? { responseHeaders: ff.failHeaders } : {}),
          },
          failureFunctionState: ff.state,
        }
      : {}),
    ...(run.flowControlKey ? { flowControlKey: run.flowControlKey } : {}),
    ...labelFields(run.labels),
  };
}

export class WorkflowDlq {
  private readonly store: Store;

  constructor(private readonly deps: WorkflowDlqDeps) {
    this.store = deps.store;
  }

  // ---- reading ----------------------------------------------------------------------------------

  /** A page of workflow entries; `filter.failedRun` (at least `{}`) selects the entries that failed their run. */
  async list(userId: string, filter: MessageFilter, page: Page): Promise<{ items: FailedRun[]; cursor?: string }> {
    const { items, cursor } = await this.store.listDlq(userId, { ...filter, workflow: true, failedRun: filter.failedRun ?? {} }, page);
    const out: FailedRun[] = [];
    for (const entry of items) {
      const run = await this.store.getRun(userId, entry.message.workflow!.runId);
      if (run && run.dlqId === entry.dlqId) out.push({ entry, run });
    }
    return { items: out, cursor };
  }

  /** The entry `dlqId` of this user if it is the one a run failed with, else undefined. */
  async find(userId: string, dlqId: string): Promise<FailedRun | undefined> {
    const entry = await this.store.getDlq(userId, dlqId);
    const runId = entry?.message.workflow?.runId;
    if (!entry || !runId) return undefined;
    const run = await this.store.getRun(userId, runId);
    if (!run || run.dlqId !== dlqId) return undefined;
    return { entry, run };
  }

  async require(userId: string, dlqId: string): Promise<FailedRun> {
    const found = await this.find(userId, dlqId);
    if (!found) throw notFound(`workflow DLQ entry ${dlqId} not found`);
    return found;
  }

  /** Deletes entries; resolves how many were still there. The failed runs stay as they are (RUN_FAILED). */
  async delete(userId: string, dlqIds: string[]): Promise<number> {
    return this.deps.messages.deleteDlq(userId, dlqIds);
  }

  // ---- resume and restart -----------------------------------------------------------------------

  /**
   * Resume: a new run whose entries are the failed run's entries before the failed message, then the failed
   * message itself redelivered as a message of the new run. The endpoint sees the steps done so far (and does not
   * run them again) and continues with the step that failed. Throws a 400 when the run cannot be resumed.
   */
  async prepareResume(found: FailedRun, o: DlqOverrides, callerIp: string): Promise<PreparedRun> {
    const { entry, run: old } = found;
    const failed = entry.message;
    const entries = await this.store.getRunEntries(old.userId, old.runId);
    if (entries.length === 0) throw badRequest(`workflow run ${old.runId} has no stored steps left to resume from; restart it instead`);
    const now = this.deps.clock.now();
    const at = entries.findIndex((e) => e.messageId === failed.id);
    const before = at === -1 ? entries : entries.slice(0, at);
    const own = at === -1 ? undefined : entries[at];
    const run = this.newRun(old, o, callerIp, now, before[0]?.messageId);
    const fresh = this.redeliver(failed, run, o, now);
    if (!run.triggerMessageId) run.triggerMessageId = fresh.id;
    const copied: Omit<RunEntry, "seq">[] = before.map(({ seq: _seq, ...e }) => e);
    if (own) copied.push({ messageId: fresh.id, callType: own.callType, body: own.body, createdMs: now });
    const insert = this.deps.messages.insertOp({ record: fresh });
    return this.prepared(entry, run, [
      // The run is created and the message inserted without an entry; the entries follow in order, the
      // redelivered message's own last, all before the message can be delivered (after the commit).
      { op: "runStep", userId: run.userId, runId: run.runId, create: run, insert },
      { op: "runCopyEntries", userId: run.userId, runId: run.runId, entries: copied },
    ]);
  }

  /** Restart: a new run from the failed run's initial payload, with a fresh trigger message. */
  async prepareRestart(found: FailedRun, o: DlqOverrides, callerIp: string): Promise<PreparedRun> {
    const { entry, run: old } = found;
    const entries = await this.store.getRunEntries(old.userId, old.runId);
    const initial = entries[0];
    if (!initial) throw badRequest(`workflow run ${old.runId} has no stored initial payload to restart from`);
    // The old trigger is the template; if retention removed it, a step of the run carries the same delivery headers.
    let template = await this.store.getMessage(old.userId, old.triggerMessageId);
    if (!template?.workflow) template = entry.message.workflow?.callType === "step" ? entry.message : undefined;
    if (!template) throw badRequest(`workflow run ${old.runId} can no longer be restarted: its trigger message is gone`);
    const now = this.deps.clock.now();
    const run = this.newRun(old, o, callerIp, now, undefined);
    const fresh = this.redeliver(template, run, o, now);
    fresh.kind = "publish";
    fresh.sourceMessageId = undefined;
    fresh.body = initial.body;
    fresh.workflow = { runId: run.runId, callType: "step", init: true, detectTrigger: template.workflow?.detectTrigger, triggerApi: template.workflow?.triggerApi };
    run.triggerMessageId = fresh.id;
    const insert = this.deps.messages.insertOp({ record: fresh });
    return this.prepared(entry, run, [
      { op: "runStep", userId: run.userId, runId: run.runId, create: run, entry: { callType: "step", body: initial.body }, insert },
    ]);
  }

  /**
   * Commits prepared runs (one transaction); resolves the ones that happened. A run whose DLQ entry was consumed
   * or deleted meanwhile (a second resume of the same entry) is not created.
   */
  async commit(prepared: PreparedRun[]): Promise<PreparedRun[]> {
    if (prepared.length === 0) return [];
    const results = await this.deps.messages.commitAndStart(prepared.map((p) => p.op));
    return prepared.filter((_, i) => applied(results[i]));
  }

  private prepared(entry: DlqRecord, run: RunRecord, then: WriteOp[]): PreparedRun {
    return {
      dlqId: entry.dlqId,
      workflowRunId: run.runId,
      workflowCreatedAt: run.createdAtMs,
      op: { op: "deleteDlq", userId: run.userId, dlqId: entry.dlqId, then },
    };
  }

  private newRun(old: RunRecord, o: DlqOverrides, callerIp: string, now: number, triggerMessageId: string | undefined): RunRecord {
    return {
      userId: old.userId,
      runId: newId("wfr_", now),
      url: old.url,
      state: "RUN_STARTED",
      createdAtMs: now,
      callerIp,
      labels: o.labels ?? old.labels,
      flowControlKey: o.flowControl ? o.flowControl.key : old.flowControlKey,
      triggerMessageId: triggerMessageId ?? "",
      inherit: { ...old.inherit, ...o.inherit },
      failureUrl: o.failureUrl ?? old.failureUrl,
      failureHeaders: old.failureHeaders,
    };
  }

  /** A copy of a run's message as a pending message of `run`, with the overrides applied. */
  private redeliver(m: MessageRecord, run: RunRecord, o: DlqOverrides, now: number): MessageRecord {
    const header = { ...m.header };
    addRunHeaders(header, run);
    const due = o.notBeforeMs ?? now + (o.delayMs ?? 0);
    return {
      ...m,
      id: newId("msg_", now),
      header,
      maxRetries: o.retries ?? m.maxRetries,
      retryDelay: o.retryDelay ?? m.retryDelay,
      flowControl: o.flowControl ?? m.flowControl,
      labels: run.labels,
      notBeforeMs: due,
      createdAtMs: now,
      state: "pending",
      retried: 0,
      dueMs: due,
      cancelRequested: undefined,
      finishedMs: undefined,
      workflow: { ...m.workflow!, runId: run.runId },
    };
  }

  // ---- the failure callback ---------------------------------------------------------------------

  /**
   * Sends a run's failure callback again (SPEC §5.9) when its last one failed, with the failed step's last
   * response as before; its state goes back to CALLBACK_INPROGRESS.
   */
  async retryFailureCallback(userId: string, dlqId: string): Promise<RunRecord> {
    const { entry, run } = await this.require(userId, dlqId);
    const ff = run.failureFunction;
    if (!run.failureUrl || !ff) throw badRequest(`workflow run ${run.runId} has no failure callback`);
    if (ff.state !== "CALLBACK_FAIL") throw badRequest(`the failure callback of workflow run ${run.runId} has not failed (${ff.state}): only a failed one can be retried`);
    const failed = entry.message;
    const t: Transition = {
      verdict: { kind: "failed", nonRetryable: false },
      state: "failed",
      retried: failed.retried,
      dueMs: failed.dueMs,
      events: [],
      response:
        entry.responseStatus !== undefined
          ? { status: entry.responseStatus, headers: entry.responseHeaders ?? {}, body: entry.responseBody ?? Buffer.alloc(0) }
          : undefined,
      error: entry.error,
    };
    const entries = await this.store.getRunEntries(userId, run.runId);
    const now = this.deps.clock.now();
    const msg = this.deps.workflows.failureMessage(run, failed, t, dlqId, entries[0]?.body ?? Buffer.alloc(0), now);
    if (!msg) throw badRequest(`the failure callback of workflow run ${run.runId} can no longer be built`);
    const update: WriteOp = {
      op: "runUpdate",
      userId,
      runId: run.runId,
      expectState: ["RUN_FAILED"],
      patch: { failureFunction: { messageId: msg.record.id, url: run.failureUrl, state: "CALLBACK_INPROGRESS", dlqId } },
      then: [this.deps.messages.insertOp(msg)],
    };
    // The failed callback's own DLQ entry is consumed with the retry, so two retries at once send one callback.
    const own = await this.store.listDlq(userId, { messageIds: [ff.messageId] }, { count: 1 });
    const fence = own.items[0];
    const op: WriteOp = fence ? { op: "deleteDlq", userId, dlqId: fence.dlqId, then: [update] } : update;
    const [r] = await this.deps.messages.commitAndStart([op]);
    if (!applied(r)) throw badRequest(`the failure callback of workflow run ${run.runId} is being retried already`);
    return run;
  }

  /**
   * Cancels a run's failure callback while it is in progress (its state becomes CALLBACK_CANCELED). A run without
   * one is a 404 ("failure callback not found", the vendor's OpenAPI); one not in progress a 400.
   */
  async cancelFailureCallback(userId: string, dlqId: string): Promise<RunRecord> {
    const { run } = await this.require(userId, dlqId);
    const ff = run.failureFunction;
    if (!run.failureUrl || !ff) throw notFound(`workflow run ${run.runId} has no failure callback`);
    if (ff.state !== "CALLBACK_INPROGRESS") throw badRequest(`the failure callback of workflow run ${run.runId} is not in progress (${ff.state})`);
    await this.deps.messages.cancel(userId, [ff.messageId]);
    // A pending callback is cancelled without an attempt, so nothing else records it. One in flight is cancelled
    // when its attempt ends, unless that attempt delivered it (its outcome then replaces this state).
    const now = await this.store.getRun(userId, run.runId);
    const current = now?.failureFunction;
    if (!current || current.messageId !== ff.messageId || current.state !== "CALLBACK_INPROGRESS") {
      throw badRequest(`the failure callback of workflow run ${run.runId} has already ended (${current?.state ?? "gone"})`);
    }
    await this.deps.messages.commit([
      {
        op: "runUpdate",
        userId,
        runId: run.runId,
        expectState: ["RUN_FAILED"],
        patch: { failureFunction: { ...current, state: "CALLBACK_CANCELED" } },
      },
    ]);
    return run;
  }
}

/** Whether an operation and everything under it took effect (a consumed DLQ entry and the run it creates). */
function applied(r: OpResult | undefined): boolean {
  if (!r?.applied) return false;
  return (r.nested ?? []).every((n) => n.applied);
}
