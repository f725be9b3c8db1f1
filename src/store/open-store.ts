import type { Config } from "../config.js";
import type { Store } from "./store.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";

/**
 * The store a configuration names: PostgreSQL when it has a database URL, else SQLite in the data folder (or in
 * memory). The PostgreSQL driver is loaded only then, so the SQLite default starts as it always did.
 */
export async function openStore(config: Pick<Config, "databaseUrl" | "dataDir" | "sqliteSynchronous">): Promise<Store> {
  if (config.databaseUrl !== undefined) {
    const { PgStore } = await import("./postgres/pg-store.js");
    return PgStore.open(config.databaseUrl);
  }
  return new SqliteStore({ dataDir: config.dataDir, synchronous: config.sqliteSynchronous });
}
