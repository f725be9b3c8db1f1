import type { FastifyInstance } from "fastify";
import { DEV_USERS, loadConfig, tokenFor, type Config } from "../../src/config.js";
import { systemClock } from "../../src/engine/clock.js";
import { Deliverer } from "../../src/engine/deliverer.js";
import { EgressPolicy } from "../../src/engine/egress.js";
import { Engine } from "../../src/engine/engine.js";
import { KeyRing } from "../../src/engine/keyring.js";
import type { Scheduler } from "../../src/engine/scheduler.js";
import { buildApp } from "../../src/http/app.js";
import { buildServices } from "../../src/server.js";
import { openStore } from "../../src/store/open-store.js";
import type { Store } from "../../src/store/store.js";
import type { Waits } from "../../src/workflow/waiters.js";

/**
 * A second node on a store another server uses: the whole HTTP API, served by a real engine that is never
 * started (no due loader, no scheduler or deadline timers, no maintenance), as a node that is not the leader.
 * It loads its caches once before serving, as such a node does, and then only what its own API calls change.
 */
export interface IdleNode {
  url: string;
  config: Config;
  store: Store;
  engine: Engine;
  scheduler: Scheduler;
  waits: Waits;
  /** Raw fetch against this node's API with the first dev user's token. */
  api(method: string, path: string, body?: unknown): Promise<Response>;
  close(): Promise<void>;
}

export async function startIdleNode(databaseUrl: string): Promise<IdleNode> {
  const base = loadConfig("dev", { memory: true, port: "0", host: "127.0.0.1" }, {});
  const config: Config = { ...base, logLevel: "silent", databaseUrl };
  const store = await openStore(config);
  const deliverer = new Deliverer({
    connectionsPerOrigin: config.connectionsPerOrigin,
    maxResponseBodyBytes: config.limits.maxResponseBodyBytes,
    egress: new EgressPolicy(config.egress),
  });
  const engine = new Engine(store, config, deliverer, await KeyRing.load(store, config.users), systemClock);
  const services = buildServices(engine, store, config, systemClock);
  const app: FastifyInstance = buildApp({ engine, reads: store, ...services, config, readiness: () => ({ ready: true, leader: false }) });
  await Promise.all([engine.settings.reload(), engine.urlGroups.reload(), services.scheduler.reload()]);
  await app.listen({ host: "127.0.0.1", port: 0 });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  const token = tokenFor(DEV_USERS[0]);
  return {
    url,
    config,
    store,
    engine,
    scheduler: services.scheduler,
    waits: services.waits,
    api: (method, path, body) =>
      fetch(url + path, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    async close() {
      app.server.closeAllConnections();
      await app.close();
      await engine.committer.idle();
      await deliverer.close();
      await store.close();
    },
  };
}
