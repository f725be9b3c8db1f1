import type { FastifyInstance } from "fastify";
import { hostname } from "node:os";
import { join } from "node:path";
import { tokenFor, type Config } from "./config.js";
import { Deliverer, type AttemptSender } from "./engine/deliverer.js";
import { DeliveryThread } from "./engine/delivery-thread.js";
import { EgressPolicy } from "./engine/egress.js";
import { Scheduler } from "./engine/scheduler.js";
import { Workflows } from "./workflow/workflows.js";
import { Waits } from "./workflow/waiters.js";
import { WorkflowDlq } from "./workflow/dlq.js";
import type { Store } from "./store/store.js";
import { Engine } from "./engine/engine.js";
import { systemClock, type Clock } from "./engine/clock.js";
import { KeyRing } from "./engine/keyring.js";
import { buildApp } from "./http/app.js";
import { subscribeEventLog } from "./observability/event-log.js";
import { tracingFrom } from "./observability/tracing.js";
import { openStore } from "./store/open-store.js";
import { isClusterStore } from "./store/cluster.js";
import { ClusterNode } from "./cluster/cluster-node.js";
import { newNodeId } from "./cluster/node-id.js";
import { packageVersion } from "./package-version.js";
import { redact } from "./store/postgres/database-url.js";

export interface RunningServer {
  /** A URL that reaches the server from this machine (loopback when it listens on every address). */
  url: string;
  port: number;
  /** The address the socket is bound to, as the system reports it (`0.0.0.0`, `::`, `127.0.0.1`…). */
  listeningOn: string;
  app: FastifyInstance;
  engine: Engine;
  scheduler: Scheduler;
  workflows: Workflows;
  waits: Waits;
  config: Config;
  /** In a cluster (a store several nodes share): this node. */
  node: ClusterNode | undefined;
  /**
   * Resolves, with the reason, if this node loses its lease (frozen or cut off past it: the others have taken its
   * work over). The server must then be dropped with `abandon` and a new one started. Never resolves on a sole node.
   */
  lost: Promise<string>;
  /** Stops gracefully: requests and attempts in flight finish (for the shutdown grace), then the lease is let go. */
  close(): Promise<void>;
  /** Drops a server whose lease was lost: attempts are aborted, nothing more is written for the leader. */
  abandon(): Promise<void>;
}

/**
 * The parts built on the engine, wired beside it: the engine calls the workflow layer only through its hooks,
 * and the scheduler and the waits start and stop with it.
 */
export function buildServices(engine: Engine, store: Store, config: Config, clock: Clock) {
  const track = (p: Promise<unknown>): void => engine.track(p);
  const workflows = new Workflows({ store, config, clock, messages: engine, runFailed: (userId, runId) => engine.emit("runFailed", userId, runId), track });
  const waits = new Waits({ store, config, clock, messages: engine, workflows, track });
  const workflowDlq = new WorkflowDlq({ store, clock, messages: engine, workflows });
  const scheduler = new Scheduler({
    store,
    ownsStore: !isClusterStore(store),
    config,
    clock,
    urlGroups: engine.urlGroups,
    commit: (ops) => engine.commit(ops),
    fireSchedule: (...args) => engine.fireSchedule(...args),
    onError: (err) => engine.emit("error", err),
    onLate: (userId, id, lateMs) => engine.emit("scheduleLate", userId, id, lateMs),
    track,
  });
  engine.use(workflows);
  engine.attach(scheduler, waits);
  return { workflows, waits, workflowDlq, scheduler, settings: engine.settings };
}

/** Where attempts are sent from: the delivery thread, or (configured off) this thread. */
async function startDeliverer(config: Config, onError: (err: Error) => void): Promise<AttemptSender> {
  const opts = { connectionsPerOrigin: config.connectionsPerOrigin, maxResponseBodyBytes: config.limits.maxResponseBodyBytes };
  if (config.deliveryThread) return DeliveryThread.start({ ...opts, egress: config.egress }, onError);
  return new Deliverer({ ...opts, egress: new EgressPolicy(config.egress) });
}

/**
 * Opens the store, recovers interrupted work, and starts serving; resolves once the port is open. On a store
 * several nodes share (PostgreSQL), the server is one node of a cluster: it registers, and leads if it can.
 */
