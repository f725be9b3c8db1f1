import type { Config } from "../config.js";
import { coerceError } from "../errors.js";
import type { MessageRecord } from "../model/message.js";
import type { Tracing } from "../observability/tracing.js";
import { deliveryRequest } from "../protocol/delivery-request.js";
import type { Clock } from "./clock.js";
import type { AttemptResult, Deliverer } from "./deliverer.js";
import type { Dispatcher } from "./dispatcher.js";
import type { DueLoader } from "./due-loader.js";
import type { EngineEmitter } from "./events.js";
import type { EngineHooks } from "./hooks.js";
import type { KeyRing } from "./keyring.js";
import type { OwnWrites } from "./own-writes.js";
import { startUpdate } from "./transitions.js";
import type { WriteOp } from "../store/store.js";

export interface AttemptDeps {
  clock: Clock;
  /** This node's id in a cluster (undefined on the sole node). */
  nodeId: string | undefined;
  config: Pick<Config, "maxWaiting" | "nbfSkewSeconds" | "limits">;
  dispatcher: Pick<Dispatcher, "waitingCount" | "unstart" | "takeDirtyWindows">;
  loader: Pick<DueLoader, "kick">;
  ownWrites: OwnWrites;
  /** The attempts in flight, by message id: an attempt is in it from its start until its outcome is written. */
  inFlight: Map<string, MessageRecord>;
  keys: Pick<KeyRing, "get">;
  deliverer: Pick<Deliverer, "attempt">;
  hooks(): EngineHooks;
  /** Set when tracing is configured; undefined costs the attempt path nothing. */
  tracing(): Tracing | undefined;
  events: EngineEmitter;
  /** Records the attempt's outcome. */
  finish(msg: MessageRecord, result: AttemptResult): Promise<void>;
  track(p: Promise<unknown>): void;
}

/** Starting attempts: the fenced start, then building, signing and sending the request. */
export class Attempts {
  constructor(private readonly deps: AttemptDeps) {}

  /** Starts messages the dispatcher released; each start is fenced in the store first. */
  async activate(batch: MessageRecord[]): Promise<void> {
    const { dispatcher, config } = this.deps;
    const now = this.deps.clock.now();
    if (dispatcher.waitingCount < config.maxWaiting / 2) this.deps.loader.kick();
    const ops: WriteOp[] = batch.map((m) => startUpdate(m, now));
    // In a cluster the rate windows these starts count in are saved with them: a leader that takes over after a
    // crash continues each window exactly (on one node, saving them once a second is enough for a restart).
    if (this.deps.nodeId !== undefined && batch.some((m) => m.flowControl)) {
      const windows = dispatcher.takeDirtyWindows();
      if (windows.length) ops.push({ op: "putFlowWindows", windows });
    }
    // The starts stay counted while the write is retried: the limits hold, and nothing else could start meanwhile.
    const results = await this.deps.ownWrites.commit(ops);
    batch.forEach((m, i) => {
      if (!results[i].applied) {
        // Cancelled (or taken elsewhere) since it became due: give back what it was counted against.
        dispatcher.unstart(m, true);
        return;
      }
      m.state = "active";
      this.launch(m);
    });
  }

  /** Runs the attempt of a message stored as active. */
  launch(msg: MessageRecord): void {
    // Its outcome is fenced on this node (in a cluster; undefined on the sole node).
    msg.nodeId = this.deps.nodeId;
    this.deps.inFlight.set(msg.id, msg);
    this.deps.track(this.attempt(msg));
  }

  private async attempt(msg: MessageRecord): Promise<void> {
    this.deps.events.emit("attempt", msg);
    const startedMs = performance.now();
    const span = this.deps.tracing()?.startAttempt(msg);
    let result: AttemptResult;
    try {
      result = await this.deliver(msg, span?.traceparent);
    } catch (err) {
      // Preparing the request failed (a store read): the attempt fails and is retried like any other.
      result = { kind: "error", error: `could not prepare the delivery: ${coerceError(err).message}` };
    }
    span?.end(result);
    this.deps.events.emit("attemptEnded", msg, result, performance.now() - startedMs);
    await this.deps.finish(msg, result);
  }

  /** Builds, signs and sends one attempt's request; `traceparent` names the attempt's span to the destination. */
  private async deliver(msg: MessageRecord, traceparent: string | undefined): Promise<AttemptResult> {
    let body = msg.body;
    if (msg.workflow?.callType === "step") {
      const list = await this.deps.hooks().deliveryBody(msg);
      if (!list) {
        // Its run ended while it waited: it is cancelled instead of delivered.
        msg.cancelRequested = true;
        return { kind: "error", error: "workflow run has ended" };
      }
      body = list;
    }
    const { config } = this.deps;
    const signingKey = this.deps.keys.get(msg.userId).current;
    const timeoutMs = msg.timeoutMs ?? config.limits.maxTimeoutMs;
    return this.deps.deliverer.attempt(deliveryRequest(msg, body, signingKey, this.deps.clock.now(), config.nbfSkewSeconds, timeoutMs, traceparent));
  }
}
