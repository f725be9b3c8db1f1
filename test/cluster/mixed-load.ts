import type { Cluster } from "../helpers/cluster.js";
import type { CountingReceiver } from "../helpers/counting-receiver.js";

/** The flow key's limits (the task's: parallelism 3, 20 starts a second). */
export const FLOW = { key: "fk", parallelism: 3, rate: 20, periodMs: 1000 };
export const QUEUE = "fifo";

/** A publish the cluster answered with a message id: it must be delivered. */
export interface Acked {
  id: string;
  kind: "plain" | "delayed" | "flow" | "queue";
  node: string;
  at: number;
  /** How long the publish took to be acknowledged. */
  tookMs: number;
}

/** Every delivery is answered 200; a redelivery (an interrupted attempt) comes back within a fraction of a second. */
const RETRY = { "Upstash-Retries": "5", "Upstash-Retry-Delay": "100" };

/** How long the receiver holds each kind, so a node always has attempts in flight and the limits bind. */
const HOLD_MS: Record<string, number> = { plain: 40, delayed: 40, [FLOW.key]: 60, [QUEUE]: 30, cron: 20 };

/**
 * The cluster tests' load, spread round-robin over the serving nodes: plain messages (20/s), delayed ones
 * (0–3 s, 5/s), bursts of 30 on one flow key (parallelism 3, rate 20/s, so a backlog builds and both limits
 * bind), a FIFO queue of parallelism 1 published one at a time (so its acknowledgement order is the order it
 * must keep), and a cron schedule every second. Each loop is bounded by `stop` and by a hard deadline.
 */
export class MixedLoad {
  readonly acked: Acked[] = [];
  /** Publishes that failed (a node died under them): not acknowledged, so nothing is owed. */
  failed = 0;
  scheduleId = "";
  /** When the first message of the flow key was sent: its limiter opened its first window after this. */
  flowFirstSentAt = 0;
  /** When the loops started (the audits' times are from here). */
  startedAt = 0;
  /** A publish the cluster refused (a mistake in the test, not a fault's effect); `stop` throws the first. */
  private readonly refusals: Error[] = [];
  private running = false;
  private turn = 0;
  private readonly loops: Promise<void>[] = [];
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly cluster: Cluster,
    private readonly receiver: CountingReceiver,
  ) {
    receiver.hold = (d) => HOLD_MS[d.group] ?? 0;
  }

  /** A one-line account of the run, for the test's output: publishes per kind and how long they took. */
  summary(): string {
    const kinds = ["plain", "delayed", "flow", "queue"] as const;
    return kinds
      .map((kind) => {
        const took = this.acked.filter((a) => a.kind === kind).map((a) => a.tookMs).sort((a, b) => a - b);
        const at = (q: number) => took[Math.min(took.length - 1, Math.floor(q * took.length))] ?? 0;
        return `${kind} ${took.length} (ack p50 ${at(0.5)} ms, max ${at(1)} ms)`;
      })
      .join(", ") + `, ${this.failed} failed`;
  }

  /** Ids acknowledged for `kind`, in acknowledgement order. */
  ids(kind?: Acked["kind"]): string[] {
    return this.acked.filter((a) => kind === undefined || a.kind === kind).map((a) => a.id);
  }

  /** Creates the queue and the schedule, then starts the loops; they run until `stop` or `maxMs`. */
  async start(maxMs = 30_000): Promise<void> {
    const node = this.cluster.serving()[0];
    const queue = await this.cluster.api(node, "POST", "/v2/queues", {
      body: JSON.stringify({ queueName: QUEUE, parallelism: 1 }),
      headers: { "Content-Type": "application/json" },
    });
    if (!queue.ok) throw new Error(`queue upsert: ${queue.status} ${await queue.text()}`);
    const schedule = await this.cluster.api(node, "POST", `/v2/schedules/${this.receiver.url("/cron")}`, {
      body: "tick",
      headers: { "Upstash-Cron": "* * * * * *", ...RETRY },
    });
    if (!schedule.ok) throw new Error(`schedule create: ${schedule.status} ${await schedule.text()}`);
    this.scheduleId = ((await schedule.json()) as { scheduleId: string }).scheduleId;

    this.running = true;
    this.startedAt = Date.now();
    const deadline = Date.now() + maxMs;
    const every = (ms: number, fn: (i: number) => void | Promise<void>) =>
      (async () => {
        for (let i = 0; this.running && Date.now() < deadline; i++) {
          await fn(i);
          await sleep(ms);
        }
      })();
    this.loops.push(
      every(50, (i) => this.track(this.publish("plain", `/plain/${i}`, {}))),
      every(200, (i) => this.track(this.publish("delayed", `/delayed/${i}`, { "Upstash-Delay": `${Math.floor(Math.random() * 3000)}ms` }))),
      every(2000, (i) => {
        if (i === 0) this.flowFirstSentAt = Date.now();
        const flow = { "Upstash-Flow-Control-Key": FLOW.key, "Upstash-Flow-Control-Value": `parallelism=${FLOW.parallelism}, rate=${FLOW.rate}, period=1s` };
        for (let j = 0; j < 30; j++) this.track(this.publish("flow", `/${FLOW.key}/${i}-${j}`, flow));
      }),
      // One at a time: the next is published only once the last is acknowledged.
      every(100, (i) => this.publish("queue", `/${QUEUE}/${i}`, {}, `/v2/enqueue/${QUEUE}/`).catch((err: Error) => void this.refusals.push(err))),
    );
  }

  /** Stops the loops, waits for the publishes in progress, and deletes the schedule (on any node that answers). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    await Promise.all(this.pending);
    if (this.refusals.length) throw this.refusals[0];
    for (const node of this.cluster.serving()) {
      const res = await this.cluster.api(node, "DELETE", `/v2/schedules/${this.scheduleId}`).catch(() => undefined);
      if (res?.ok) return;
    }
    throw new Error(`schedule ${this.scheduleId} could not be deleted on any node`);
  }

  private track(p: Promise<void>): void {
    const settled = p.catch((err: Error) => void this.refusals.push(err)).finally(() => this.pending.delete(settled));
    this.pending.add(settled);
  }

  /**
   * Publishes on the next serving node; a node that fails the request (it is dying) is skipped and the next one
   * asked, up to three. A request already sent to a node that is then frozen is answered when it is continued
   * (the timeout is longer than the freeze), and counts as acknowledged if the answer is a message id.
   */
  private async publish(kind: Acked["kind"], path: string, headers: Record<string, string>, route = "/v2/publish/"): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const nodes = this.cluster.serving();
      if (nodes.length === 0) return void this.failed++;
      const node = nodes[this.turn++ % nodes.length];
      const sentAt = Date.now();
      try {
        const res = await this.cluster.api(node, "POST", route + this.receiver.url(path), {
          body: path,
          headers: { "Content-Type": "text/plain", ...RETRY, ...headers },
          timeoutMs: 15_000,
        });
        if (res.status === 201 || res.status === 200) {
          const { messageId } = (await res.json()) as { messageId: string };
          this.acked.push({ id: messageId, kind, node: node.name, at: Date.now(), tookMs: Date.now() - sentAt });
          return;
        }
        // A refusal is the test's mistake, not a fault's effect: say so loudly.
        if (res.status < 500) throw new Error(`publish ${path} on ${node.name}: ${res.status} ${await res.text()}`);
      } catch (err) {
        if (err instanceof Error && err.message.startsWith("publish ")) throw err;
      }
      this.failed++;
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
