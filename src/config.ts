import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { parseDuration } from "./protocol/duration.js";
import { parseCsvList, type EgressSettings } from "./engine/egress.js";

/** A user as configured: tokens are derived from these (DECISIONS #17). */
export interface UserConfig {
  userId: string;
  password: string;
  /**
   * A second password whose token reads everything of the user's and changes nothing (a 403 on every write):
   * for dashboards, the console and support access.
   */
  readOnlyPassword?: string;
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
  /**
   * Largest destination response read. A `context.call` answered with more fails; a plain message's delivery
   * stands and its logs, DLQ entry and callback keep the first this-many bytes, flagged as cut.
   */
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
  /**
   * Attempts are sent from a worker thread of their own (the HTTP client and the signing run on a second core
   * while the main thread accepts, stores and dispatches). Default: on when the machine has more than one CPU.
   */
  deliveryThread: boolean;
  /** Due messages held in memory (with their bodies) waiting for a delivery slot; more wait in the store. */
  maxWaiting: number;
  /** On SIGTERM/SIGINT, how long attempts in flight may finish before the process exits anyway. */
  shutdownGraceMs: number;
  /**
   * On PostgreSQL, how long a node's lease lasts without a renewal: a node silent that long is taken as gone (its
   * attempts in flight retried, its leadership taken over). Renewed every fifth of it.
   */
  clusterLeaseMs: number;
  /**
   * The URL the other nodes of a cluster reach this one at (reads only the leader can answer are passed to it).
   * Default: `http://<host>:<port>`, with this machine's host name when listening on every address.
   */
  advertiseUrl: string | undefined;
  /** How often retention removes expired messages, logs, DLQ entries and deduplication keys. */
  maintenanceIntervalMs: number;
  logLevel: LogLevel;
  /** A publish naming an `Upstash-*` header Sluice does not know is refused (400) instead of answered with a warning. */
  rejectUnknownHeaders: boolean;
  /** Proxies (addresses or CIDRs) whose `X-Forwarded-For` is believed, so a message records its caller's address. */
  trustProxy: string[];
  /** Bounds on what one client can hold of the HTTP server (its sockets and the memory of its bodies). */
  requestBounds: RequestBounds;
  /** `/metrics` and OpenTelemetry traces. */
  observability: ObservabilitySettings;
}

/** Who may read `/metrics`, how fresh its store-counted gauges are, and where traces go. */
export interface ObservabilitySettings {
  /** `/metrics` answers without a token (dev mode's default). */
  metricsPublic: boolean;
  /** When `/metrics` is not public, the bearer token it requires; unset means it is refused. */
  metricsToken?: string;
  /** Gauges counted in the store (pending, DLQ, active runs) are recounted at most this often. */
  metricsStoreCountMs: number;
  /** OTLP/HTTP traces endpoint (full URL of `/v1/traces`); undefined means tracing is off. */
  tracesEndpoint?: string;
  /** Extra headers sent with every export (`OTEL_EXPORTER_OTLP_HEADERS`). */
  tracesHeaders: Record<string, string>;
  serviceName: string;
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

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
  { userId: "defaultUser", password: "defaultPassword", readOnlyPassword: "defaultReadOnlyPassword", signingKeys: { current: "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r", next: "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs" } },
  { userId: "testUser1", password: "testPassword", readOnlyPassword: "testReadOnlyPassword", signingKeys: { current: "sig_7GVPjvuwsfqF65iC8fSrs1dfYruM", next: "sig_5NoELc3EFnZn4DVS5bDs2Nk4b7Ua" } },
  { userId: "testUser2", password: "testPassword", readOnlyPassword: "testReadOnlyPassword", signingKeys: { current: "sig_6jWGaWRxHsw4vMSPJprXadyvrybF", next: "sig_7qHbvhmahe5GwfePDiS5Lg3pi6Qx" } },
  { userId: "testUser3", password: "testPassword", readOnlyPassword: "testReadOnlyPassword", signingKeys: { current: "sig_5T8FcSsynBjn9mMLBsXhpacRovJf", next: "sig_7GFR4YaDshFcqsxWRZpRB161jguD" } },
];

