import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import { socketOwner } from "./socket-owner.js";

/** One request that reached the receiver: one delivery attempt as the destination saw it. */
export interface Delivery {
  /** `Upstash-Message-Id`: a redelivery keeps it. */
  id: string;
  /** The first segment of the path (`/flow/17` → `flow`): the test puts the flow key or queue there. */
  group: string;
  path: string;
  /** `Upstash-Retried`. */
  retried: number;
  /** When the request had fully arrived. */
  at: number;
  /** When the reply was sent, or the sender went away first; unset while it is still held. */
  endAt?: number;
  /** The sender closed the connection before the reply (a killed node, a cancelled attempt). */
  aborted: boolean;
  /** The process that sent it (see socket-owner.ts), when it could be told. */
  pid?: number;
}

/**
 * A destination on 127.0.0.1 that counts what a cluster delivers, for the cluster tests' audits: every request
 * with its message id, group, arrival and end, and the node process that sent it. `hold` decides how long each
 * reply waits (a number of ms, or a promise), so deliveries overlap and limits show. Replies are 200 unless
 * `status` says otherwise: then any second arrival of an id is a redelivery, never a retry the test asked for.
 *
 * A request counts as in flight from its arrival until its reply is sent (or its sender leaves), which is inside
 * the time the sender has it in flight: a concurrency measured here never exceeds the sender's.
 */
export class CountingReceiver {
  readonly deliveries: Delivery[] = [];
  hold: (d: Delivery) => number | Promise<unknown> = () => 0;
  /** The status each reply carries once its hold is over. */
  status: (d: Delivery) => number = () => 200;
  port = 0;
  private readonly owners = new WeakMap<Socket, number | undefined>();

  private constructor(
    private readonly server: Server,
    /** The processes that may be senders (the cluster's live nodes). */
    private readonly senders: () => number[],
  ) {}

  static async start(senders: () => number[] = () => []): Promise<CountingReceiver> {
    const server = createServer();
    const r = new CountingReceiver(server, senders);
    // Looked up once per connection, while the sender is surely alive; keep-alive reuses it for many requests.
    server.on("connection", (socket) => r.owners.set(socket, socketOwner(socket.remotePort!, r.port, r.senders())));
    server.on("request", (req, res) => {
      req.resume();
      req.on("end", () => {
        const d: Delivery = {
          id: String(req.headers["upstash-message-id"]),
          group: (req.url ?? "/").split("/")[1] ?? "",
          path: req.url ?? "/",
          retried: Number(req.headers["upstash-retried"] ?? 0),
          at: Date.now(),
          aborted: false,
          pid: r.owners.get(req.socket),
        };
        r.deliveries.push(d);
        res.on("close", () => {
          d.endAt ??= Date.now();
          if (!res.writableFinished) d.aborted = true;
        });
        const send = (): void => {
          if (res.destroyed) return;
          d.endAt = Date.now();
          res.writeHead(r.status(d)).end("ok");
        };
        const hold = r.hold(d);
        if (typeof hold === "number") {
          if (hold > 0) setTimeout(send, hold);
          else send();
        } else void hold.finally(send);
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    r.port = (server.address() as { port: number }).port;
    return r;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  of(group: string): Delivery[] {
    return this.deliveries.filter((d) => d.group === group);
  }

  /** Message ids that arrived at least once. */
  deliveredIds(): Set<string> {
    return new Set(this.deliveries.map((d) => d.id));
  }

  /** Arrivals beyond the first of each id (of one group if given). */
  duplicates(group?: string): number {
    const list = group === undefined ? this.deliveries : this.of(group);
    return list.length - new Set(list.map((d) => d.id)).size;
  }

  /** The ids of `ids` that have not arrived. */
  missing(ids: Iterable<string>): string[] {
    const seen = this.deliveredIds();
    return [...ids].filter((id) => !seen.has(id));
  }

  /** The most deliveries of the group held at once (a sweep over [arrival, end) intervals). */
  maxConcurrent(group: string): number {
    const edges: [number, number][] = [];
    for (const d of this.of(group)) edges.push([d.at, 1], [d.endAt ?? Number.POSITIVE_INFINITY, -1]);
    // At equal times an end comes before a start: a reply sent as the next request arrives is not an overlap.
    edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let now = 0;
    let max = 0;
    for (const [, step] of edges) max = Math.max(max, (now += step));
    return max;
  }

  /** When each of the group's deliveries arrived, in order. */
  arrivals(group: string): number[] {
    return this.of(group).map((d) => d.at);
  }

  /** The group's ids in the order they first started, a redelivery right after its first arrival folded in. */
  startOrder(group: string): string[] {
    const order: string[] = [];
    for (const d of this.of(group)) if (order[order.length - 1] !== d.id) order.push(d.id);
    return order;
  }

  /** Resolves once every id of `ids` has arrived; rejects after `timeoutMs` naming how many are missing. */
  async waitForIds(ids: Iterable<string>, timeoutMs: number): Promise<void> {
    const wanted = [...ids];
    const end = Date.now() + timeoutMs;
    for (;;) {
      const missing = this.missing(wanted);
      if (missing.length === 0) return;
      if (Date.now() > end) throw new Error(`${missing.length} of ${wanted.length} acknowledged messages not delivered within ${timeoutMs}ms: ${missing.slice(0, 5).join(", ")}…`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
