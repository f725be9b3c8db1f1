import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseDuration } from "./protocol/duration.js";
import { parseCsvList, type EgressSettings } from "./engine/egress.js";

/** A user as configured: tokens are derived from these (DECISIONS #17). */
export interface UserConfig {
  userId: string;
  password: string;
  /** Dev users have fixed signing keys; production users get generated ones, kept in the store. */
  signingKeys?: { current: string; next: string };
}

/** Plan-style limits the vendor ties to plans; each is a setting here (DECISIONS #15). */
export interface Limits {
  maxBodyBytes: number;
  maxRetries: number;
  maxDelayMs: number;
  maxTimeoutMs: number;
  retentionMs: number;
  dedupWindowMs: number;
  maxBatchItems: number;
  /** Response bodies kept in logs and callbacks are cut to this size. */
  maxResponseBodyBytes: number;
  /** Longest `context.waitForEvent` / `waitForWebhook` timeout, and the timeout of a wait that gives none. */
  maxWaitTimeoutMs: number;
  /** A workflow delivery whose step list is larger is sent with an empty body; the SDK fetches the list (LazyFetch). */
  lazyFetchBytes: number;
  /** Largest request body the tokenless workflow webhook accepts. */
  maxWebhookBodyBytes: number;
  /** Most events kept for one run before it waits for them (webhook requests and run-scoped notifies). */
  maxRunEvents: number;
  /** Endpoints one URL group may hold. */
  maxUrlGroupEndpoints: number;
  /** Messages one publish, batch or schedule tick may create, URL-group fan-out included. */
  maxMessagesPerRequest: number;
}

export interface Config {
  mode: "dev" | "serve";
  host: string;
  port: number;
  /** Folder for the SQLite file; undefined means an in-memory store. */
  dataDir?: string;
  /** A `postgres://` URL: the store is then that PostgreSQL database (and `dataDir` is not used). */
  databaseUrl?: string;
  /** SQLite `synchronous` level: NORMAL survives process crashes, FULL also survives power loss. */
  sqliteSynchronous: "NORMAL" | "FULL";
  users: UserConfig[];
  limits: Limits;
  defaultRetries: number;
  egress: EgressSettings;
  /** JWT nbf = iat - this (DECISIONS #13). */
  nbfSkewSeconds: number;
  /** Cap on deliveries in flight across the whole process, so a backlog cannot open unbounded sockets. */
  maxInFlight: number;
  /** Deliveries in flight per user across all their keys and queues (global parallelism); 0 = no cap. */
  globalParallelism: number;
  /**
   * Share of `maxInFlight` one user may hold (0 < share ≤ 1): the rest stays free for other users, so one user's
   * hung destination cannot take every slot.
   */
  userMaxInFlightShare: number;
  /** Connections kept per destination origin. */
  connectionsPerOrigin: number;
  /** Due messages held in memory (with their bodies) waiting for a delivery slot; more wait in the store. */
  maxWaiting: number;
  /** On SIGTERM/SIGINT, how long attempts in flight may finish before the process exits anyway. */
  shutdownGraceMs: number;
  /** How often retention removes expired messages, logs, DLQ entries and deduplication keys. */
  maintenanceIntervalMs: number;
  logLevel: string;
  /** Bounds on what one client can hold of the HTTP server (its sockets and the memory of its bodies). */
  requestBounds: RequestBounds;
}

