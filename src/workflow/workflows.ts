import { buildMessage, callbackBody, type NewMessage, type Target } from "../engine/build-message.js";
import type { Engine } from "../engine/engine.js";
import type { DlqEntry, MessageRecord } from "../engine/message.js";
import type { Transition } from "../engine/transitions.js";
import { badRequest, HttpError } from "../errors.js";
import { exceedsJsonDepth, MAX_JSON_DEPTH } from "../protocol/json-depth.js";
import { parsePublishHeaders, type HeaderBag } from "../protocol/publish-headers.js";
import type { WriteOp } from "../store/store.js";
import { canonicalHeaderName } from "../protocol/header-names.js";
import { flattenHeaders, inheritedHeaders, NOT_INHERITED, userForwardHeaders, workflowHeadersOf, type WorkflowHeaders } from "./headers.js";
import type { CallType, Invoker, RunEntry, RunRecord, RunState } from "./types.js";


/** How a prepared workflow message joins its run when it is stored. */
export interface RunPlan {
  runId: string;
  create?: RunRecord;
  continueExisting?: boolean;
  entry?: { callType: CallType; body: Buffer };
}

const FINAL: RunState[] = ["RUN_SUCCESS", "RUN_FAILED", "RUN_CANCELED"];
const b64 = (b: Buffer): string => b.toString("base64");

/**
 * The reply to a step published to a run that can no longer take one (SPEC §5.4: the SDK reads 400 as "finished").
 * In a batch it refuses the whole request, not just its item.
 */
export class RunClosedError extends HttpError {
  constructor(runId: string, state: RunState | "unknown") {
    const word = state === "RUN_CANCELED" ? "cancelled" : state === "RUN_FAILED" ? "failed" : "finished";
    super(
      400,
      state === "unknown"
        ? `failed to publish to url: workflow run ${runId} does not exist`
        : `failed to publish to url: can not append to a ${word} workflow`,
    );
  }
}

/**
 * The server side of Upstash Workflow (SPEC §5) on top of the message engine: a workflow message is an ordinary
 * message tagged with its run, stored in the same transaction as the run's new entry, and delivered with the
 * run's entries up to its own as the body.
 */
export class Workflows {
  /** The started runs' entries, encoded once for delivery bodies (entries are never changed once appended). */
  private readonly encoded = new EncodedEntries();

  constructor(private readonly engine: Engine) {}

  private get store() {
    return this.engine.store;
  }

  private get limits() {
    return this.engine.config.limits;
  }

  // ---- publishing into runs ---------------------------------------------------------------------

  /** The runs that publishes with these headers continue, read before the messages are built. */
  async runsFor(userId: string, bags: HeaderBag[]): Promise<Map<string, RunRecord>> {
    const ids = new Set<string>();
    for (const h of bags) {
      const wf = workflowHeadersOf(h);
      if (wf && (!wf.init || wf.triggerBySdk)) ids.add(wf.runId);
    }
    const runs = new Map<string, RunRecord>();
    for (const id of ids) {
      const run = await this.store.getRun(userId, id);
      if (run) runs.set(id, run);
    }
    return runs;
  }

  /**
   * Builds the message of a publish that carries `Upstash-Workflow-RunId` (SPEC §5.4): a trigger creates its run,
   * a step inherits the run's configuration and appends an entry. Throws a 4xx for anything wrong.
   */
  prepare(
    wf: WorkflowHeaders,
    headers: HeaderBag,
    body: Buffer,
    target: Target,
    origin: { userId: string; callerIp: string; nowMs: number },
    runs: Map<string, RunRecord>,
  ): NewMessage {
    const run = runs.get(wf.runId);
    if (wf.init) return this.prepareTrigger(wf, headers, body, target, origin, run);
    if (!run) throw new RunClosedError(wf.runId, "unknown");
    if (run.state !== "RUN_STARTED") throw new RunClosedError(wf.runId, run.state);
    // The call to a third party is the user's own request: it gets none of the run's headers or settings.
    const merged = wf.callType === "toCallback" ? headers : { ...run.inherit, ...headers };
    const cfg = parsePublishHeaders(merged, this.limits);
    stripCallbacks(cfg, wf.callType === "toCallback");
    if (wf.callType !== "toCallback") addRunHeaders(cfg.header, run);
    const item = buildMessage(cfg, target, body, origin, this.engine.config.defaultRetries);
    item.record.labels = run.labels;
    item.record.workflow = { runId: run.runId, callType: wf.callType, lazyFetch: wf.features.has("LazyFetch") || undefined };
    item.run = { runId: run.runId, entry: { callType: wf.callType, body } };
    return item;
  }