/** The token a user authenticates with: base64 of `{"UserID":…,"Password":…}` (the workflow SDK reads UserID). */
export function tokenFor(user: Pick<UserConfig, "userId" | "password">): string {
  return Buffer.from(JSON.stringify({ UserID: user.userId, Password: user.password })).toString("base64");
}

/** The read-only token of a user that has a read-only password: the same base64 form, so the SDKs accept it. */
export function readOnlyTokenFor(user: UserConfig): string | undefined {
  return user.readOnlyPassword === undefined ? undefined : tokenFor({ userId: user.userId, password: user.readOnlyPassword });
}

/** Every environment variable Sluice reads, in one list. */
export const ENV = {
  port: "SLUICE_PORT",
  host: "SLUICE_HOST",
  dataDir: "SLUICE_DATA",
  databaseUrl: "SLUICE_DATABASE_URL",
  users: "SLUICE_USERS",
  readOnlyUsers: "SLUICE_READ_ONLY_USERS",
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
  deliveryThread: "SLUICE_DELIVERY_THREAD",
  maintenanceInterval: "SLUICE_MAINTENANCE_INTERVAL",
  globalParallelism: "SLUICE_GLOBAL_PARALLELISM",
  userMaxInFlightShare: "SLUICE_USER_MAX_IN_FLIGHT_SHARE",
  maxWebhookBodyBytes: "SLUICE_MAX_WEBHOOK_BODY_BYTES",
  maxRunEvents: "SLUICE_MAX_RUN_EVENTS",
  maxWaiting: "SLUICE_MAX_WAITING",
  shutdownGrace: "SLUICE_SHUTDOWN_GRACE",
  clusterLease: "SLUICE_CLUSTER_LEASE",
  advertiseUrl: "SLUICE_ADVERTISE_URL",
  logLevel: "SLUICE_LOG_LEVEL",
  maxInflightBodyBytes: "SLUICE_MAX_INFLIGHT_BODY_BYTES",
  headersTimeout: "SLUICE_HEADERS_TIMEOUT",
  requestTimeout: "SLUICE_REQUEST_TIMEOUT",
  keepAliveTimeout: "SLUICE_KEEP_ALIVE_TIMEOUT",
  maxResponseBodyBytes: "SLUICE_MAX_RESPONSE_BODY_BYTES",
  rejectUnknownHeaders: "SLUICE_REJECT_UNKNOWN_HEADERS",
  trustProxy: "SLUICE_TRUST_PROXY",
  metricsPublic: "SLUICE_METRICS_PUBLIC",
  metricsToken: "SLUICE_METRICS_TOKEN",
  metricsStoreCount: "SLUICE_METRICS_STORE_COUNT_INTERVAL",
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

/** Called with each setting the loader reads (its environment variable and config-file key), for checking docs. */
export type SettingSeen = (envName: string, fileKey: string) => void;

/**
 * Resolves flags > environment > config file > defaults into one validated Config; throws on bad values, naming
 * the setting. A config-file key no setting reads is refused, so a typo is not silently ignored.
 */
export function loadConfig(mode: "dev" | "serve", flags: ConfigFlags, env: NodeJS.ProcessEnv, onSetting?: SettingSeen): Config {
  const filePath = flags.config ?? env[ENV.configFile];
  const file: Raw = filePath ? readConfigFile(filePath) : {};
  const keysRead = new Set<string>();
  const pick = (envName: string, fileKey: string): string | undefined => {
    keysRead.add(fileKey);
    onSetting?.(envName, fileKey);
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
    const v = file[fileKey];
    if (v === undefined || v === null) return undefined;
    return Array.isArray(v) ? v.join(",") : String(v);
  };
  // The setting is read (and its key known) even when a flag overrides it.
  const flagOr = (flag: string | undefined, envName: string, fileKey: string): string | undefined => {
    const v = pick(envName, fileKey);
    return flag ?? v;
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
  const bool = (name: string, value: string | undefined, dflt: boolean): boolean => {
    if (value === undefined) return dflt;
    const lower = value.toLowerCase();
    if (lower !== "true" && lower !== "false") throw new Error(`setting ${name} must be true or false, got "${value}"`);
    return lower === "true";
  };

  const port = int("port", flagOr(flags.port, ENV.port, "port"), 8080);
  if (port > 65535) throw new Error(`setting port must be at most 65535, got ${port}`);
  const dataFlag = flagOr(flags.data, ENV.dataDir, "dataDir");
  const dataDir = flags.memory ? undefined : (dataFlag ?? ".sluice");
  const databaseUrl = flagOr(flags.database, ENV.databaseUrl, "database");
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new Error(`setting database (--database, ${ENV.databaseUrl}) must be a postgres:// or postgresql:// URL`);
  }
  const sync = (pick(ENV.sqliteSynchronous, "sqliteSynchronous") ?? "NORMAL").toUpperCase();
  if (sync !== "NORMAL" && sync !== "FULL") throw new Error(`setting sqliteSynchronous (${ENV.sqliteSynchronous}) must be NORMAL or FULL, got "${sync}"`);

  keysRead.add("users");
  onSetting?.(ENV.users, "users");
  if (mode === "dev" && (env[ENV.users] || file.users !== undefined)) {
    // Ignoring them would leave a user wondering why their token is refused.
    throw new Error(
      `sluice dev always serves the four dev users and does not read ${ENV.users} or "users" in the config file: ` +
        `unset them, or run sluice serve to use your own users`,
    );
  }
  // In the file, a read-only password sits in `users` beside the password.
  onSetting?.(ENV.readOnlyUsers, "users");
  const users = mode === "dev" ? DEV_USERS : parseUsers(env[ENV.users], env[ENV.readOnlyUsers], file.users);
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

  const config: Config = {
    mode,
    host: flagOr(flags.host, ENV.host, "host") ?? (mode === "dev" ? "127.0.0.1" : "0.0.0.0"),
    port,
    dataDir: dataDir === undefined ? undefined : resolve(dataDir),
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
      maxResponseBodyBytes: int("maxResponseBodyBytes", pick(ENV.maxResponseBodyBytes, "maxResponseBodyBytes"), 256 * 1024, 1),
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
      allowPrivate: bool("egressAllowPrivate", pick(ENV.egressAllowPrivate, "egressAllowPrivate"), mode === "dev"),
    },
    nbfSkewSeconds: int("nbfSkewSeconds", pick(ENV.nbfSkew, "jwtNbfSkewSeconds"), 0),
    maxInFlight: int("maxInFlight", pick(ENV.maxInFlight, "maxInFlight"), 2000, 1),
    connectionsPerOrigin: int("connectionsPerOrigin", pick(ENV.connectionsPerOrigin, "connectionsPerOrigin"), 256, 1),
    deliveryThread: bool("deliveryThread", pick(ENV.deliveryThread, "deliveryThread"), availableParallelism() > 1),
    shutdownGraceMs: dur("shutdownGrace", pick(ENV.shutdownGrace, "shutdownGrace"), 10_000),
    advertiseUrl: advertiseUrl(pick(ENV.advertiseUrl, "advertiseUrl")),
    clusterLeaseMs: clusterLease(dur("clusterLease", pick(ENV.clusterLease, "clusterLease"), 10_000)),
    maxWaiting: int("maxWaiting", pick(ENV.maxWaiting, "maxWaiting"), 50_000, 1),
    globalParallelism: int("globalParallelism", pick(ENV.globalParallelism, "globalParallelism"), 0),
    userMaxInFlightShare: share("userMaxInFlightShare", pick(ENV.userMaxInFlightShare, "userMaxInFlightShare"), 0.8),
    maintenanceIntervalMs: Math.max(100, dur("maintenanceInterval", pick(ENV.maintenanceInterval, "maintenanceInterval"), 60_000)),
    logLevel: logLevel(pick(ENV.logLevel, "logLevel")),
    rejectUnknownHeaders: bool("rejectUnknownHeaders", pick(ENV.rejectUnknownHeaders, "rejectUnknownHeaders"), false),
    trustProxy: proxyList(pick(ENV.trustProxy, "trustProxy")),
    requestBounds,
    observability: {
      metricsPublic: bool("metricsPublic", pick(ENV.metricsPublic, "metricsPublic"), mode === "dev"),
      metricsToken: pick(ENV.metricsToken, "metricsToken"),
      metricsStoreCountMs: dur("metricsStoreCountInterval", pick(ENV.metricsStoreCount, "metricsStoreCountInterval"), 15_000),
      ...tracingSettings(env),
    },
  };
  const unknown = Object.keys(file).filter((k) => !keysRead.has(k));
  if (unknown.length > 0) {
    throw new Error(`config file ${filePath}: unknown setting${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")} (see docs/configuration.md)`);
  }
  return config;
}

