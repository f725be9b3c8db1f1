/** Where the PostgreSQL store lives: a connection string and the schema its tables are in. */
export interface PgTarget {
  /** The connection string without Sluice's own `schema` parameter. */
  connectionString: string;
  schema: string;
}

/** A schema name Sluice accepts: one plain identifier, so it can be written in SQL and in `search_path` as it is. */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Reads `postgres://…[?schema=name]`. The `schema` parameter is Sluice's (tables go there, created if missing;
 * default `public`); every other parameter is the driver's.
 */
export function parseDatabaseUrl(url: string): PgTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`database URL must look like postgres://user:password@host:5432/dbname, got "${redact(url)}"`);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new Error(`database URL must start with postgres:// or postgresql://, got "${redact(url)}"`);
  }
  const schema = parsed.searchParams.get("schema") ?? "public";
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(`database URL parameter schema must be a plain identifier (letters, digits, _; at most 63), got "${schema}"`);
  }
  parsed.searchParams.delete("schema");
  return { connectionString: parsed.toString(), schema };
}

/** The URL with its password hidden, for messages. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, "$1***@");
}