/** Per-request bounds of the HTTP server: nothing a slow or hostile client sends is held without limit. */
export interface RequestBounds {
  /** Bytes of request bodies held in memory across all requests at once; more is a 503 with Retry-After. */
  maxInflightBodyBytes: number;
  /** A request whose headers are not complete this long after its connection sent its first byte is cut off. */
  headersTimeoutMs: number;
  /** A request (headers and body) not fully received in this long is cut off. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
}

/** The four well-known users of the vendor's dev server, with their fixed keys (SPEC §6). */
export const DEV_USERS: UserConfig[] = [
  { userId: "defaultUser", password: "defaultPassword", signingKeys: { current: "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r", next: "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs" } },
  { userId: "testUser1", password: "testPassword", signingKeys: { current: "sig_7GVPjvuwsfqF65iC8fSrs1dfYruM", next: "sig_5NoELc3EFnZn4DVS5bDs2Nk4b7Ua" } },
  { userId: "testUser2", password: "testPassword", signingKeys: { current: "sig_6jWGaWRxHsw4vMSPJprXadyvrybF", next: "sig_7qHbvhmahe5GwfePDiS5Lg3pi6Qx" } },
  { userId: "testUser3", password: "testPassword", signingKeys: { current: "sig_5T8FcSsynBjn9mMLBsXhpacRovJf", next: "sig_7GFR4YaDshFcqsxWRZpRB161jguD" } },
];

/** The token a user authenticates with: base64 of `{"UserID":…,"Password":…}` (the workflow SDK reads UserID). */
export function tokenFor(user: Pick<UserConfig, "userId" | "password">): string {
  return Buffer.from(JSON.stringify({ UserID: user.userId, Password: user.password })).toString("base64");
}

/** Every environment variable Sluice reads, in one list. */
export const ENV = {
  port: "SLUICE_PORT",
  host: "SLUICE_HOST",
  dataDir: "SLUICE_DATA",
  databaseUrl: "SLUICE_DATABASE_URL",
  users: "SLUICE_USERS",
  configFile: "SLUICE_CONFIG",
  sqliteSynchronous: "SLUICE_SQLITE_SYNCHRONOUS",
  maxBody: "SLUICE_MAX_BODY_BYTES",
  maxRetries: "SLUICE_MAX_RETRIES",
  maxDelay: "SLUICE_MAX_DELAY",
  maxTimeout: "SLUICE_MAX_TIMEOUT",
  retention: "SLUICE_RETENTION",
  dedupWindow: "SLUICE_DEDUP_WINDOW",
  maxBatchItems: "SLUICE_MAX_BATCH_ITEMS",
  maxWaitTimeout: "SLUICE_MAX_WAIT_TIMEOUT",
  lazyFetchBytes: "SLUICE_LAZY_FETCH_BYTES",
  maxUrlGroupEndpoints: "SLUICE_MAX_URL_GROUP_ENDPOINTS",
  maxMessagesPerRequest: "SLUICE_MAX_MESSAGES_PER_REQUEST",
  defaultRetries: "SLUICE_DEFAULT_RETRIES",
  egressAllowHosts: "SLUICE_EGRESS_ALLOW_HOSTS",
  egressDenyHosts: "SLUICE_EGRESS_DENY_HOSTS",
  egressAllowCidrs: "SLUICE_EGRESS_ALLOW_CIDRS",
  egressDenyCidrs: "SLUICE_EGRESS_DENY_CIDRS",
  egressAllowPrivate: "SLUICE_EGRESS_ALLOW_PRIVATE",
  nbfSkew: "SLUICE_JWT_NBF_SKEW_SECONDS",
  maxInFlight: "SLUICE_MAX_IN_FLIGHT",
  connectionsPerOrigin: "SLUICE_CONNECTIONS_PER_ORIGIN",
  maintenanceInterval: "SLUICE_MAINTENANCE_INTERVAL",
  globalParallelism: "SLUICE_GLOBAL_PARALLELISM",
  userMaxInFlightShare: "SLUICE_USER_MAX_IN_FLIGHT_SHARE",
  maxWebhookBodyBytes: "SLUICE_MAX_WEBHOOK_BODY_BYTES",
  maxRunEvents: "SLUICE_MAX_RUN_EVENTS",
  maxWaiting: "SLUICE_MAX_WAITING",
  shutdownGrace: "SLUICE_SHUTDOWN_GRACE",
  logLevel: "SLUICE_LOG_LEVEL",
  maxInflightBodyBytes: "SLUICE_MAX_INFLIGHT_BODY_BYTES",
  headersTimeout: "SLUICE_HEADERS_TIMEOUT",
  requestTimeout: "SLUICE_REQUEST_TIMEOUT",
  keepAliveTimeout: "SLUICE_KEEP_ALIVE_TIMEOUT",
} as const;

/** Options given on the command line; they win over the environment and the config file. */
export interface ConfigFlags {
  port?: string;
  host?: string;
  data?: string;
  memory?: boolean;
  database?: string;
  config?: string;
}

type Raw = Record<string, unknown>;

/** Resolves flags > environment > config file > defaults into one validated Config; throws on bad values. */
export function loadConfig(mode: "dev" | "serve", flags: ConfigFlags, env: NodeJS.ProcessEnv): Config {
  const filePath = flags.config ?? env[ENV.configFile];
  const file: Raw = filePath ? (JSON.parse(readFileSync(filePath, "utf8")) as Raw) : {};
  const pick = (envName: string, fileKey: string): string | undefined => {
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
    const v = file[fileKey];
    if (v === undefined || v === null) return undefined;
    return Array.isArray(v) ? v.join(",") : String(v);
  };
  const int = (name: string, value: string | undefined, dflt: number, min = 0): number => {
    if (value === undefined) return dflt;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`setting ${name} must be an integer ≥ ${min}, got "${value}"`);
    return n;
  };
  const dur = (name: string, value: string | undefined, dflt: number): number =>
    value === undefined ? dflt : parseDuration(value, name);
  const share = (name: string, value: string | undefined, dflt: number): number => {
    if (value === undefined) return dflt;
    const n = Number(value);
    if (!(n > 0 && n <= 1)) throw new Error(`setting ${name} must be a number > 0 and ≤ 1, got "${value}"`);
    return n;
  };
  const bool = (value: string | undefined, dflt: boolean): boolean =>
    value === undefined ? dflt : ["1", "true", "yes", "on"].includes(value.toLowerCase());