/** The config file as a JSON object; a syntax error names the file. */
function readConfigFile(path: string): Raw {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`config file ${path} cannot be read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new Error(`config file ${path} must hold a JSON object of settings`);
  }
  return parsed as Raw;
}

/** `info` by default, so an operator sees the events that matter (event-log.ts) without asking for them. */
function logLevel(value: string | undefined): LogLevel {
  if (value === undefined) return "info";
  const level = value.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new Error(`setting logLevel must be one of ${LOG_LEVELS.join(", ")}, got "${value}"`);
  return level as LogLevel;
}

/** Proxy addresses or CIDRs (`10.0.0.1`, `10.0.0.0/8`, `::1`), as fastify's `trustProxy` takes them. */
function proxyList(value: string | undefined): string[] {
  const list = parseCsvList(value);
  for (const entry of list) {
    const [addr, bits, ...rest] = entry.split("/");
    const family = isIP(addr);
    const maxBits = family === 6 ? 128 : 32;
    const badBits = bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits);
    if (family === 0 || badBits || rest.length > 0) {
      throw new Error(`setting trustProxy must list proxy addresses or CIDRs (10.0.0.1, 10.0.0.0/8), got "${entry}"`);
    }
  }
  return list;
}

/**
 * Tracing follows the standard OpenTelemetry variables, so it is configured like any other OTel service: on only
 * when an OTLP endpoint is given and `OTEL_TRACES_EXPORTER` / `OTEL_SDK_DISABLED` do not turn it off.
 */
function tracingSettings(env: NodeJS.ProcessEnv): Pick<ObservabilitySettings, "tracesEndpoint" | "tracesHeaders" | "serviceName"> {
  const serviceName = env.OTEL_SERVICE_NAME || "sluice";
  const tracesHeaders = parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS || env.OTEL_EXPORTER_OTLP_HEADERS);
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "otlp").split(",").map((s) => s.trim().toLowerCase());
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === "true" || exporters.includes("none")) return { serviceName, tracesHeaders };
  if (!exporters.includes("otlp")) {
    throw new Error(`OTEL_TRACES_EXPORTER must be "otlp" or "none" (Sluice exports over OTLP/HTTP only), got "${env.OTEL_TRACES_EXPORTER}"`);
  }
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (protocol && protocol !== "http/json" && protocol !== "http/protobuf") {
    throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL must be http/json or http/protobuf (Sluice sends http/json), got "${protocol}"`);
  }
  const signal = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  // The per-signal variable is the whole URL; the base one gets the signal's path appended (OTLP spec).
  const endpoint = signal || (base ? `${base.replace(/\/+$/, "")}/v1/traces` : undefined);
  if (endpoint === undefined) return { serviceName, tracesHeaders };
  try {
    const u = new URL(endpoint);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
  } catch {
    throw new Error(`${signal ? "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" : "OTEL_EXPORTER_OTLP_ENDPOINT"} must be an http(s) URL, got "${signal || base}"`);
  }
  return { tracesEndpoint: endpoint, tracesHeaders, serviceName };
}