export async function startServer(config: Config, clock: Clock = systemClock): Promise<RunningServer> {
  // On SQLite, takes the data folder's lock first: nothing (keys, recovery) is read before this process owns the
  // folder. On PostgreSQL, migrates the schema first.
  const store = await openStore(config);
  let engine: Engine | undefined;
  let deliverer: AttemptSender;
  try {
    deliverer = await startDeliverer(config, (err) => (engine ? engine.emit("error", err) : console.error(err)));
  } catch (err) {
    await store.close();
    throw err;
  }
  let services: ReturnType<typeof buildServices> | undefined;
  let app: FastifyInstance | undefined;
  let node: ClusterNode | undefined;
  let reportLost: (reason: string) => void = () => undefined;
  const lost = new Promise<string>((resolve) => (reportLost = resolve));
  const closeAll = async (how: "graceful" | "abandon"): Promise<void> => {
    if (how === "abandon") {
      // The others already retry this node's attempts: stop them now rather than deliver twice for longer.
      await deliverer.close(0);
      await engine?.stop(0, { fencedOut: true });
      if (app) await closeHttp(app, Math.min(1000, config.shutdownGraceMs));
      await node?.stop(true).catch(() => undefined);
    } else {
      if (app) await closeHttp(app, config.shutdownGraceMs);
      await engine?.stop(config.shutdownGraceMs);
      // After the attempts have finished: the next leader finds whatever is left an orphan to retry.
      await node?.stop(true).catch((err) => app?.log.warn({ err }, "could not leave the cluster cleanly; the lease will expire"));
      await deliverer.close();
    }
    await engine?.tracing?.shutdown().catch(() => undefined);
    await store.close();
  };
  try {
    const keys = await KeyRing.load(store, config.users);
    engine = new Engine(store, config, deliverer, keys, clock);
    engine.tracing = tracingFrom(config.observability);
    services = buildServices(engine, store, config, clock);
    // What operators see of this node in `sluice_node`; its URL is added once the port is known.
    const info: Record<string, unknown> = { host: hostname(), pid: process.pid, version: packageVersion(), startedAt: new Date().toISOString() };
    if (isClusterStore(store)) {
      const membership = store.joinCluster(newNodeId(), { leaseMs: config.clusterLeaseMs, info });
      node = clusterNode(engine, membership, config, keys, services, reportLost, (err) => app?.log.warn({ err }, "cluster heartbeat failed"));
      engine.role = node.lease;
    }
    const lease = node?.lease;
    const readiness = () => (lease ? { ready: lease.mayStart(), node: lease.nodeId, leader: lease.leading() } : { ready: true, leader: true });
    app = buildApp({ engine, reads: store, ...services, config, readiness, leader: node?.locator });
    subscribeEventLog(engine, app.log);
    // A node that does not lead serves the schedules too: their first load (the leader's start loads them again).
    if (node) await services.scheduler.reload();
    await engine.start();
    await listenOn(app, config);
    if (node) {
      // Registered once the port is open, so the others can reach it; until then it starts nothing itself (not
      // ready), and what it stores waits for the leader.
      info.url = config.advertiseUrl ?? advertisedUrl(app, config);
      await node.start();
    }
  } catch (err) {
    // A start that fails (the port in use, say) lets go of the data folder, so a next attempt can take it.
    await closeAll("abandon");
    throw err;
  }
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : config.port;
  const listening = typeof addr === "object" && addr ? addr.address : config.host;
  const shownHost = listening === "0.0.0.0" || listening === "::" ? "127.0.0.1" : listening;
  let closed = false;
  const closeOnce = async (how: "graceful" | "abandon"): Promise<void> => {
    if (closed) return;
    closed = true;
    await closeAll(how);
  };
  return {
    url: `http://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${port}`,
    port,
    listeningOn: listening,
    app,
    engine,
    scheduler: services.scheduler,
    workflows: services.workflows,
    waits: services.waits,
    config,
    node,
    lost,
    close: () => closeOnce("graceful"),
    abandon: () => closeOnce("abandon"),
  };
}

/** This node of a cluster: news from the other nodes reloads what this one caches. */
function clusterNode(
  engine: Engine,
  membership: ReturnType<ClusterStoreOf["joinCluster"]>,
  config: Config,
  keys: KeyRing,
  services: ReturnType<typeof buildServices>,
  onLost: (reason: string) => void,
  onError: (err: unknown) => void,
): ClusterNode {
  // One read serves both: the same function, so a node reading every cache reads it once.
  const reloadSettings = (): Promise<void> => services.settings.reload();
  return new ClusterNode({
    engine,
    membership,
    leaseMs: config.clusterLeaseMs,
    reload: {
      queues: reloadSettings,
      flowSettings: reloadSettings,
      urlGroups: () => engine.urlGroups.reload(),
      signingKeys: () => keys.reload(),
      schedules: () => services.scheduler.reload(),
      waiters: () => services.waits.reload(),
    },
    reloadEntries: {
      queues: (entries) => services.settings.reloadEntries(entries),
      urlGroups: (entries) => engine.urlGroups.reloadEntries(entries),
      schedules: (entries) => services.scheduler.reloadEntries(entries),
    },
    onLost,
    onError,
  });
}

