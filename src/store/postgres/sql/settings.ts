/** Statements on the settings tables: queues, flow-control keys and windows, URL groups, signing keys. */

/** $1 user_id, $2 name, $3 parallelism, $4 paused, $5 created_ms, $6 updated_ms; an existing queue keeps its created_ms */
export const PUT_QUEUE = `INSERT INTO queues (user_id, name, parallelism, paused, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT (user_id, name) DO UPDATE SET parallelism = excluded.parallelism, paused = excluded.paused, updated_ms = excluded.updated_ms`;

/** $1 user_id, $2 name → a row when it existed */
export const DELETE_QUEUE = `DELETE FROM queues WHERE user_id = $1 AND name = $2 RETURNING name`;

export const LIST_QUEUES = `SELECT * FROM queues`;

/** $1 user_id, $2 key, $3 settings (JSON) */
export const PUT_FLOW_SETTINGS = `INSERT INTO flow_keys (user_id, key, settings) VALUES ($1, $2, $3)
  ON CONFLICT (user_id, key) DO UPDATE SET settings = excluded.settings`;

export const LIST_FLOW_SETTINGS = `SELECT * FROM flow_keys`;

/** One row per window: $1 user_ids, $2 keys, $3 start_ms[], $4 counts[] (no key twice) */
export const PUT_FLOW_WINDOWS = `INSERT INTO flow_windows (user_id, key, start_ms, count)
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::integer[])
  ON CONFLICT (user_id, key) DO UPDATE SET start_ms = excluded.start_ms, count = excluded.count`;

export const LIST_FLOW_WINDOWS = `SELECT * FROM flow_windows`;

/** $1 user_id, $2 name, $3 created_ms, $4 updated_ms, $5 endpoints (JSON); an existing group keeps its created_ms */
export const PUT_URL_GROUP = `INSERT INTO url_groups (user_id, name, created_ms, updated_ms, endpoints) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (user_id, name) DO UPDATE SET updated_ms = excluded.updated_ms, endpoints = excluded.endpoints`;

/** $1 user_id, $2 name → a row when it existed */
export const DELETE_URL_GROUP = `DELETE FROM url_groups WHERE user_id = $1 AND name = $2 RETURNING name`;

export const LIST_URL_GROUPS = `SELECT * FROM url_groups`;

/** $1 user_id */
export const GET_SIGNING_KEYS = `SELECT current_key, next_key FROM signing_keys WHERE user_id = $1`;

/**
 * $1 user_id, $2 current_key, $3 next_key → a row when they were stored. Without one the user had keys, read in a
 * statement of its own: this one's snapshot may predate the insert it waited for.
 */
export const INSERT_SIGNING_KEYS = `INSERT INTO signing_keys (user_id, current_key, next_key) VALUES ($1, $2, $3)
  ON CONFLICT (user_id) DO NOTHING RETURNING current_key, next_key`;

/**
 * $1 user_id, $2 expected current_key, $3 expected next_key, $4 current_key, $5 next_key, $6 news channel (NULL
 * outside a cluster), $7 news payload → a row when replaced. The news goes out with the replacement (atomic with
 * it, on commit), as a commit's does: a rotation is not a commit, but the other nodes must sign with the new key.
 */
export const REPLACE_SIGNING_KEYS = `WITH replaced AS (
    UPDATE signing_keys SET current_key = $4, next_key = $5 WHERE user_id = $1 AND current_key = $2 AND next_key = $3 RETURNING user_id
  )
  SELECT user_id, CASE WHEN $6::text IS NULL THEN NULL ELSE pg_notify($6::text, $7::text) END AS notified FROM replaced`;