  private prepareTrigger(
    wf: WorkflowHeaders,
    headers: HeaderBag,
    body: Buffer,
    target: Target,
    origin: { userId: string; callerIp: string; nowMs: number },
    existing: RunRecord | undefined,
  ): NewMessage {
    // The id becomes part of URLs (`/v2/workflows/runs/{id}`, webhook URLs): nothing that would break them.
    if (!/^[^\s/?#%\\]{1,200}$/.test(wf.runId)) {
      throw badRequest(`invalid Upstash-Workflow-RunId "${wf.runId.slice(0, 100)}": 1 to 200 characters, without spaces, "/", "?", "#", "%" or "\\"`);
    }
    const cfg = parsePublishHeaders(headers, this.limits);
    // A direct call (or the SDK's re-trigger after `/v2/trigger`) forwards every header it received: the transport's
    // own are not delivered again, nor the unknown-SDK marker, which delivered again would make the endpoint loop.
    for (const name of NOT_INHERITED) {
      const canonical = canonicalHeaderName(name.slice("upstash-forward-".length));
      if (canonical === "Upstash-Workflow-Unknown-Sdk" && !wf.triggerBySdk) continue;
      delete cfg.header[canonical];
    }
    let payload = body;
    let invoker: Invoker | undefined;
    if (wf.invoke) ({ payload, invoker } = parseInvoke(body));
    const failureUrl = cfg.failureCallback;
    const failureHeaders = Object.keys(cfg.failureCallbackHeaders).length ? cfg.failureCallbackHeaders : undefined;
    stripCallbacks(cfg, false);
    const createdAtMs = existing && wf.triggerBySdk && existing.state === "RUN_STARTED" ? existing.createdAtMs : origin.nowMs;
    const run: RunRecord = {
      userId: origin.userId,
      runId: wf.runId,
      url: validUrl(wf.url) ?? target.url,
      state: "RUN_STARTED",
      createdAtMs,
      callerIp: origin.callerIp,
      labels: cfg.labels,
      flowControlKey: cfg.flowControl?.key,
      triggerMessageId: "",
      inherit: inheritedHeaders(headers),
      failureUrl,
      failureHeaders,
      invoker,
    };
    addRunHeaders(cfg.header, run);
    const item = buildMessage(cfg, target, payload, origin, this.engine.config.defaultRetries);
    run.triggerMessageId = item.record.id;
    item.record.workflow = {
      runId: run.runId,
      callType: "step",
      init: true,
      detectTrigger: wf.features.has("WF_DetectTrigger") || undefined,
      lazyFetch: wf.features.has("LazyFetch") || undefined,
    };
    item.run = { runId: run.runId, create: run, continueExisting: wf.triggerBySdk, entry: { callType: "step", body: payload } };
    return item;
  }

  /**
   * A step built by the server itself (an event for a waiter, a wait timeout, an invoked run's result), published
   * with the headers the SDK left for it; undefined when its run is gone or finished.
   */
  async serverStep(userId: string, url: string, headers: Record<string, string[] | string>, step: Record<string, unknown>, callerIp = ""): Promise<NewMessage | undefined> {
    const built = await this.buildServerStep(userId, url, headers, step, callerIp);
    return built?.run.state === "RUN_STARTED" ? built.item : undefined;
  }

  /** A server-built step and the run it belongs to, built as for a started run even when that run has ended. */
  private async buildServerStep(
    userId: string,
    url: string,
    headers: Record<string, string[] | string>,
    step: Record<string, unknown>,
    callerIp: string,
  ): Promise<{ item: NewMessage; run: RunRecord } | undefined> {
    const bag = flattenHeaders(headers);
    bag["content-type"] ??= "application/json";
    const wf = workflowHeadersOf(bag);
    if (!wf) return undefined;
    wf.init = false;
    const run = await this.store.getRun(userId, wf.runId);
    if (!run) return undefined;
    const asStarted = run.state === "RUN_STARTED" ? run : { ...run, state: "RUN_STARTED" as const };
    try {
      const item = this.prepare(wf, bag, Buffer.from(JSON.stringify(step)), { url }, { userId, callerIp, nowMs: this.engine.clock.now() }, new Map([[run.runId, asStarted]]));
      return { item, run };
    } catch {
      return undefined;
    }
  }

  // ---- delivery ---------------------------------------------------------------------------------

  /**
   * The body of a step delivery: the run's entries up to and including the message's own, as `RawStep[]` JSON
   * (SPEC §5.2). Undefined when the run has ended, so the delivery is dropped.
   */
  async deliveryBody(msg: MessageRecord): Promise<Buffer | undefined> {
    const tag = msg.workflow!;
    const run = await this.store.getRun(msg.userId, tag.runId);
    if (!run || run.state !== "RUN_STARTED" || isOlderRunOf(msg, run)) {
      if (run?.state !== "RUN_STARTED") this.encoded.drop(msg.userId, tag.runId);
      return undefined;
    }
    const list = await this.encoded.get(run, (after) => this.store.getRunEntries(msg.userId, tag.runId, after));
    const end = list.ids.lastIndexOf(msg.id);
    const body = Buffer.from(`[${(end === -1 ? list.json : list.json.slice(0, end + 1)).join(",")}]`);
    // A large list is left for the SDK to fetch (`GET /v2/workflows/runs/{id}`, cut at this message by the SDK).
    if (tag.lazyFetch && end !== -1 && body.length > this.limits.lazyFetchBytes) return Buffer.alloc(0);
    return body;
  }

  // ---- after an attempt -------------------------------------------------------------------------

  /**
   * What an attempt of a workflow message means for its run, as writes for the attempt's transaction: the
   * callback of a `context.call`, the run's failure (with its failure callback and the invoker's answer), or
   * the failure function's outcome.
   */
  async afterAttempt(msg: MessageRecord, t: Transition, dlq: DlqEntry | undefined, nowMs: number): Promise<WriteOp[]> {
    const tag = msg.workflow!;
    // Most attempts (a step delivered, a retry) change nothing about the run: no need to read it. A `context.call`
    // answers the run once, after its final attempt (DECISIONS #19): a retry of the third-party request neither.
    if (t.verdict.kind === "retry") return [];
    if (t.verdict.kind === "delivered" && (tag.callType === "step" || tag.callType === "fromCallback")) return [];
    const run = await this.store.getRun(msg.userId, tag.runId);
    if (!run || isOlderRunOf(msg, run)) return [];
    switch (tag.callType) {
      case "toCallback": {
        if (!msg.callback || t.verdict.kind === "cancelled" || run.state !== "RUN_STARTED") return [];
        const cb = this.callCallback(msg, run, t, nowMs);
        return cb ? [this.engine.storeOp(cb)] : [];
      }
      case "failureCall": {
        if (!run.failureFunction || run.failureFunction.messageId !== msg.id) return [];
        const ok = t.verdict.kind === "delivered";
        const failureFunction = {
          ...run.failureFunction,
          state: ok ? ("CALLBACK_SUCCESS" as const) : t.verdict.kind === "cancelled" ? ("CALLBACK_CANCELED" as const) : ("CALLBACK_FAIL" as const),
          ...(ok
            ? {}
            : {
                failStatus: t.response?.status ?? 0,
                failResponse: t.response?.body.toString("utf8") ?? t.error ?? "",
                failHeaders: t.response?.headers ?? {},
              }),
        };
        return [{ op: "runUpdate", userId: msg.userId, runId: run.runId, expectState: [...FINAL, "RUN_STARTED"], patch: { failureFunction } }];
      }
      default: {
        if (t.verdict.kind !== "failed" || run.state !== "RUN_STARTED") return [];
        return [await this.failRunOp(run, msg, t, dlq, nowMs)];
      }
    }
  }

  /** The callback of a `context.call` attempt, delivered to the workflow URL as a `fromCallback` entry of the run. */
  private callCallback(msg: MessageRecord, run: RunRecord, t: Transition, nowMs: number): NewMessage | undefined {
    const sub = msg.callbackHeaders ?? {};
    const cfg = parsePublishHeaders({ ...run.inherit, ...userForwardHeaders(run.inherit), ...sub, "content-type": "application/json" }, this.limits);
    stripCallbacks(cfg, false);
    // The callback body is not a step list: the SDK must not see its protocol version header (SPEC §5.2).
    delete cfg.header["Upstash-Workflow-Sdk-Version"];
    addRunHeaders(cfg.header, run);
    const result = callbackBody(msg, t);
    // The only answer is the final one: a request that failed for good before its retries ran out (non-retryable,
    // refused by the egress policy) must not read as "will retry" to the SDK, which would then wait for ever.
    if (t.verdict.kind === "failed") result.retried = msg.maxRetries;
    const body = Buffer.from(JSON.stringify(result));
    const item = buildMessage(cfg, { url: msg.callback! }, body, { userId: msg.userId, callerIp: msg.callerIp, nowMs }, this.engine.config.defaultRetries);
    item.record.kind = "callback";
    item.record.sourceMessageId = msg.id;
    item.record.labels = run.labels;
    item.record.workflow = { runId: run.runId, callType: "fromCallback" };
    item.run = { runId: run.runId, entry: { callType: "fromCallback", body } };
    return item;
  }

  /** Fails a run because `msg` failed for good: the run's failure callback and its invoker's answer go with it. */
  private async failRunOp(run: RunRecord, msg: MessageRecord, t: Transition, dlq: DlqEntry | undefined, nowMs: number): Promise<WriteOp> {
    const then: WriteOp[] = [];
    let failureFunction: RunRecord["failureFunction"];
    if (run.failureUrl) {
      const entries = await this.store.getRunEntries(run.userId, run.runId);
      const failure = this.failureMessage(run, msg, t, dlq?.dlqId, entries[0]?.body ?? Buffer.alloc(0), nowMs);
      if (failure) {
        then.push(this.engine.insertOp(failure));
        failureFunction = { messageId: failure.record.id, url: run.failureUrl, state: "CALLBACK_INPROGRESS", dlqId: dlq?.dlqId };
      }
    }
    then.push(...(await this.invokerAnswer(run, { isFailed: true })));
    return {
      op: "runUpdate",
      userId: run.userId,
      runId: run.runId,
      expectState: ["RUN_STARTED"],
      patch: { state: "RUN_FAILED", completedAtMs: nowMs, dlqId: dlq?.dlqId, failureFunction },
      then,
    };
  }

  /** The failure callback of a run (SPEC §5.9): the failed step's callback body plus the run's fields. */
  failureMessage(run: RunRecord, msg: MessageRecord, t: Transition | undefined, dlqId: string | undefined, initial: Buffer, nowMs: number): NewMessage | undefined {
    if (!run.failureUrl) return undefined;
    let cfg;
    try {
      cfg = parsePublishHeaders({ ...userForwardHeaders(run.inherit), ...(run.failureHeaders ?? {}), "content-type": "application/json" }, this.limits);
    } catch {
      return undefined;
    }
    stripCallbacks(cfg, false);
    addRunHeaders(cfg.header, run);
    const base = t ? callbackBody(msg, t, dlqId) : { status: 0, header: {}, body: "", retried: msg.retried, maxRetries: msg.maxRetries, dlqId };
    const body = {
      ...base,
      sourceMessageId: msg.id,
      url: run.url,
      sourceBody: b64(initial),
      workflowRunId: run.runId,
      workflowCreatedAt: run.createdAtMs,
    };
    const item = buildMessage(cfg, { url: run.failureUrl }, Buffer.from(JSON.stringify(body)), { userId: run.userId, callerIp: run.callerIp, nowMs }, msg.maxRetries);
    item.record.kind = "failureCallback";
    item.record.sourceMessageId = msg.id;
    item.record.labels = run.labels;
    item.record.workflow = { runId: run.runId, callType: "failureCall" };
    return item;
  }

  /**
   * The answer to the run that invoked this one (SPEC §5.8), stored with the parent's run; none without an invoker.
   * A parent that has ended meanwhile (another branch of its parallel steps failed it) is not delivered to again,
   * but its log still shows the Invoke step with its result.
   */
  async invokerAnswer(run: RunRecord, result: { body?: string; isFailed?: boolean; isCanceled?: boolean }): Promise<WriteOp[]> {
    const inv = run.invoker;
    if (!inv) return [];
    const out = JSON.stringify({ body: result.body, isFailed: result.isFailed ?? false, isCanceled: result.isCanceled ?? false });
    const built = await this.buildServerStep(run.userId, inv.workflowUrl, inv.headers, { ...inv.step, out }, run.callerIp);
    if (!built) return [];
    const { item, run: parent } = built;
    // The parent's log names the run its Invoke step started.
    item.record.workflow!.invoked = { runId: run.runId, url: run.url, createdAtMs: run.createdAtMs };
    if (parent.state === "RUN_STARTED") return [this.engine.storeOp(item)];
    return [recordUndelivered(item, parent)];
  }

  // ---- ending runs ------------------------------------------------------------------------------

  /**
   * Ends a started run as succeeded (the SDK's final DELETE) or cancelled; resolves the state it was in, or
   * undefined when there is no such run. Unfinished messages of a cancelled run are cancelled with it.
   */
  async finish(userId: string, runId: string, how: { cancel: true } | { cancel: false; response?: string }): Promise<RunState | undefined> {
    const run = await this.store.getRun(userId, runId);
    if (!run) return undefined;
    if (run.state !== "RUN_STARTED") return run.state;
    const now = this.engine.clock.now();
    const answer = await this.invokerAnswer(run, how.cancel ? { isCanceled: true } : { body: how.response });
    const op: WriteOp = {
      op: "runUpdate",
      userId,
      runId,
      expectState: ["RUN_STARTED"],
      patch: how.cancel ? { state: "RUN_CANCELED", completedAtMs: now } : { state: "RUN_SUCCESS", completedAtMs: now, response: how.response },
      then: answer,
    };
    const [r] = await this.engine.commitAndStart([op]);
    if (!r.applied) return r.rejected === "unknown" ? undefined : (r.rejected as RunState);
    this.encoded.drop(userId, runId);
    // What a cancelled run still had pending is cancelled with it. A run that succeeded has at most leftovers of
    // parallel branches, which are dropped when they come due (`deliveryBody`): no search for them is needed.
    if (how.cancel) await this.afterRunEnded(userId, runId);
    return "RUN_STARTED";
  }

  /** Cancels what a run that has ended still has pending (sleeps, retries, parallel branches). */
  async afterRunEnded(userId: string, runId: string): Promise<void> {
    this.encoded.drop(userId, runId);
    const ids = await this.store.findUnfinished(userId, { runId: [runId] });
    // The failure callback is sent because the run ended: it is not cancelled with the run's other messages.
    const failureCall = (await this.store.getRun(userId, runId))?.failureFunction?.messageId;
    const cancel = ids.filter((id) => id !== failureCall);
    if (cancel.length) await this.engine.cancel(userId, cancel);
  }

  /** A run's entries, for the SDK's lazy fetch. */
  async entries(userId: string, runId: string): Promise<RunEntry[]> {
    return this.store.getRunEntries(userId, runId);
  }
}

/**
 * Delivery-ready entries of recently delivered runs: each entry's `RawStep` JSON, built once, and only the entries
 * appended since are read from the store. Bounded in runs and in bytes; least recently used runs go first.
 */
class EncodedEntries {
  private readonly runs = new Map<string, { createdAtMs: number; lastSeq: number; ids: string[]; json: string[]; bytes: number }>();
  private bytes = 0;

