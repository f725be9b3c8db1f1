import type { Config } from "../config.js";
import type { DlqEntry } from "../model/dlq.js";
import type { MessageRecord } from "../model/message.js";
import { classifyStoreError, isCancelAsked, isFencedOut } from "../store/store-errors.js";
import type { OpResult, WriteOp } from "../store/store.js";
import type { Accept } from "./accept.js";
import { buildCallbackMessage, callbackBody } from "./build-message.js";
import type { Clock } from "./clock.js";
import type { Committer } from "./committer.js";
import type { AttemptResult } from "./deliverer.js";
import type { Dispatcher } from "./dispatcher.js";
import type { EngineEmitter } from "./events.js";
import type { EngineHooks } from "./hooks.js";
import { newDlqId } from "./ids.js";
import type { OwnWrites } from "./own-writes.js";
import { afterAttempt, outcomeUpdate, type Transition } from "./transitions.js";

export interface FinishDeps {
  clock: Clock;
  config: Pick<Config, "limits">;
  committer: Pick<Committer, "run">;
  ownWrites: OwnWrites;
  dispatcher: Pick<Dispatcher, "attemptEnded" | "callbackEnded">;
  accept: Pick<Accept, "insertOp" | "settleInserts" | "schedule">;
  /** The attempts in flight, by message id: the finished one leaves it once its outcome is written. */
  inFlight: Map<string, MessageRecord>;
  hooks(): EngineHooks;
  events: EngineEmitter;
  isStopped(): boolean;
}

/** Recording an attempt's outcome: its DLQ entry, callbacks and workflow writes in one transaction, then what follows. */
export class Finish {
  constructor(private readonly deps: FinishDeps) {}

  /** Records an attempt's outcome with its DLQ entry and callbacks in one transaction, then schedules what follows. */
  async finishAttempt(msg: MessageRecord, result: AttemptResult): Promise<void> {
    const { dispatcher, events } = this.deps;
    const now = this.deps.clock.now();
    const t = afterAttempt(msg, result, now, this.deps.config.limits.maxDelayMs);
    const ops: WriteOp[] = [outcomeUpdate(msg, t)];
    let dlq: DlqEntry | undefined;
    if (t.verdict.kind === "failed") {
      dlq = {
        dlqId: newDlqId(now),
        userId: msg.userId,
        messageId: msg.id,
        createdMs: now,
        responseStatus: t.response?.status,
        responseHeaders: t.response?.headers,
        responseBody: t.response?.body,
        error: t.error,
      };
      ops.push({ op: "insertDlq", entry: dlq });
    }
    const followUps = this.callbacksFor(msg, t, dlq, now);
    const inserts: WriteOp[] = followUps.map((cb) => this.deps.accept.insertOp({ record: cb }));
    let hookOps: WriteOp[] = [];
    let results: OpResult[];
    try {
      if (msg.workflow) hookOps = await this.deps.hooks().afterAttempt(msg, t, dlq, now);
      results = await this.commitOutcome(inserts, ops, hookOps);
    } catch (err) {
      if (isCancelAsked(err) && !msg.cancelRequested) {
        // Asked on another node while this attempt ran, before its news came: the outcome is a cancel after all.
        msg.cancelRequested = true;
        return this.finishAttempt(msg, result);
      }
      throw err;
    } finally {
      // Also at stop: an outcome still unwritten leaves the message active in the store, retried on the next start.
      this.deps.inFlight.delete(msg.id);
    }
    if (!results[inserts.length].applied) {
      // Fenced out: another node declared this one dead and retried the message; its outcome is that node's now.
      events.emit("takenOver", msg);
      dispatcher.attemptEnded(msg, true, 0);
      return;
    }
    msg.state = t.state;
    msg.retried = t.retried;
    msg.dueMs = t.dueMs;
    msg.finishedMs = t.finishedMs;
    if (t.verdict.kind === "retry" || t.verdict.kind === "failed") {
      const nextDeliveryMs = t.verdict.kind === "retry" ? t.verdict.atMs : undefined;
      events.emit("attemptFailed", msg, { error: t.error ?? `destination responded with status ${t.response?.status}`, status: t.response?.status, nextDeliveryMs });
    }
    switch (t.verdict.kind) {
      case "delivered":
        events.emit("delivered", msg);
        break;
      case "retry":
        events.emit("retry", msg, t.verdict.atMs);
        this.deps.accept.schedule(msg, false);
        break;
      case "failed":
        events.emit("failed", msg, dlq!);
        break;
      case "cancelled":
        events.emit("cancelled", msg);
        break;
      default:
        assertNever(t.verdict);
    }
    const final = t.verdict.kind !== "retry";
    const callbacks = followUps.filter((_, i) => results[i].applied).length;
    dispatcher.attemptEnded(msg, final, callbacks);
    if (final && msg.kind !== "publish" && msg.sourceMessageId && msg.sourceQueueName) {
      dispatcher.callbackEnded(msg.sourceMessageId, msg.userId, msg.sourceQueueName);
    }
    this.deps.accept.settleInserts(inserts, results);
    const hookResults = results.slice(inserts.length + ops.length);
    this.deps.accept.settleInserts(hookOps, hookResults);
    if (hookOps.length) this.deps.hooks().afterCommit(hookOps, hookResults);
  }

  /**
   * Commits an attempt's outcome with its follow-ups (callbacks, workflow steps), retrying until it lands. When
   * the store refuses the follow-ups for their content, the outcome is recorded without them rather than never.
   */
  private async commitOutcome(inserts: WriteOp[], ops: WriteOp[], hookOps: WriteOp[]): Promise<OpResult[]> {
    // Most outcomes have neither callbacks nor workflow writes: their ops go as they are.
    const all = inserts.length === 0 && hookOps.length === 0 ? ops : [...inserts, ...ops, ...hookOps];
    try {
      return await this.deps.committer.run(all);
    } catch (err) {
      if (isFencedOut(err)) return all.map(() => ({ applied: false }));
      if (isCancelAsked(err)) throw err;
      if (this.deps.isStopped() || classifyStoreError(err) !== "rejected" || inserts.length + hookOps.length === 0) {
        return this.deps.ownWrites.commit(all, err);
      }
      this.deps.events.emit("error", err);
      const results = await this.deps.ownWrites.commit(ops);
      const dropped = { applied: false };
      return [...inserts.map(() => dropped), ...results, ...hookOps.map(() => dropped)];
    }
  }

  private callbacksFor(msg: MessageRecord, t: Transition, dlq: DlqEntry | undefined, now: number): MessageRecord[] {
    // Workflow messages carry no callbacks of their own; a run's follow-ups come from the hooks' `afterAttempt`.
    if (msg.kind !== "publish" || t.verdict.kind === "cancelled" || msg.workflow) return [];
    const out: MessageRecord[] = [];
    const limits = { ...this.deps.config.limits };
    try {
      if (msg.callback) {
        const cb = buildCallbackMessage(msg, "callback", callbackBody(msg, t), now, limits);
        if (cb) out.push(cb);
      }
      if (dlq && msg.failureCallback) {
        const cb = buildCallbackMessage(msg, "failureCallback", callbackBody(msg, t, dlq.dlqId), now, limits);
        if (cb) out.push(cb);
      }
    } catch {
      // Callback headers were validated at publish; a limit lowered since then must not lose the outcome.
    }
    return out;
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled verdict ${JSON.stringify(x)}`);
}