  const port = int("port", flags.port ?? pick(ENV.port, "port"), 8080);
  if (port > 65535) throw new Error(`port must be at most 65535, got ${port}`);
  const dataFlag = flags.memory ? undefined : (flags.data ?? pick(ENV.dataDir, "dataDir") ?? ".sluice");
  const databaseUrl = flags.database ?? pick(ENV.databaseUrl, "database");
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new Error(`setting database (--database, ${ENV.databaseUrl}) must be a postgres:// or postgresql:// URL`);
  }
  const sync = (pick(ENV.sqliteSynchronous, "sqliteSynchronous") ?? "NORMAL").toUpperCase();
  if (sync !== "NORMAL" && sync !== "FULL") throw new Error(`${ENV.sqliteSynchronous} must be NORMAL or FULL`);

  const users = mode === "dev" ? DEV_USERS : parseUsers(env[ENV.users], file.users);
  if (users.length === 0) {
    throw new Error(`sluice serve needs at least one user: set ${ENV.users}="id:password,…" or "users" in the config file`);
  }

  const maxBodyBytes = int("maxBodyBytes", pick(ENV.maxBody, "maxBodyBytes"), 10 * 1024 * 1024, 1);
  const requestBounds: RequestBounds = {
    maxInflightBodyBytes: int(
      "maxInflightBodyBytes", pick(ENV.maxInflightBodyBytes, "maxInflightBodyBytes"), Math.max(256 * 1024 * 1024, 8 * maxBodyBytes), 1,
    ),
    headersTimeoutMs: dur("headersTimeout", pick(ENV.headersTimeout, "headersTimeout"), 10_000),
    requestTimeoutMs: dur("requestTimeout", pick(ENV.requestTimeout, "requestTimeout"), 60_000),
    keepAliveTimeoutMs: dur("keepAliveTimeout", pick(ENV.keepAliveTimeout, "keepAliveTimeout"), 72_000),
  };
  validateRequestBounds(requestBounds, maxBodyBytes);

  return {
    mode,
    host: flags.host ?? pick(ENV.host, "host") ?? (mode === "dev" ? "127.0.0.1" : "0.0.0.0"),
    port,
    dataDir: dataFlag === undefined ? undefined : resolve(dataFlag),
    databaseUrl,
    sqliteSynchronous: sync,
    users,
    limits: {
      maxBodyBytes,
      maxRetries: int("maxRetries", pick(ENV.maxRetries, "maxRetries"), 100),
      maxDelayMs: dur("maxDelay", pick(ENV.maxDelay, "maxDelay"), 365 * 86_400_000),
      maxTimeoutMs: dur("maxTimeout", pick(ENV.maxTimeout, "maxTimeout"), 15 * 60_000),
      retentionMs: dur("retention", pick(ENV.retention, "retention"), 14 * 86_400_000),
      dedupWindowMs: dur("dedupWindow", pick(ENV.dedupWindow, "dedupWindow"), 10 * 60_000),
      maxBatchItems: int("maxBatchItems", pick(ENV.maxBatchItems, "maxBatchItems"), 1000, 1),
      maxResponseBodyBytes: 256 * 1024,
      maxWaitTimeoutMs: dur("maxWaitTimeout", pick(ENV.maxWaitTimeout, "maxWaitTimeout"), 365 * 86_400_000),
      lazyFetchBytes: int("lazyFetchBytes", pick(ENV.lazyFetchBytes, "lazyFetchBytes"), 3 * 1024 * 1024, 1),
      maxWebhookBodyBytes: int("maxWebhookBodyBytes", pick(ENV.maxWebhookBodyBytes, "maxWebhookBodyBytes"), 1024 * 1024, 1),
      maxRunEvents: int("maxRunEvents", pick(ENV.maxRunEvents, "maxRunEvents"), 100, 1),
      // One request stays well under a second of work: each message is a row, an event and a delivery.
      maxUrlGroupEndpoints: int("maxUrlGroupEndpoints", pick(ENV.maxUrlGroupEndpoints, "maxUrlGroupEndpoints"), 1000, 1),
      maxMessagesPerRequest: int("maxMessagesPerRequest", pick(ENV.maxMessagesPerRequest, "maxMessagesPerRequest"), 2000, 1),
    },
    defaultRetries: int("defaultRetries", pick(ENV.defaultRetries, "defaultRetries"), 3),
    egress: {
      allowHosts: parseCsvList(pick(ENV.egressAllowHosts, "egressAllowHosts")),
      denyHosts: parseCsvList(pick(ENV.egressDenyHosts, "egressDenyHosts")),
      allowCidrs: parseCsvList(pick(ENV.egressAllowCidrs, "egressAllowCidrs")),
      denyCidrs: parseCsvList(pick(ENV.egressDenyCidrs, "egressDenyCidrs")),
      allowPrivate: bool(pick(ENV.egressAllowPrivate, "egressAllowPrivate"), mode === "dev"),
    },
    nbfSkewSeconds: int("nbfSkewSeconds", pick(ENV.nbfSkew, "jwtNbfSkewSeconds"), 0),
    maxInFlight: int("maxInFlight", pick(ENV.maxInFlight, "maxInFlight"), 2000, 1),
    connectionsPerOrigin: int("connectionsPerOrigin", pick(ENV.connectionsPerOrigin, "connectionsPerOrigin"), 256, 1),
    shutdownGraceMs: dur("shutdownGrace", pick(ENV.shutdownGrace, "shutdownGrace"), 10_000),
    maxWaiting: int("maxWaiting", pick(ENV.maxWaiting, "maxWaiting"), 50_000, 1),
    globalParallelism: int("globalParallelism", pick(ENV.globalParallelism, "globalParallelism"), 0),
    userMaxInFlightShare: share("userMaxInFlightShare", pick(ENV.userMaxInFlightShare, "userMaxInFlightShare"), 0.8),
    maintenanceIntervalMs: Math.max(100, dur("maintenanceInterval", pick(ENV.maintenanceInterval, "maintenanceInterval"), 60_000)),
    logLevel: pick(ENV.logLevel, "logLevel") ?? "warn",
    requestBounds,
  };
}

