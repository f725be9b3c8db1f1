import type { FastifyInstance } from "fastify";
import { tokenFor, type Config } from "./config.js";
import { Deliverer } from "./engine/deliverer.js";
import { EgressPolicy } from "./engine/egress.js";
import { Engine, systemClock, type Clock } from "./engine/engine.js";
import { KeyRing } from "./engine/keyring.js";
import { buildApp } from "./http/app.js";
import { SqliteStore } from "./store/sqlite/sqlite-store.js";

export interface RunningServer {
  url: string;
  port: number;
  app: FastifyInstance;
  engine: Engine;
  config: Config;
  close(): Promise<void>;
}

/** Opens the store, recovers interrupted work, and starts serving; resolves once the port is open. */
export async function startServer(config: Config, clock: Clock = systemClock): Promise<RunningServer> {
  const store = new SqliteStore({ dataDir: config.dataDir, synchronous: config.sqliteSynchronous });
  const keys = await KeyRing.load(store, config.users);
  const deliverer = new Deliverer({
    connectionsPerOrigin: config.connectionsPerOrigin,
    maxResponseBodyBytes: config.limits.maxResponseBodyBytes,
    egress: new EgressPolicy(config.egress),
  });
  const engine = new Engine(store, config, deliverer, keys, clock);
  const app = buildApp({ engine, config });
  engine.on("error", (err: unknown) => app.log.error({ err }, "engine error"));
  engine.on("storeError", throttledLog((err, suppressed) => app.log.warn({ err, suppressed }, "store write failed")));
  await engine.start();
  await app.listen({ host: config.host, port: config.port });
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : config.port;
  const shownHost = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  let closed = false;
  return {
    url: `http://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${port}`,
    port,
    app,
    engine,
    config,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await engine.stop(config.shutdownGraceMs);
      await deliverer.close();
      await store.close();
    },
  };
}

/** At most one line per `everyMs` for a fault that can repeat thousands of times a second (a full disk). */
function throttledLog(log: (err: unknown, suppressed: number) => void, everyMs = 10_000): (err: unknown) => void {
  let lastMs = -Infinity;
  let suppressed = 0;
  return (err) => {
    const now = Date.now();
    if (now - lastMs < everyMs) {
      suppressed++;
      return;
    }
    lastMs = now;
    log(err, suppressed);
    suppressed = 0;
  };
}

/** The banner printed at start: where Sluice listens and how to point the SDKs at it. */
export function banner(s: RunningServer): string {
  const lines = [`Sluice is running at ${s.url} (${s.config.mode} mode, ${s.config.dataDir ? `data in ${s.config.dataDir}` : "in memory"})`, ""];
  for (const u of s.config.users) {
    const keys = s.engine.keys.get(u.userId);
    lines.push(`  user ${u.userId}`);
    lines.push(`    QSTASH_URL=${s.url}`);
    lines.push(`    QSTASH_TOKEN=${tokenFor(u)}`);
    lines.push(`    QSTASH_CURRENT_SIGNING_KEY=${keys.current}`);
    lines.push(`    QSTASH_NEXT_SIGNING_KEY=${keys.next}`);
    if (s.config.mode === "dev") break;
  }
  return lines.join("\n");
}