  constructor(
    private readonly maxRuns = 10_000,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  async get(run: RunRecord, read: (afterSeq: number) => Promise<RunEntry[]>): Promise<{ ids: string[]; json: string[] }> {
    const key = `${run.userId}\u0000${run.runId}`;
    let e = this.runs.get(key);
    // A run that has ended and whose id a new run took: its entries are not the new run's.
    if (e && e.createdAtMs !== run.createdAtMs) this.drop(run.userId, run.runId);
    e = this.runs.get(key);
    if (!e) {
      e = { createdAtMs: run.createdAtMs, lastSeq: -1, ids: [], json: [], bytes: 0 };
      this.runs.set(key, e);
    }
    const fresh = await read(e.lastSeq);
    // Two deliveries of one run may read at once: each entry is added once, by whichever gets there first.
    let added = 0;
    for (const entry of fresh) {
      if (entry.seq <= e.lastSeq) continue;
      const json = JSON.stringify(rawStep(entry));
      e.ids.push(entry.messageId);
      e.json.push(json);
      e.bytes += json.length;
      added += json.length;
      e.lastSeq = entry.seq;
    }
    if (this.runs.get(key) !== e) return e; // dropped meanwhile: used once, not kept
    this.bytes += added;
    this.runs.delete(key);
    this.runs.set(key, e); // the most recently used goes last
    while ((this.runs.size > this.maxRuns || this.bytes > this.maxBytes) && this.runs.size > 1) {
      const [oldest, value] = this.runs.entries().next().value!;
      this.runs.delete(oldest);
      this.bytes -= value.bytes;
    }
    return e;
  }

  drop(userId: string, runId: string): void {
    const key = `${userId}\u0000${runId}`;
    const e = this.runs.get(key);
    if (!e) return;
    this.runs.delete(key);
    this.bytes -= e.bytes;
  }
}

/**
 * The writes that keep a step of a run that has ended: the step becomes an entry of the run (its log shows it),
 * and its message is stored already cancelled, so it is never delivered. Fenced on the run still being the ended
 * one that was read, so the step cannot join a newer run of the same id.
 */
function recordUndelivered(item: NewMessage, run: RunRecord): WriteOp {
  const m = item.record;
  m.state = "cancelled";
  m.finishedMs = m.createdAtMs;
  const event = { userId: m.userId, messageId: m.id, timeMs: m.createdAtMs };
  return {
    op: "runUpdate",
    userId: run.userId,
    runId: run.runId,
    expectState: [run.state],
    expectCreatedAtMs: run.createdAtMs,
    patch: {},
    then: [
      {
        op: "insertMessage",
        message: m,
        events: [
          { ...event, state: "CREATED" },
          { ...event, state: "CANCELLED", error: "its workflow run had ended: recorded in the run's log, not delivered" },
        ],
      },
      {
        op: "runCopyEntries",
        userId: run.userId,
        runId: run.runId,
        entries: [{ messageId: m.id, callType: "step", body: item.run!.entry!.body, createdMs: m.createdAtMs }],
      },
    ],
  };
}

/**
 * A message created before its run was: it belongs to an earlier run of the same id, which has ended (DECISIONS
 * #21), and must neither be delivered into the new run nor act on it.
 */
function isOlderRunOf(msg: MessageRecord, run: RunRecord): boolean {
  return msg.createdAtMs < run.createdAtMs;
}

/** `{messageId, body (base64), callType}`: one entry as the SDK reads it. */
export function rawStep(e: RunEntry): { messageId: string; body: string; callType: CallType } {
  return { messageId: e.messageId, body: b64(e.body), callType: e.callType };
}

/** Workflow messages carry no callbacks of their own: the run's failure callback is sent once, by the run. */
function stripCallbacks(cfg: ReturnType<typeof parsePublishHeaders>, keepCallback: boolean): void {
  if (!keepCallback) {
    cfg.callback = undefined;
    cfg.callbackHeaders = {};
  }
  cfg.failureCallback = undefined;
  cfg.failureCallbackHeaders = {};
}

/** The headers every delivery of a run to its workflow URL carries (SPEC §5.2, DECISIONS #11). */
export function addRunHeaders(header: Record<string, string[]>, run: RunRecord): void {
  // Canonical names, so a forwarded copy of the same header is replaced rather than sent twice.
  header["Upstash-Workflow-Runid"] = [run.runId];
  header["Upstash-Workflow-Createdat"] = [String(run.createdAtMs)];
  if (run.labels.length) header["Upstash-Label"] = [run.labels.join(",")];
  else delete header["Upstash-Label"];
}

function validUrl(u: string | undefined): string | undefined {
  if (!u) return undefined;
  try {
    const parsed = new URL(u);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? u : undefined;
  } catch {
    return undefined;
  }
}

/** `{name: "v"}` or `{name: ["v", …]}`: the headers the parent's answer step is published with. */
function isHeaderMap(v: unknown): v is Record<string, string | string[]> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  return Object.values(v).every((h) => typeof h === "string" || (Array.isArray(h) && h.every((x) => typeof x === "string")));
}

/** The body of a `context.invoke` trigger (SPEC §5.8): the child's payload and how to answer the parent. */
function parseInvoke(body: Buffer): { payload: Buffer; invoker: Invoker } {
  const text = body.toString("utf8");
  // Its body is re-serialised and its step and headers are stored: a value too deep to write back is refused here.
  if (exceedsJsonDepth(text)) throw badRequest(`invalid invoke request: body is JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  let req: any;
  try {
    req = JSON.parse(text);
  } catch {
    throw badRequest("invalid invoke request: body must be JSON {body, headers, workflowRunId, workflowUrl, step}");
  }
  if (typeof req !== "object" || req === null || typeof req.workflowRunId !== "string" || typeof req.workflowUrl !== "string" || typeof req.step !== "object") {
    throw badRequest("invalid invoke request: workflowRunId, workflowUrl and step are required");
  }
  if (req.step === null || Array.isArray(req.step)) throw badRequest("invalid invoke request: step must be an object");
  if (req.headers !== undefined && !isHeaderMap(req.headers)) {
    throw badRequest("invalid invoke request: headers must be an object of strings or string arrays");
  }
  const parentCreatedAt = Number(req.workflowRunCreatedAt ?? 0);
  if (!Number.isSafeInteger(parentCreatedAt) || parentCreatedAt < 0) {
    throw badRequest(`invalid invoke request: workflowRunCreatedAt must be unix milliseconds, got ${JSON.stringify(req.workflowRunCreatedAt).slice(0, 40)}`);
  }
  return {
    payload: Buffer.from(typeof req.body === "string" ? req.body : req.body === undefined ? "" : JSON.stringify(req.body)),
    invoker: {
      workflowRunId: req.workflowRunId,
      workflowUrl: req.workflowUrl,
      workflowRunCreatedAt: parentCreatedAt,
      headers: req.headers ?? {},
      step: req.step,
    },
  };
}
