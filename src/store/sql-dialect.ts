/**
 * What differs between the SQL of the two stores where a statement is built from a filter: how a bound value
 * is named, how a value is matched against a list, how a label is looked up in a message's labels, and how a
 * field of a JSON column is read. Everything else the filter builders write is plain SQL both accept.
 */
export interface SqlDialect {
  /** The placeholder of the `n`th bound value (1-based); clauses are written with `?` and numbered by `Conditions`. */
  placeholder(n: number): string;
  /** `expr` equals one of `count` values, written with `?` for the values `anyOfValues` binds. */
  anyOf(expr: string, count: number): string;
  anyOfValues(values: readonly unknown[]): unknown[];
  /** The labels column `column` holds any of `count` labels, written with `?` for the values `labelValues` binds. */
  anyLabel(column: string, count: number): string;
  labelValues(labels: readonly string[]): unknown[];
  /** The text of the field at `path` in the JSON text column `column` (NULL when absent). */
  jsonText(column: string, path: readonly string[]): string;
}

const marks = (count: number): string => Array.from({ length: count }, () => "?").join(",");

/** SQLite: `?` placeholders, labels in a JSON array column. */
export const sqliteDialect: SqlDialect = {
  placeholder: () => "?",
  anyOf: (expr, count) => `${expr} IN (${marks(count)})`,
  anyOfValues: (values) => [...values],
  anyLabel: (column, count) => `EXISTS (SELECT 1 FROM json_each(${column}) WHERE value IN (${marks(count)}))`,
  labelValues: (labels) => [...labels],
  jsonText: (column, path) => `json_extract(${column}, '$.${path.join(".")}')`,
};

/**
 * PostgreSQL: numbered placeholders; a list is bound as one array, so a statement's text does not depend on how
 * many values a filter names (one prepared plan per combination of filters); labels in a `text[]` column.
 */
export const postgresDialect: SqlDialect = {
  placeholder: (n) => `$${n}`,
  anyOf: (expr) => `${expr} = ANY(?)`,
  anyOfValues: (values) => [values],
  anyLabel: (column) => `${column} && ?::text[]`,
  labelValues: (labels) => [labels],
  jsonText: (column, path) => `(${column}::jsonb #>> '{${path.join(",")}}')`,
};
