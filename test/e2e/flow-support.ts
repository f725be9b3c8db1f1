import type { Client } from "@upstash/qstash";
import { eventually, type Received, type Reply, type TestReceiver } from "../helpers/receiver.js";

/** Shared bits of the flow-control e2e files (not a test file itself). */

export interface Arrival {
  id: string;
  path: string;
  at: number;
  retried: number;
  group: string;
  /** Requests in progress at the receiver(s) when this one arrived, itself included. */
  inFlight: number;
  /** The same, counting only requests of this one's group. */
  groupInFlight: number;
}

/**
 * Records every request reaching one or more receivers with how many requests were in progress when it
 * arrived. A request is in progress from its arrival until its (delayed) reply is sent, so what is counted
 * here never exceeds what the server has in flight: a limit checked on these numbers is a real bound.
 */
export class Tracker {
  readonly arrivals: Arrival[] = [];
  /** How each request is answered; hold it with `delayMs` so concurrency shows. */
  reply: (req: Received, index: number) => Reply = () => ({ status: 200, delayMs: 100 });
  private total = 0;
  private readonly byGroup = new Map<string, number>();

  constructor(
    receivers: TestReceiver[],
    private readonly groupOf: (req: Received) => string = () => "",
  ) {
    for (const r of receivers) r.respond = (req) => this.onRequest(req);
  }

  private onRequest(req: Received): Reply {
    const reply = this.reply(req, this.arrivals.length);
    const group = this.groupOf(req);
    this.total++;
    this.byGroup.set(group, (this.byGroup.get(group) ?? 0) + 1);
    this.arrivals.push({
      id: String(req.headers["upstash-message-id"]),
      path: req.path,
      at: req.at,
      retried: Number(req.headers["upstash-retried"]),
      group,
      inFlight: this.total,
      groupInFlight: this.byGroup.get(group)!,
    });
    const done = (): void => {
      this.total--;
      this.byGroup.set(group, this.byGroup.get(group)! - 1);
    };
    // Registered before the receiver's own reply timer with the same delay, so it fires first.
    if (reply.delayMs) setTimeout(done, reply.delayMs);
    else done();
    return reply;
  }

  /** Highest concurrency seen at an arrival (of one group if given). */
  max(group?: string): number {
    const list = group === undefined ? this.arrivals : this.arrivals.filter((a) => a.group === group);
    return Math.max(0, ...list.map((a) => (group === undefined ? a.inFlight : a.groupInFlight)));
  }

  of(group: string): Arrival[] {
    return this.arrivals.filter((a) => a.group === group);
  }

  /** Resolves once `n` requests have arrived (bounded). */
  waitFor(n: number, timeoutMs = 5000): Promise<Arrival[]> {
    return eventually(() => this.arrivals.length >= n && this.arrivals, timeoutMs, 5);
  }

  /** Message ids with how many times each arrived. */
  counts(): Map<string, number> {
    const m = new Map<string, number>();
    for (const a of this.arrivals) m.set(a.id, (m.get(a.id) ?? 0) + 1);
    return m;
  }
}

/** Most timestamps inside any half-open interval [t, t + windowMs). */
export function maxInWindow(times: number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  let j = 0;
  for (let i = 0; i < t.length; i++) {
    while (t[i] - t[j] >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/**
 * Splits timestamps into bursts: a new burst starts after a quiet gap of `gapMs`. A rate-limited backlog starts
 * a burst at each fixed window, so burst sizes are per-window counts however late a loaded machine delivers them.
 */
export function bursts(times: number[], gapMs: number): number[][] {
  const t = [...times].sort((a, b) => a - b);
  const out: number[][] = [];
  for (const x of t) {
    const last = out[out.length - 1];
    if (last && x - last[last.length - 1] < gapMs) last.push(x);
    else out.push([x]);
  }
  return out;
}

/** Publishes `n` messages with the same flow control in one batch; returns their ids in order. */
export async function publishMany(
  client: Client,
  n: number,
  url: (i: number) => string,
  flowControl: { key: string; parallelism?: number; rate?: number; period?: number | `${number}s` },
  extra: { retries?: number; retryDelay?: string } = {},
): Promise<string[]> {
  const replies = await client.batchJSON(
    Array.from({ length: n }, (_, i) => ({
      url: url(i),
      body: { i },
      flowControl: flowControl as never,
      retries: extra.retries ?? 0,
      ...(extra.retryDelay !== undefined ? { retryDelay: extra.retryDelay } : {}),
    })),
  );
  return replies.map((r) => (r as { messageId: string }).messageId);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A key name no other test uses. */
let seq = 0;
export const uniqueKey = (prefix: string): string => `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq++}`;