/** `key=value,key2=value2`, values percent-encoded (the OTLP exporter's header format). */
function parseOtlpHeaders(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (raw ?? "").split(",")) {
    const i = part.indexOf("=");
    if (i <= 0) continue;
    out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
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

/**
 * Users from `SLUICE_USERS` (`id:password`, comma-separated: the password is everything after the first `:`, so it
 * may hold `:` but not `,`) with read-only passwords from `SLUICE_READ_ONLY_USERS` (`id:readOnlyPassword`, for
 * users named in `SLUICE_USERS`), or from the file's `users` (`{userId, password, readOnlyPassword?}`, any
 * characters). A read-only password has a variable of its own, so no existing `SLUICE_USERS` changes meaning.
 */
function parseUsers(fromEnv: string | undefined, readOnlyEnv: string | undefined, fromFile: unknown): UserConfig[] {
  if (!fromEnv && Array.isArray(fromFile)) {
    if (readOnlyEnv) throw new Error(`${ENV.readOnlyUsers} goes with ${ENV.users}; with the config file's users, give readOnlyPassword there`);
    return fromFile.map((u, i) => {
      const o = u as Raw;
      if (typeof o.userId !== "string" || typeof o.password !== "string" || !o.userId || !o.password) {
        throw new Error(`config users[${i}] needs string "userId" and "password"`);
      }
      if (o.readOnlyPassword !== undefined && (typeof o.readOnlyPassword !== "string" || !o.readOnlyPassword)) {
        throw new Error(`config users[${i}].readOnlyPassword must be a non-empty string`);
      }
      return checkedUser({ userId: o.userId, password: o.password, readOnlyPassword: o.readOnlyPassword }, `config users[${i}]`);
    });
  }
  if (!fromEnv) {
    if (readOnlyEnv) throw new Error(`${ENV.readOnlyUsers} names users of ${ENV.users}, which is not set`);
    return [];
  }
  const users = idPasswordPairs(fromEnv, ENV.users).map(([userId, password]) => ({ userId, password }) as UserConfig);
  for (const [userId, readOnlyPassword] of idPasswordPairs(readOnlyEnv ?? "", ENV.readOnlyUsers)) {
    const user = users.find((u) => u.userId === userId);
    if (!user) throw new Error(`${ENV.readOnlyUsers} names user "${userId}", who is not in ${ENV.users}`);
    user.readOnlyPassword = readOnlyPassword;
  }
  return users.map((u) => checkedUser(u, `${ENV.users} user "${u.userId}"`));
}

/** `id:password` entries separated by commas; an entry of another shape is refused by position, never echoed. */
function idPasswordPairs(value: string, setting: string): [string, string][] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const at = entry.indexOf(":");
      // The entry itself is not repeated: it holds a password, and start-up errors end up in logs.
      if (at <= 0 || at === entry.length - 1) throw new Error(`${setting} entry ${i + 1} must be "userId:password"`);
      return [entry.slice(0, at), entry.slice(at + 1)];
    });
}

