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
    let controller: Dispatcher.DispatchController | undefined;
    let settled = false;
    let status = 0;
    let headers: Record<string, string | string[]> = {};
    const chunks: Buffer[] = [];
    let size = 0;
    const onAbort = (): void => controller?.abort(signal.reason);
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      return true;
    };
    signal.addEventListener("abort", onAbort);
    dispatcher.dispatch(options, {
      onRequestStart(c) {
        controller = c;
        // Aborted while it waited for a connection: it stops before anything is sent.
        if (signal.aborted) c.abort(signal.reason);
      },
      onResponseStart(_c, statusCode, responseHeaders) {
        status = statusCode;
        headers = responseHeaders as Record<string, string | string[]>;
      },
      onResponseData(c, chunk) {
        if (settled) return;
        if (size + chunk.length > maxBodyBytes) {
          chunks.push(chunk.subarray(0, maxBodyBytes - size));
          if (settle()) resolve({ status, headers, body: Buffer.concat(chunks, maxBodyBytes), cut: true });
          c.abort(new Error("response body over the limit"));
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      },
      onResponseEnd() {
        if (settle()) resolve({ status, headers, body: Buffer.concat(chunks, size), cut: false });
      },
      onResponseError(_c, err) {
        if (settle()) reject(err);
      },
    });
  });
}
