import { Client } from "@upstash/qstash";
import { DEV_USERS, loadConfig, tokenFor, type Config } from "../../src/config.js";
import { startServer, type RunningServer } from "../../src/server.js";
import type { Clock } from "../../src/engine/clock.js";
import { schemaUrl } from "./postgres.js";

export const DEV_TOKEN = tokenFor(DEV_USERS[0]);
export const DEV_KEYS = DEV_USERS[0].signingKeys!;

export interface TestSluice extends RunningServer {
  client(userIndex?: number): Client;
  token(userIndex?: number): string;
  /** A raw fetch against the API with the default user's token unless `token` is given. */
  api(method: string, path: string, init?: { body?: string | Buffer; headers?: Record<string, string>; token?: string | null }): Promise<Response>;
}

/**
 * Starts a real Sluice (dev users, in-memory store unless `dataDir` is set) on a free loopback port. With
 * SLUICE_TEST_STORE=postgres (vitest's "postgres" project) the store is PostgreSQL instead: a schema of its own,
 * or, given a `dataDir`, the schema of that folder, so a restart finds what the last server left.
 */
export async function startSluice(
  overrides: Partial<Omit<Config, "limits">> & { limits?: Partial<Config["limits"]> } = {},
  clock?: Clock,
): Promise<TestSluice> {
  const base = loadConfig("dev", { memory: true, port: "0", host: "127.0.0.1" }, {});
  // On PostgreSQL a short lease: a server restarted after a simulated crash leads again within 2 s, not 10.
  const store = process.env.SLUICE_TEST_STORE === "postgres" && overrides.databaseUrl === undefined ? { databaseUrl: schemaUrl(overrides.dataDir), clusterLeaseMs: 2000 } : {};
  const config: Config = { ...base, logLevel: "silent", ...store, ...overrides, limits: { ...base.limits, ...overrides.limits } };
  const server = await startServer(config, clock);
  const token = (i = 0): string => tokenFor(config.users[i]);
  return Object.assign(server, {
    token,
    client: (i = 0) => new Client({ baseUrl: server.url, token: token(i) }),
    api: (method: string, path: string, init: { body?: string | Buffer; headers?: Record<string, string>; token?: string | null } = {}) =>
      fetch(server.url + path, {
        method,
        // A Buffer is sent as its bytes; the cast only bridges Node's Buffer typing and fetch's BodyInit.
        body: init.body as string | Uint8Array<ArrayBuffer> | undefined,
        headers: {
          ...(init.token === null ? {} : { Authorization: `Bearer ${init.token ?? token(0)}` }),
          ...init.headers,
        },
      }),
  });
}
