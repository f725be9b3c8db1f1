import pg from "pg";
import type { PgTarget } from "./database-url.js";

export type { PgTarget };

/** bigint columns (`*_ms`, counts, identities) come back as numbers: every value Sluice stores fits in 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * Driver settings for one role of connection (`application_name` names it in `pg_stat_activity`). The schema is
 * set as the connection's `search_path` at start-up, so every statement names tables bare; `settings` are more
 * server settings for this connection alone.
 */
export function clientConfig(target: PgTarget, role: string, settings: Record<string, string> = {}): pg.ClientConfig {
  const options = Object.entries({ search_path: target.schema, ...settings }).map(([name, value]) => `-c ${name}=${value}`);
  return {
    connectionString: target.connectionString,
    application_name: `sluice-${role}`,
    options: options.join(" "),
    types,
  };
}

/**
 * A connection error from the driver carries no SQLSTATE (the server never answered); it is given the class of
 * SQLSTATE 08 (connection exception) so it classifies as transient, like the server's own connection errors.
 */
export class PgConnectionLostError extends Error {
  readonly code = "08006";
  constructor(override readonly cause: unknown) {
    super(`the connection to PostgreSQL was lost: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = "PgConnectionLostError";
  }
}

/** Errors from the server have a SQLSTATE; anything else from a query means the connection itself failed. */
export function asStoreError(err: unknown, connectionBroken: boolean): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code.length === 5) return err;
  return connectionBroken || isConnectionMessage(err) ? new PgConnectionLostError(err) : err;
}

function isConnectionMessage(err: unknown): boolean {
  const m = (err as Error | null)?.message ?? "";
  return /Connection terminated|not queryable|ECONNRESET|ECONNREFUSED|EPIPE|socket hang up|Client was closed/i.test(m);
}
