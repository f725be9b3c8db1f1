import { Worker, type WorkerOptions } from "node:worker_threads";
import { STOPPED_ATTEMPT, type AttemptResult, type AttemptSender, type DelivererOptions } from "./deliverer.js";
import type { EgressSettings } from "./egress.js";
import type { DeliveryRequest, HeaderList } from "../protocol/delivery-request.js";
import { bufferFrom, BodyPacker } from "./body-pack.js";

/** What the delivery thread is started with: the Deliverer's options, the egress policy as its settings. */
export type DeliveryThreadOptions = Omit<DelivererOptions, "egress"> & { egress: EgressSettings };

/** Messages to the delivery thread; the jobs' bodies are in `bodies` (see body-pack.ts). */
export type ToDeliveryThread = { type: "attempts"; jobs: DeliveryJob[]; bodies: Uint8Array } | { type: "close"; graceMs: number };

/** Messages from it: `ready` once its Deliverer exists, results as attempts end, `closed` after the last one. */
export type FromDeliveryThread = { type: "ready" } | { type: "results"; results: DeliveryOutcome[]; bodies: Uint8Array } | { type: "closed" };

/**
 * An attempt as it crosses: a flat tuple, since arrays of plain values cost the structured clone about half of
 * what the same fields in nested objects do (both ways, at every attempt).
 */
export type DeliveryJob = [
  id: number,
  url: string,
  method: string,
  headers: HeaderList,
  bodyAt: number,
  bodyLength: number,
  timeoutMs: number,
  signingKey: string,
  nowMs: number,
  nbfSkewSeconds: number,
];

/**
 * An attempt's result as it crosses back, flat too: a response as its status, headers (name, value, …) and body
 * (where it is in the message's pack), with the over-limit note when it was cut; no response as its error (a string
 * where the status would be).
 */
export type DeliveryOutcome = ResponseOutcome | ErrorOutcome;
type ResponseOutcome = [id: number, status: number, headers: HeaderList, bodyAt: number, bodyLength: number, overLimit: string | undefined];
type ErrorOutcome = [id: number, error: string, permanent: boolean];

// The two ends of the hop: jobOf and resultOf run on the engine's thread, requestOf and outcomeOf on the delivery thread.

export function jobOf(id: number, req: DeliveryRequest, bodies: BodyPacker): DeliveryJob {
  const { key, nowMs, nbfSkewSeconds } = req.signing;
  return [id, req.url, req.method, req.headers, bodies.add(req.body), req.body.byteLength, req.timeoutMs, key, nowMs, nbfSkewSeconds];
}

/** The request of a job; its body is a view on the pack, which lives as long as the attempt. */
export function requestOf(job: DeliveryJob, bodies: Uint8Array): DeliveryRequest {
  const [, url, method, headers, bodyAt, bodyLength, timeoutMs, key, nowMs, nbfSkewSeconds] = job;
  const body = bodies.subarray(bodyAt, bodyAt + bodyLength);
  return { url, method, headers, body, timeoutMs, signing: { key, nowMs, nbfSkewSeconds } };
}

export function outcomeOf(id: number, result: AttemptResult, bodies: BodyPacker): DeliveryOutcome {
  if (result.kind === "error") return [id, result.error, result.permanent === true];
  const headers: HeaderList = [];
  for (const name in result.headers) headers.push(name, result.headers[name]);
  return [id, result.status, headers, bodies.add(result.body), result.body.byteLength, result.overLimit];
}

export function resultOf(outcome: DeliveryOutcome, bodies: Uint8Array): AttemptResult {
  if (typeof outcome[1] === "string") {
    const [, error, permanent] = outcome as ErrorOutcome;
    return permanent ? { kind: "error", error, permanent } : { kind: "error", error };
  }
  const [, status, list, bodyAt, bodyLength, overLimit] = outcome as ResponseOutcome;
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) headers[list[i] as string] = list[i + 1];
  const body = bufferFrom(bodies, bodyAt, bodyLength);
  return overLimit === undefined ? { kind: "response", status, headers, body } : { kind: "response", status, headers, body, overLimit };
}

/**
 * Sends attempts through a Deliverer on a worker thread, so the HTTP client (connecting, writing requests,
 * parsing responses) and the signing run on a second core while this thread accepts, stores and dispatches.
 * Attempts started in the same tick cross in one message, and so do results that arrive in the same turn of the
 * worker's event loop: a batch costs one hop each way, not one per attempt.
 *
 * If the thread dies (a bug: the Deliverer never throws), the attempts it held end as failed attempts, retried
 * like any other without a response, and a new thread takes over.
 */
