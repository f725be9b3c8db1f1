import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { Agent } from "undici";
import { collectingRequest } from "./collecting-request.js";
import { DeadlineSignals } from "./deadline-signals.js";
import type { EgressPolicy } from "./egress.js";
import { signedHeaders, type DeliveryRequest } from "../protocol/delivery-request.js";

/**
 * What one HTTP attempt produced: a response (any status) or no response at all (DECISIONS #12). A `permanent`
 * error (the egress policy refused the destination) would fail the same way on every retry.
 */
export type AttemptResult =
  | {
      kind: "response";
      status: number;
      headers: Record<string, string | string[]>;
      body: Buffer;
      /** Set when the body was larger than maxResponseBodyBytes: `body` is its first bytes, and this says so. */
      overLimit?: string;
    }
  | { kind: "error"; error: string; permanent?: boolean };

/** What the engine sends attempts through: a Deliverer on the engine's thread, or the delivery thread. */
export interface AttemptSender {
  /** Runs one attempt; never throws. */
  attempt(req: DeliveryRequest): Promise<AttemptResult>;
  /** Stops sending; attempts still running after `graceMs` are aborted (they resolve as errors). */
  close(graceMs?: number): Promise<void>;
}

export interface DelivererOptions {
  connectionsPerOrigin: number;
  maxResponseBodyBytes: number;
  egress: EgressPolicy;
}

/** Sends attempts over keep-alive connection pools, checking the egress policy before connecting. */
export class Deliverer implements AttemptSender {
  private readonly agent: Agent;
  private readonly deadlines = new DeadlineSignals();

  constructor(private readonly opts: DelivererOptions) {
    const egress = opts.egress;
    this.agent = new Agent({
      connections: opts.connectionsPerOrigin,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 120_000,
      connect: {
        // Resolved addresses are checked too, so a public name pointing at a private address is refused; only the
        // allowed ones are handed to the socket, which therefore never connects to a refused one.
        lookup: (hostname: string, options: object, cb: (...args: any[]) => void) => {
          dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
            if (err) return cb(err);
            const list = addresses as LookupAddress[];
            const allowed = list.filter((a) => egress.checkAddress(a.address, hostname) === undefined);
            if (allowed.length === 0) {
              const reason = egress.checkAddress(list[0].address, hostname);
              return cb(new EgressDenied(`destination host "${hostname}" resolves to a refused address: ${reason}`));
            }
            if ((options as { all?: boolean }).all) cb(null, allowed);
            else cb(null, allowed[0].address, allowed[0].family);
          });
        },
      },
    });
  }

  /** Destinations parsed recently: most attempts go to a URL the previous ones went to. */
  private readonly targets = new Map<string, Target | null>();

  /** Where `url` points, or null when it is not a valid URL. */
  private target(url: string): Target | null {
    let target = this.targets.get(url);
    if (target === undefined) {
      target = parseTarget(url);
      if (this.targets.size >= 1024) this.targets.clear();
      this.targets.set(url, target);
    }
    return target;
  }

  /** Runs one attempt; never throws. */
  async attempt(req: DeliveryRequest): Promise<AttemptResult> {
    const url = this.target(req.url);
    if (!url) return { kind: "error", error: `invalid destination URL ${req.url}` };
    const denied = this.opts.egress.checkHost(url.hostname);
    if (denied) return { kind: "error", error: denied, permanent: true };
    // One deadline over connect, headers and body together: undici's own timers restart with every chunk, so a
    // body trickled in just under them would stretch the attempt far past its timeout.
    const signal = this.deadlines.after(req.timeoutMs);
    try {
      const max = this.opts.maxResponseBodyBytes;
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : req.body;
      // undici's types name a flat header list as strings only; it takes a list value as one line per item.
      const headers = signedHeaders(req) as string[];
      const options = { origin: url.origin, path: url.path, method: req.method as any, headers, body, headersTimeout: 0, bodyTimeout: 0 };
      const res = await collectingRequest(this.agent, options, max, signal);
      if (!res.cut) return { kind: "response", status: res.status, headers: res.headers, body: res.body };
      const overLimit = `response body is larger than the configured limit maxResponseBodyBytes (${max} bytes)`;
      return { kind: "response", status: res.status, headers: res.headers, body: res.body, overLimit };
    } catch (err) {
      if (signal.aborted) {
        const error = signal.reason === STOPPED ? STOPPED.message : `attempt timed out after ${req.timeoutMs}ms`;
        return { kind: "error", error };
      }
      const egressRefusal = egressRefusalOf(err);
      if (egressRefusal !== undefined) return { kind: "error", error: egressRefusal, permanent: true };
      return { kind: "error", error: describeError(err) };
    }
  }

  /** Closes the pools; requests still running after `graceMs` are aborted. */
  async close(graceMs = 1000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), graceMs)));
    const outcome = await Promise.race([this.agent.close().catch(() => "late" as const), late]);
    clearTimeout(timer);
    if (outcome === "late") {
      // Destroying the pools alone leaves a request waiting for its response unsettled: its deadline ends it.
      this.deadlines.abortAll(STOPPED);
      await this.agent.destroy().catch(() => undefined);
    }
  }
}

/** The parts of a destination URL an attempt needs. */
interface Target {
  hostname: string;
  origin: string;
  path: string;
}

function parseTarget(raw: string): Target | null {
  try {
    const url = new URL(raw);
    return { hostname: url.hostname, origin: url.origin, path: url.pathname + url.search };
  } catch {
    return null;
  }
}

class EgressDenied extends Error {}

/** The error of an attempt still running when its deliverer (or the delivery thread) closed. */
export const STOPPED_ATTEMPT = "the server stopped before the attempt ended";

/** Why an attempt still running when the deliverer closed was aborted. */
const STOPPED = new Error(STOPPED_ATTEMPT);

/** The message of an egress refusal raised in the lookup, however undici wrapped it; undefined for other errors. */
function egressRefusalOf(err: unknown): string | undefined {
  if (err instanceof EgressDenied) return err.message;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause instanceof EgressDenied ? cause.message : undefined;
}

function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause?.message ?? e.cause?.code;
  return [e.code, e.message, cause].filter(Boolean).join(": ") || "request failed";
}
