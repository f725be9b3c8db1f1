import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Header lines as they arrived: name, value, name, value… (repeated lines stay apart). */
  rawHeaders: string[];
  body: Buffer;
  at: number;
  /** When the connection closed or the reply was fully sent (for how long an attempt lasted). */
  closedAt?: number;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string | undefined>;
  body?: string;
  /** Wait this long before answering (for timeouts). */
  delayMs?: number;
  /** Answer only once this settles (an attempt held in flight until the test lets it go). */
  until?: Promise<unknown>;
  /** Send the headers at once, then the body one byte at a time, this long apart (for whole-attempt timeouts). */
  trickleMs?: number;
}

/**
 * A real HTTP destination on 127.0.0.1 that records every request. `respond` decides each reply (default 200),
 * and `waitFor` resolves once enough requests have arrived, failing after a bounded time.
 */
export class TestReceiver {
  readonly requests: Received[] = [];
  respond: (req: Received, index: number) => Reply = () => ({ status: 200, body: "ok" });
  private server: Server;
  private waiters: { n: number; resolve: () => void }[] = [];
  port = 0;

  private constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const rec: Received = { method: req.method!, path: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks), at: Date.now() };
        const index = this.requests.push(rec) - 1;
        const reply = this.respond(rec, index);
        res.on("close", () => (rec.closedAt = Date.now()));
        const send = (): void => {
          if (res.destroyed) return;
          const headers = Object.fromEntries(Object.entries(reply.headers ?? {}).filter(([, v]) => v !== undefined)) as Record<string, string>;
          res.writeHead(reply.status ?? 200, headers);
          if (reply.trickleMs) trickle(res, Buffer.from(reply.body ?? ""), reply.trickleMs);
          else res.end(reply.body ?? "");
        };
        if (reply.until) void reply.until.finally(send);
        else if (reply.delayMs) setTimeout(send, reply.delayMs);
        else send();
        this.waiters = this.waiters.filter((w) => (this.requests.length >= w.n ? (w.resolve(), false) : true));
      });
    });
    this.server.keepAliveTimeout = 60_000;
  }

  static async start(): Promise<TestReceiver> {
    const r = new TestReceiver();
    await new Promise<void>((resolve) => r.server.listen(0, "127.0.0.1", resolve));
    r.port = (r.server.address() as { port: number }).port;
    return r;
  }

  url(path = "/"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Requests whose path starts with `path`. */
  at(path: string): Received[] {
    return this.requests.filter((r) => r.path.startsWith(path));
  }

  /** Resolves when at least `n` requests have arrived; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs = 5000): Promise<Received[]> {
    if (this.requests.length >= n) return Promise.resolve(this.requests);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`expected ${n} requests, got ${this.requests.length} within ${timeoutMs}ms`)), timeoutMs);
      this.waiters.push({ n, resolve: () => (clearTimeout(t), resolve(this.requests)) });
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Writes `body` a byte at a time, `everyMs` apart, stopping if the client goes away. */
function trickle(res: ServerResponse, body: Buffer, everyMs: number): void {
  let sent = 0;
  const next = (): void => {
    if (res.destroyed) return;
    if (sent >= body.length) return void res.end();
    res.write(body.subarray(sent, ++sent));
    setTimeout(next, everyMs);
  };
  next();
}

/** A promise the test resolves by hand: a reply's `until` (an attempt held in flight), or a step held in a workflow. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

/** Polls `check` until it returns a truthy value; bounded in time. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5000, stepMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await check();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`condition not met within ${timeoutMs}ms${last ? `: ${String(last)}` : ""}`);
}
