import { tokenFor, DEV_USERS } from "../../src/config.js";
import { adminClient, dropSchema, schemaUrl } from "./postgres.js";
import { eventually } from "./receiver.js";
import { killHard, spawnSluice, type SluiceProcess } from "./process.js";

/** What `GET /health/ready` says about a node. */
export interface Readiness {
  status: number;
  node?: string;
  leader?: boolean;
}

/** One `sluice dev` process of a cluster. */
export interface ClusterNode extends SluiceProcess {
  name: string;
  pid: number;
  /** Stopped with SIGSTOP and not yet continued: requests to it hang, so load skips it. */
  frozen: boolean;
}

/** The lease the cluster tests run with (the default is 10 s): a dead node's work is taken over in about 3 s. */
export const LEASE_MS = 2000;

export const TOKEN = tokenFor(DEV_USERS[0]);

/**
 * Several real `sluice dev` processes sharing one PostgreSQL schema of their own, for the cluster tests: start
 * them, find the leader, and fault a node (kill -9, SIGSTOP/SIGCONT, SIGTERM, its listener connection cut). Every
 * wait is bounded; `close` kills whatever is left and drops the schema, so no process outlives the test file.
 */
export class Cluster {
  readonly nodes: ClusterNode[] = [];
  private named = 0;

  private constructor(
    readonly databaseUrl: string,
    private readonly env: Record<string, string>,
  ) {}

  /** Starts `count` nodes at once on a fresh schema (or the one given) and waits until one of them leads. */
  static async start(count: number, env: Record<string, string> = {}, databaseUrl = schemaUrl()): Promise<Cluster> {
    const cluster = new Cluster(databaseUrl, env);
    try {
      // The first node applies the migrations alone, so the others do not all queue on the migration lock at once.
      await cluster.add();
      await Promise.all(Array.from({ length: count - 1 }, () => cluster.add()));
      await cluster.leader();
      return cluster;
    } catch (err) {
      // The caller never gets the cluster to close: the nodes that did start must not outlive the test.
      await cluster.close();
      throw err;
    }
  }

  /** Starts one more node (named A, B, C, … in order) and waits until it holds its lease. */
  async add(): Promise<ClusterNode> {
    const name = String.fromCharCode(65 + this.named++);
    const proc = await spawnSluice(
      ["dev", "--database", this.databaseUrl, "--port", "0"],
      // warn: the "lost its lease" line is a warning, and a test looks for it.
      { SLUICE_CLUSTER_LEASE: `${LEASE_MS}ms`, SLUICE_SHUTDOWN_GRACE: "3s", SLUICE_LOG_LEVEL: "warn", ...this.env },
      30_000,
    );
    const node: ClusterNode = Object.assign(proc, { name, pid: proc.child.pid!, frozen: false });
    this.nodes.push(node);
    // Should the test process end without closing the cluster (a crash, a forced stop), the node goes with it.
    const orphaned = (): void => void (node.child.kill("SIGCONT"), node.child.kill("SIGKILL"));
    process.once("exit", orphaned);
    node.child.once("exit", () => process.off("exit", orphaned));
    await eventually(async () => (await this.readiness(node)).status === 200, 10_000, 50);
    return node;
  }

  /** Nodes whose process is running (frozen ones included). */
  live(): ClusterNode[] {
    return this.nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
  }

  /** Running nodes that answer requests (not frozen): where load goes. */
  serving(): ClusterNode[] {
    return this.live().filter((n) => !n.frozen);
  }

  pids(): number[] {
    return this.live().map((n) => n.pid);
  }

  async readiness(node: ClusterNode): Promise<Readiness> {
    try {
      const res = await fetch(`${node.url}/health/ready`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { node?: string; leader?: boolean };
      return { status: res.status, node: body.node, leader: body.leader };
    } catch {
      return { status: 0 };
    }
  }

  /** The one serving node that is ready and says it leads, once exactly one does; waits up to `timeoutMs`. */
  async leader(timeoutMs = 10_000): Promise<ClusterNode> {
    return eventually(async () => {
      const serving = this.serving();
      const states = await Promise.all(serving.map((n) => this.readiness(n)));
      const leaders = serving.filter((_, i) => states[i].status === 200 && states[i].leader === true);
      if (leaders.length > 1) throw new Error(`two nodes say they lead: ${leaders.map((n) => n.name).join(", ")}`);
      return leaders[0];
    }, timeoutMs, 50);
  }

  /** A serving node other than `but`. */
  other(...but: ClusterNode[]): ClusterNode {
    const found = this.serving().find((n) => !but.includes(n));
    if (!found) throw new Error(`no serving node besides ${but.map((n) => n.name).join(", ")}`);
    return found;
  }

  /** kill -9, and waits until the process is gone. */
  async kill(node: ClusterNode): Promise<void> {
    await killHard(node);
  }

  freeze(node: ClusterNode): void {
    node.child.kill("SIGSTOP");
    node.frozen = true;
  }

  thaw(node: ClusterNode): void {
    node.child.kill("SIGCONT");
    node.frozen = false;
  }

  /** SIGTERM; resolves with the exit code once the node has stopped by itself (or kills it after `timeoutMs`). */
  async terminate(node: ClusterNode, timeoutMs = 15_000): Promise<number | null> {
    const gone = new Promise<number | null>((resolve) => node.child.once("exit", (code) => resolve(code)));
    node.child.kill("SIGTERM");
    const timer = setTimeout(() => node.child.kill("SIGKILL"), timeoutMs);
    try {
      return await gone;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the node's LISTEN connection from the database side (as a network cut or a PostgreSQL restart would). */
  async cutListener(node: ClusterNode): Promise<number> {
    const id = await this.nodeId(node);
    const admin = await adminClient();
    try {
      const { rows } = await admin.query<{ ended: boolean }>(
        "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = $1",
        [`sluice-listen-${id}`],
      );
      return rows.filter((r) => r.ended).length;
    } finally {
      await admin.end();
    }
  }

  /** The node's id as it says it (a node that restarted itself after losing its lease has a new one). */
  async nodeId(node: ClusterNode): Promise<string> {
    const { node: id } = await this.readiness(node);
    if (!id) throw new Error(`node ${node.name} does not say its node id`);
    return id;
  }

  /**
   * The attempts the store has in flight on the node `nodeId` (active messages it started). Read right after the
   * node was killed or frozen, it is exactly what the others will retry as interrupted once its lease runs out.
   */
  async attemptsInFlight(nodeId: string): Promise<number> {
    const schema = new URL(this.databaseUrl).searchParams.get("schema")!;
    const admin = await adminClient();
    try {
      const { rows } = await admin.query<{ n: number }>(`SELECT count(*)::integer AS n FROM "${schema}".messages WHERE state = 'active' AND node_id = $1`, [nodeId]);
      return rows[0].n;
    } finally {
      await admin.end();
    }
  }

  /** A raw API call on `node` with the dev user's token. */
  api(node: ClusterNode, method: string, path: string, init: { body?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Response> {
    return fetch(node.url + path, {
      method,
      body: init.body,
      headers: { Authorization: `Bearer ${TOKEN}`, ...init.headers },
      signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
    });
  }

  /** Kills every node still running (continuing frozen ones first) and drops the schema. */
  async close(): Promise<void> {
    for (const node of this.live()) {
      if (node.frozen) this.thaw(node);
      await killHard(node);
    }
    await dropSchema(this.databaseUrl).catch(() => undefined);
  }
}