/** A budget smaller than one body would refuse every large request; a zero timeout would mean none at all. */
function validateRequestBounds(b: RequestBounds, maxBodyBytes: number): void {
  if (b.maxInflightBodyBytes < maxBodyBytes) {
    throw new Error(`setting maxInflightBodyBytes (${b.maxInflightBodyBytes}) must be at least maxBodyBytes (${maxBodyBytes})`);
  }
  for (const [name, ms] of [["headersTimeout", b.headersTimeoutMs], ["requestTimeout", b.requestTimeoutMs], ["keepAliveTimeout", b.keepAliveTimeoutMs]] as const) {
    if (ms < 1) throw new Error(`setting ${name} must be a positive duration, got ${ms}ms`);
  }
  // Node's HTTP server refuses a headers timeout longer than the whole-request timeout.
  if (b.headersTimeoutMs > b.requestTimeoutMs) {
    throw new Error(`setting headersTimeout (${b.headersTimeoutMs}ms) must not be longer than requestTimeout (${b.requestTimeoutMs}ms)`);
  }
}

function parseUsers(fromEnv: string | undefined, fromFile: unknown): UserConfig[] {
  if (!fromEnv && Array.isArray(fromFile)) {
    return fromFile.map((u, i) => {
      const o = u as Raw;
      if (typeof o.userId !== "string" || typeof o.password !== "string" || !o.userId || !o.password) {
        throw new Error(`config users[${i}] needs string "userId" and "password"`);
      }
      return { userId: o.userId, password: o.password };
    });
  }
  if (!fromEnv) return [];
  return fromEnv
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf(":");
      if (i <= 0 || i === pair.length - 1) throw new Error(`${ENV.users} entries must be "userId:password", got "${pair}"`);
      return { userId: pair.slice(0, i), password: pair.slice(i + 1) };
    });
}
