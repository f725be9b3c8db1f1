import type { Dispatcher } from "undici";

/** A response read whole, or its first `maxBodyBytes` bytes (`cut` says there was more). */
export interface CollectedResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  cut: boolean;
}

/**
 * Sends one request through `dispatcher` and collects the response body into one buffer, reading at most
 * `maxBodyBytes` (the rest is not waited for: the request is aborted). This is undici's handler interface used
 * directly: `request()` would wrap each response body in a Readable stream read by an async iterator, which
 * costs an attempt more than the rest of the request does. `signal` aborts the request (the attempt's
 * deadline), like `request()`'s option of the same name; the promise then rejects with undici's error.
 */
export function collectingRequest(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  maxBodyBytes: number,
  signal: AbortSignal,
): Promise<CollectedResponse> {
  return new Promise((resolve, reject) => {
    const handler = new CollectingHandler(maxBodyBytes, signal, resolve, reject);
    signal.addEventListener("abort", handler);
    dispatcher.dispatch(options, handler);
  });
}

/**
 * One request's handler: an object of its own class, so an attempt allocates one object for it (its methods are
 * shared) rather than a closure per callback. It is also the abort listener (`handleEvent`).
 */
class CollectingHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private settled = false;
  private status = 0;
  private headers: Record<string, string | string[]> = {};
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly maxBodyBytes: number,
    private readonly signal: AbortSignal,
    private readonly resolve: (response: CollectedResponse) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  /** The deadline fired. */
  handleEvent(): void {
    this.controller?.abort(this.signal.reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Aborted while it waited for a connection: it stops before anything is sent.
    if (this.signal.aborted) controller.abort(this.signal.reason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.status = statusCode;
    this.headers = headers as Record<string, string | string[]>;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    const max = this.maxBodyBytes;
    if (this.size + chunk.length > max) {
      this.chunks.push(chunk.subarray(0, max - this.size));
      if (this.settle()) this.resolve({ status: this.status, headers: this.headers, body: Buffer.concat(this.chunks, max), cut: true });
      controller.abort(new Error("response body over the limit"));
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  onResponseEnd(): void {
    if (this.settle()) this.resolve({ status: this.status, headers: this.headers, body: Buffer.concat(this.chunks, this.size), cut: false });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.settle()) this.reject(err);
  }

  /** True the first time: the request's outcome is decided, and the deadline no longer concerns it. */
  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.signal.removeEventListener("abort", this);
    return true;
  }
}