/** A read-only password equal to the password would give one token two meanings. */
function checkedUser(user: UserConfig, where: string): UserConfig {
  if (user.readOnlyPassword === undefined) return { userId: user.userId, password: user.password };
  if (user.readOnlyPassword === user.password) throw new Error(`${where}: readOnlyPassword must differ from password`);
  return user;
}

/** A lease shorter than a second would be lost to a busy event loop; one past five minutes delays every takeover. */
function clusterLease(ms: number): number {
  if (ms < 1000 || ms > 300_000) throw new Error(`setting clusterLease (${ENV.clusterLease}) must be between 1s and 5m, got ${ms}ms`);
  return ms;
}

/**
 * The URL the other nodes pass the leader's reads to: each read's path and query are appended to it, and fetch
 * refuses a URL with credentials, so a query, a fragment or a user name would make every such read fail (silently:
 * the nodes would answer locally). A path is kept, for a proxy that serves the node under one.
 */
function advertiseUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const setting = `setting advertiseUrl (${ENV.advertiseUrl})`;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  // The URL parser also reads "http:host" as http://host/: the slashes are asked for, as the docs show.
  if (!url || !/^https?:\/\/[^/?#]/i.test(value.trim()) || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new Error(`${setting} must be an http:// or https:// URL, got "${value}"`);
  }
  if (url.username || url.password) throw new Error(`${setting} must not carry a user name or password`);
  if (value.includes("?") || value.includes("#")) {
    throw new Error(`${setting} must have no query or fragment (each read passed to the leader appends its own path and query), got "${value}"`);
  }
  return (url.origin + url.pathname).replace(/\/+$/, "");
}
