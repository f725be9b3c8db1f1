import pg from "pg";
import { asStoreError, clientConfig, type PgTarget } from "./connection.js";

/**
 * The planner settings of the writer connection. Every statement it runs is a point write, or a join of a few
 * ids bound as arrays with the rows they name (sql/batches.ts), so the plan that fits is always an index lookup
 * per id. The planner cannot know that: it keeps the generic plan of a prepared statement, made while the
 * tables were small, in which a sequential scan and a hash join are cheapest, and keeps it as the tables grow
 * until an ANALYZE comes (a minute or more). On a new schema, at 1,000 msg/s, that took a commit of ten moves
 * from 0.5 to 3 ms within seconds, and the p99 from publish to delivery from 10 to 100 ms. Turning those plan
 * shapes off (they stay available where nothing else can run a statement) keeps every plan an index lookup.
 */
export const WRITER_PLANNER_SETTINGS = { enable_seqscan: "off", enable_hashjoin: "off", enable_mergejoin: "off" };

/**
 * The one connection every commit is written on, pipelined. Commits run one after the other on it (a second
 * BEGIN must never interleave with the first's statements). When the connection breaks, the commit that met it
 * fails as transient and the next one opens a new connection.
 */
export class WriterConnection {
  private client?: pg.Client;
  private broken = false;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly target: PgTarget) {}

  /** Runs `work` alone on the connection, opening it first if needed. */
  exclusive<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const turn = this.queue.then(async () => {
      const client = await this.connection();
      try {
        return await work(client);
      } catch (err) {
        throw asStoreError(err, this.broken);
      }
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** The pid of the server process behind the connection (for `pg_terminate_backend` in tests and operations). */
  async backendPid(): Promise<number> {
    return this.exclusive(async (c) => (await c.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid);
  }

  private async connection(): Promise<pg.Client> {
    if (this.closed) throw new Error("the PostgreSQL store is closed");
    if (this.client && !this.broken) return this.client;
    this.client?.end().catch(() => undefined);
    const client = new pg.Client({ ...clientConfig(this.target, "writer", WRITER_PLANNER_SETTINGS), pipeline: true });
    this.broken = false;
    client.on("error", () => (this.broken = true));
    client.on("end", () => (this.broken = true));
    try {
      await client.connect();
    } catch (err) {
      this.broken = true;
      throw asStoreError(err, true);
    }
    this.client = client;
    return client;
  }

  async close(): Promise<void> {
    await this.queue;
    this.closed = true;
    await this.client?.end().catch(() => undefined);
  }
}