export class DeliveryThread implements AttemptSender {
  /** The running worker; undefined between a worker's death and its replacement. */
  private worker: Worker | undefined;
  private readonly pending = new Map<number, (result: AttemptResult) => void>();
  private outbox: DeliveryJob[] = [];
  private readonly outboxBodies = new BodyPacker();
  private flushQueued = false;
  private nextId = 0;
  /** Set once the first worker is ready: from then on a worker that dies is replaced. */
  private started = false;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly opts: DeliveryThreadOptions,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Starts the thread; resolves once it can send, rejects when it cannot start. */
  static async start(opts: DeliveryThreadOptions, onError: (err: Error) => void): Promise<DeliveryThread> {
    const thread = new DeliveryThread(opts, onError);
    await thread.spawn();
    thread.started = true;
    return thread;
  }

  attempt(req: DeliveryRequest): Promise<AttemptResult> {
    if (this.closing) return Promise.resolve({ kind: "error", error: "the server is stopping" });
    const worker = this.worker;
    if (!worker) return Promise.resolve({ kind: "error", error: "the delivery thread is restarting" });
    const id = ++this.nextId;
    this.outbox.push(jobOf(id, req, this.outboxBodies));
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flush);
    }
    // Attempts in flight keep the process alive, as their sockets would on this thread; an idle thread does not.
    if (this.pending.size === 0) worker.ref();
    return new Promise((resolve) => this.pending.set(id, resolve));
  }

  close(graceMs = 1000): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const worker = this.worker;
      if (!worker) return resolve();
      // It exits by itself once its last attempt has ended; this bounds the wait should it not.
      const timer = setTimeout(() => void worker.terminate(), graceMs + 2_000);
      worker.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      worker.ref();
      worker.postMessage({ type: "close", graceMs } satisfies ToDeliveryThread);
    });
    return this.closing;
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    const jobs = this.outbox;
    this.outbox = [];
    const bodies = this.outboxBodies.take();
    // Empty when the worker died meanwhile: its death failed these attempts already.
    if (jobs.length) this.worker?.postMessage({ type: "attempts", jobs, bodies } satisfies ToDeliveryThread, [bodies.buffer]);
  };

  private spawn(): Promise<void> {
    const options = { workerData: this.opts, name: "sluice-delivery" };
    const worker = workerFromSource(options) ?? new Worker(new URL("./delivery-worker.js", import.meta.url), options);
    this.worker = worker;
    worker.unref();
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on("message", (message: FromDeliveryThread) => {
        if (message.type === "results") this.settle(message.results, message.bodies);
        else if (message.type === "ready") {
          ready = true;
          resolve();
        }
      });
      worker.on("error", (err) => {
        if (ready) this.onError(err);
        else reject(new Error(`the delivery thread could not start: ${err.message}`, { cause: err }));
      });
      worker.on("exit", (code) => {
        if (this.worker === worker) this.worker = undefined;
        // Not sent, or sent and now never answered: either way these attempts end here, and none is sent later.
        this.outbox = [];
        this.outboxBodies.clear();
        this.failPending(this.closing ? STOPPED_ATTEMPT : `the delivery thread stopped (exit code ${code})`);
        if (!ready) reject(new Error(`the delivery thread exited (code ${code}) before it could start`));
        if (this.closing || !this.started) return;
        this.onError(new Error(`the delivery thread stopped (exit code ${code}); starting a new one`));
        // One that died before it was ready is started again a second later, not in a tight loop.
        setTimeout(() => this.respawn(), ready ? 0 : 1_000).unref();
      });
    });
  }

  private respawn(): void {
    if (this.closing) return;
    this.spawn().catch((err: Error) => this.onError(err));
  }

  private settle(outcomes: DeliveryOutcome[], bodies: Uint8Array): void {
    for (const outcome of outcomes) {
      const id = outcome[0];
      const resolve = this.pending.get(id);
      if (!resolve) continue;
      this.pending.delete(id);
      resolve(resultOf(outcome, bodies));
    }
    if (this.pending.size === 0 && !this.closing) this.worker?.unref();
  }

  private failPending(error: string): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const resolve of waiting) resolve({ kind: "error", error });
  }
}

/**
 * Run from its TypeScript source (the tests do), the worker is TypeScript too: it registers the same kind of
 * loader (tsx) before importing its entry. Undefined when running the build.
 */
function workerFromSource(options: WorkerOptions): Worker | undefined {
  if (!import.meta.url.endsWith(".ts")) return undefined;
  // Resolved from the working directory: the checkout the tests run in.
  const loader = "tsx/esm/api";
  const entry = new URL("./delivery-worker.ts", import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(loader)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
