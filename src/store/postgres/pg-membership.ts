import { createHash } from "node:crypto";
import pg from "pg";
import type { ClusterMembership, ClusterNews, Heartbeat, MembershipOptions } from "../cluster.js";
import type { CommitMember } from "./commit-transaction.js";
import { clientConfig, type PgTarget } from "./connection.js";
import { leaderReleasedPayload, parseNews } from "./news.js";
import { CANCELS_REQUESTED } from "./sql/messages.js";
import * as C from "./sql/cluster.js";

/** Wait before reconnecting a listener whose connection broke. */
const RELISTEN_DELAY_MS = 500;

/** The NOTIFY channel of one schema (channels are database-wide; a schema is one cluster). At most 63 bytes. */
export function newsChannel(schema: string): string {
  const name = `sluice:${schema}`;
  return Buffer.byteLength(name) <= 63 ? name : `sluice:${createHash("sha1").update(schema).digest("hex").slice(0, 32)}`;
}

/**
 * A node's membership on PostgreSQL: heartbeats on a connection of their own (never behind a commit or a long
 * read), and a LISTEN connection that reconnects by itself. The commit member it shares with the store learns the
 * leader epoch here, so the store fences starts on it.
 */
export class PgMembership implements ClusterMembership {
  private heart: pg.Client | undefined;
  private listener: pg.Client | undefined;
  private closed = false;
  private relistenTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly target: PgTarget,
    private readonly member: CommitMember,
    private readonly opts: MembershipOptions,
  ) {}

  get nodeId(): string {
    return this.member.nodeId;
  }

  async register(): Promise<void> {
    await this.query(C.REGISTER_NODE, [this.nodeId, this.opts.leaseMs, JSON.stringify(this.opts.info)]);
  }

  async heartbeat(leading: number | undefined): Promise<Heartbeat> {
    const ttl = this.opts.leaseMs;
    const node = await this.query(C.RENEW_NODE, [this.nodeId, ttl]);
    if (node.rowCount !== 1) return this.lost();
    if (leading !== undefined) {
      const kept = await this.query(C.RENEW_LEADER, [this.nodeId, ttl, leading]);
      if (kept.rowCount !== 1) return this.lost();
      return { alive: true, leaderEpoch: leading };
    }
    const claimed = await this.query<{ epoch: number }>(C.CLAIM_LEADER, [this.nodeId, ttl]);
    const epoch = claimed.rows[0]?.epoch;
    this.member.leaderEpoch = epoch;
    return { alive: true, leaderEpoch: epoch };
  }

  private lost(): Heartbeat {
    this.member.leaderEpoch = undefined;
    return { alive: false };
  }

  async forgetDeadNodes(): Promise<number> {
    return (await this.query(C.FORGET_DEAD_NODES)).rowCount ?? 0;
  }

  async leave(leaderEpoch: number | undefined): Promise<void> {
    this.member.leaderEpoch = undefined;
    const client = await this.heartClient();
    // One transaction: the leadership is free exactly when this node's row is gone, so whoever claims it next
    // finds every attempt still marked in flight here an orphan to retry.
    await client.query("BEGIN");
    try {
      await client.query(C.REMOVE_NODE, [this.nodeId]);
      if (leaderEpoch !== undefined) {
        await client.query(C.RELEASE_LEADER, [this.nodeId, leaderEpoch]);
        await client.query("SELECT pg_notify($1, $2)", [this.member.channel, leaderReleasedPayload(this.nodeId)]);
      }
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    }
  }

  async listen(onNews: (news: ClusterNews) => void, onReconnect: () => void): Promise<void> {
    const connect = async (): Promise<void> => {
      const client = new pg.Client(clientConfig(this.target, `listen-${this.nodeId}`));
      const broken = (): void => {
        if (this.listener !== client) return;
        this.listener = undefined;
        client.end().catch(() => undefined);
        this.relisten(connect, onReconnect);
      };
      client.on("error", broken);
      client.on("end", broken);
      client.on("notification", (n) => {
        const news = n.payload === undefined ? undefined : parseNews(n.payload);
        if (news && news.from !== this.nodeId) onNews(news);
      });
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.member.channel)}`);
      this.listener = client;
    };
    await connect();
  }

  /** Reconnects after a break, until it works or the membership closes; what was missed meanwhile is reread. */
  private relisten(connect: () => Promise<void>, onReconnect: () => void): void {
    if (this.closed) return;
    this.relistenTimer = setTimeout(() => {
      connect().then(onReconnect, () => this.relisten(connect, onReconnect));
    }, RELISTEN_DELAY_MS);
    this.relistenTimer.unref();
  }

  async leader(): Promise<{ nodeId: string; url?: string } | undefined> {
    const row = (await this.query<{ node_id: string; info: { url?: unknown } }>(C.CURRENT_LEADER)).rows[0];
    if (!row) return undefined;
    return { nodeId: row.node_id, ...(typeof row.info?.url === "string" ? { url: row.info.url } : {}) };
  }

  async cancelsRequested(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    return (await this.query<{ id: string }>(CANCELS_REQUESTED, [ids])).rows.map((r) => r.id);
  }

  private async heartClient(): Promise<pg.Client> {
    if (this.closed) throw new Error("the cluster membership is closed");
    if (this.heart) return this.heart;
    const client = new pg.Client({ ...clientConfig(this.target, `lease-${this.nodeId}`), query_timeout: this.opts.leaseMs });
    const drop = (): void => {
      if (this.heart === client) this.heart = undefined;
      client.end().catch(() => undefined);
    };
    client.on("error", drop);
    client.on("end", drop);
    await client.connect();
    this.heart = client;
    return client;
  }

  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    const client = await this.heartClient();
    try {
      return await client.query<R>(text, values);
    } catch (err) {
      // A timed-out or broken heartbeat connection is opened anew on the next beat.
      if (this.heart === client) {
        this.heart = undefined;
        client.end().catch(() => undefined);
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.relistenTimer) clearTimeout(this.relistenTimer);
    await this.listener?.end().catch(() => undefined);
    await this.heart?.end().catch(() => undefined);
    this.listener = this.heart = undefined;
  }
}