type ClusterStoreOf = import("./store/cluster.js").ClusterStore;

/** How the other nodes reach this one by default: its listening address, or its host name when that is every address. */
function advertisedUrl(app: FastifyInstance, config: Config): string {
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : config.port;
  const bound = typeof addr === "object" && addr ? addr.address : config.host;
  const host = bound === "0.0.0.0" || bound === "::" ? hostname() : bound;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Listens on the configured address; a port already taken says so and names the setting that changes it. */
async function listenOn(app: FastifyInstance, config: Config): Promise<void> {
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "EADDRINUSE") {
      throw new Error(`address already in use: port ${config.port} on ${config.host} (EADDRINUSE): stop what is using it, or choose another port with --port (or SLUICE_PORT)`);
    }
    if (code === "EADDRNOTAVAIL") {
      throw new Error(`address ${config.host} is not one of this machine's (EADDRNOTAVAIL): choose another with --host (or SLUICE_HOST)`);
    }
    throw err;
  }
}

/**
 * Stops accepting connections and waits for the requests in progress, for `graceMs` at most: a connection that
 * never completes a request (a client that stopped halfway through its headers) must not hold the stop up, so
 * what is left then is closed.
 */
async function closeHttp(app: FastifyInstance, graceMs: number): Promise<void> {
  const force = setTimeout(() => app.server.closeAllConnections(), graceMs);
  force.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(force);
  }
}

/**
 * The banner printed at start: where Sluice listens and how to point the SDKs at it. `sluice dev` shows the
 * well-known dev credentials. `sluice serve` never prints a token, and prints signing keys only on the start that
 * generated them: start-up output ends up in log collectors, where secrets repeated on every start would leak.
 */
export function banner(s: RunningServer): string {
  const where = s.config.databaseUrl ? `data in ${redact(s.config.databaseUrl)}` : s.config.dataDir ? `data in ${s.config.dataDir}` : "in memory";
  const credentials = s.config.mode === "dev" ? devCredentials(s) : serveCredentials(s);
  const bound = s.listeningOn.includes(":") ? `[${s.listeningOn}]:${s.port}` : `${s.listeningOn}:${s.port}`;
  return [
    `Sluice is running at ${s.url} (listening on ${bound}, ${s.config.mode} mode, ${where})`,
    `  console: ${s.url}/console`,
    "",
    ...credentials,
  ].join("\n");
}

function devCredentials(s: RunningServer): string[] {
  const u = s.config.users[0];
  const keys = s.engine.keys.get(u.userId);
  return [
    `  user ${u.userId}`,
    `    QSTASH_URL=${s.url}`,
    `    QSTASH_TOKEN=${tokenFor(u)}`,
    `    QSTASH_CURRENT_SIGNING_KEY=${keys.current}`,
    `    QSTASH_NEXT_SIGNING_KEY=${keys.next}`,
  ];
}

function serveCredentials(s: RunningServer): string[] {
  const lines = [
    `  QSTASH_URL=${s.url}`,
    `  users: ${s.config.users.map((u) => u.userId).join(", ")}`,
    `  A user's QSTASH_TOKEN is the base64 of {"UserID":"<id>","Password":"<password>"}.`,
  ];
  const keptIn = s.config.databaseUrl
    ? "kept in the database"
    : s.config.dataDir
      ? `kept in ${join(s.config.dataDir, "sluice.db")}`
      : "kept in memory only: new ones on every start";
  for (const userId of s.engine.keys.generatedFor) {
    const keys = s.engine.keys.get(userId);
    lines.push(
      "",
      `  signing keys generated for user ${userId} (shown on this start only, ${keptIn}):`,
      `    QSTASH_CURRENT_SIGNING_KEY=${keys.current}`,
      `    QSTASH_NEXT_SIGNING_KEY=${keys.next}`,
    );
  }
  lines.push("", `  Read a user's signing keys at any time: curl -H "Authorization: Bearer $QSTASH_TOKEN" ${s.url}/v2/keys`);
  return lines;
}
