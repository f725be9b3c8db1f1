import { HttpError } from "../errors.js";

/**
 * What a failed commit means, whatever the backend:
 * - `full`: the disk (or a database size limit) has no room; nothing can be written until space returns.
 * - `transient`: the store was busy or its connection broke; the same write may well succeed a moment later.
 * - `rejected`: the write itself is bad (a constraint, a value the store refuses, a bug); retrying it is useless,
 *   and it must fail only its own caller.
 */
export type StoreFailure = "full" | "transient" | "rejected";

/** SQLite result codes (better-sqlite3 puts them on `err.code`) and PostgreSQL SQLSTATEs, by meaning. */
const FULL_CODES = new Set(["SQLITE_FULL", "ENOSPC", "53100" /* disk_full */]);
const TRANSIENT_PREFIXES = [
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_IOERR",
  "SQLITE_PROTOCOL",
  "40001" /* serialization_failure */,
  "40P01" /* deadlock_detected */,
  "57P01" /* admin_shutdown */,
  "57P02",
  "57P03",
  "08" /* connection exceptions */,
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
];

/**
 * The SQLSTATE a cluster store raises when an outcome's `owner` no longer holds the message (the node was declared
 * dead and its work taken over): the commit is refused for its content, so it is `rejected` and fails only its caller.
 */
export const FENCED_OUT_CODE = "SL001";

/** Whether a commit failed because this node's attempt was taken over by another node (see `owner` in store.ts). */
export function isFencedOut(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === FENCED_OUT_CODE;
}

/** Classifies an error thrown by `Store.commit`. */
export function classifyStoreError(err: unknown): StoreFailure {
  if (err instanceof StoreFullError) return "full";
  if (err instanceof StoreUnavailableError) return "transient";
  const code = String((err as { code?: unknown } | null)?.code ?? "");
  if (FULL_CODES.has(code)) return "full";
  if (code && TRANSIENT_PREFIXES.some((p) => code.startsWith(p))) return "transient";
  return "rejected";
}

/** A write refused because the store has no room: 507, so clients know to retry later and reads still work. */
export class StoreFullError extends HttpError {
  constructor(override readonly cause: unknown) {
    super(507, "the store is out of disk space: writes are refused until space is freed (reads keep working)");
    this.name = "StoreFullError";
  }
}

/** A write that failed on a busy or unreachable store after its retries: 503, safe to retry. */
export class StoreUnavailableError extends HttpError {
  constructor(override readonly cause: unknown) {
    super(503, `the store is unavailable, try again shortly: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = "StoreUnavailableError";
  }
}

/** The error a caller of a failed commit gets: full and transient failures become their HTTP answers. */
export function callerError(err: unknown): unknown {
  switch (classifyStoreError(err)) {
    case "full":
      return err instanceof StoreFullError ? err : new StoreFullError(err);
    case "transient":
      return err instanceof StoreUnavailableError ? err : new StoreUnavailableError(err);
    case "rejected":
      return err;
  }
}
