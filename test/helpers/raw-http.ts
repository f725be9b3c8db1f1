import { connect, type Socket } from "node:net";

/**
 * A hand-driven HTTP/1.1 client on a raw socket, for what fetch cannot do: stop half-way through the headers,
 * trickle a body, or keep writing after the server answered. It records what came back and when the server
 * closed the connection.
 */
export class RawHttpClient {
  private received = "";
  /** Milliseconds from connect until the server closed the connection. */
  readonly closed: Promise<number>;
  private constructor(readonly socket: Socket, startedAt: number) {
    socket.on("data", (c: Buffer) => (this.received += c.toString("latin1")));
    // Writes after the server closed fail with EPIPE / ECONNRESET: expected here, not a test failure.
    socket.on("error", () => {});
    this.closed = new Promise((resolve) => socket.once("close", () => resolve(Date.now() - startedAt)));
  }

  static open(port: number): Promise<RawHttpClient> {
    return new Promise((resolve, reject) => {
      const startedAt = Date.now();
      const socket = connect(port, "127.0.0.1", () => resolve(new RawHttpClient(socket, startedAt)));
      socket.once("error", reject);
    });
  }

  /** Writes if the connection is still open; true when written. */
  write(data: string | Buffer): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    this.socket.write(data);
    return true;
  }

  /** Everything the server sent so far. */
  get text(): string {
    return this.received;
  }

  /** The status code of the first response, once its status line has arrived. */
  get status(): number | undefined {
    const m = /^HTTP\/1\.1 (\d{3})/.exec(this.received);
    return m ? Number(m[1]) : undefined;
  }

  /** The first response's header (lower-case name), once its headers have arrived. */
  header(name: string): string | undefined {
    const head = this.received.split("\r\n\r\n", 1)[0];
    const line = head.split("\r\n").find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    return line?.slice(name.length + 1).trim();
  }

  /** The first response's body as JSON (it must have arrived whole). */
  json(): Record<string, unknown> {
    const i = this.received.indexOf("\r\n\r\n");
    return JSON.parse(this.received.slice(i + 4)) as Record<string, unknown>;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Resolves with `promise`'s value, or rejects once `ms` have passed. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms}ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}
