import { QUEUE_FIELDS, queueConflictAction } from "../../queue-upsert.js";
import type { QueueField } from "../../store.js";

/** Statements on the settings tables: queues, flow-control keys and windows, URL groups, signing keys. */

/**
 * $1 user_id, $2 name, $3 parallelism, $4 paused, $5 created_ms, $6 updated_ms → rowCount 1 when written. A stored
 * queue takes only `fields` (queueConflictAction); none, it is left as it is (rowCount 0).
 */
export function putQueueSql(fields: readonly QueueField[] = QUEUE_FIELDS): string {
  const key = fields.join(",");
  let text = PUT_QUEUE_BY_FIELDS.get(key);
  if (!text) {
    text = `INSERT INTO queues (user_id, name, parallelism, paused, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT (user_id, name) ${queueConflictAction(fields)}`;
    PUT_QUEUE_BY_FIELDS.set(key, text);
  }
  return text;
}

/** One text per set of fields (at most four), so each is prepared once under its own name. */
const PUT_QUEUE_BY_FIELDS = new Map<string, string>();

/** $1 user_id, $2 name → a row when it existed */
export const DELETE_QUEUE = `DELETE FROM queues WHERE user_id = $1 AND name = $2 RETURNING name`;

export const LIST_QUEUES = `SELECT * FROM queues`;

/** $1 user_id, $2 name */
export const GET_QUEUE = `SELECT * FROM queues WHERE user_id = $1 AND name = $2`;

/** $1 user_id, $2 key, $3 settings (JSON) */
export const PUT_FLOW_SETTINGS = `INSERT INTO flow_keys (user_id, key, settings) VALUES ($1, $2, $3)
  ON CONFLICT (user_id, key) DO UPDATE SET settings = excluded.settings`;

export const LIST_FLOW_SETTINGS = `SELECT * FROM flow_keys`;

/** One row per window: $1 user_ids, $2 keys, $3 start_ms[], $4 counts[] (no key twice) */
export const PUT_FLOW_WINDOWS = `INSERT INTO flow_windows (user_id, key, start_ms, count)
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::integer[])
  ON CONFLICT (user_id, key) DO UPDATE SET start_ms = excluded.start_ms, count = excluded.count`;

/**
 * PUT_FLOW_WINDOWS in a cluster ($5 this node, $6 its leader epoch): written only while this node leads in that
 * epoch, as START_MESSAGE is fenced, so a leader that lost its lease cannot overwrite the windows its successor
 * counts in (rowCount 0). `FOR SHARE` makes a takeover wait for this commit.
 */
export const PUT_LEADER_FLOW_WINDOWS = `INSERT INTO flow_windows (user_id, key, start_ms, count)
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::integer[])
  WHERE EXISTS (SELECT 1 FROM sluice_leader WHERE id = 1 AND node_id = $5 AND epoch = $6 FOR SHARE)
  ON CONFLICT (user_id, key) DO UPDATE SET start_ms = excluded.start_ms, count = excluded.count`;

export const LIST_FLOW_WINDOWS = `SELECT * FROM flow_windows`;

/** $1 user_id, $2 name, $3 created_ms, $4 updated_ms, $5 endpoints (JSON), when no such group is stored → rowCount 1 when created */
export const CREATE_URL_GROUP = `INSERT INTO url_groups (user_id, name, created_ms, updated_ms, endpoints) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (user_id, name) DO NOTHING`;

/** $1 user_id, $2 name, $3 updated_ms, $4 endpoints (JSON), $5 the updated_ms read → rowCount 1 when it was still that version */
export const REPLACE_URL_GROUP = `UPDATE url_groups SET updated_ms = $3, endpoints = $4 WHERE user_id = $1 AND name = $2 AND updated_ms = $5`;

/** $1 user_id, $2 name → a row when it existed */
export const DELETE_URL_GROUP = `DELETE FROM url_groups WHERE user_id = $1 AND name = $2 RETURNING name`;

/** $1 user_id, $2 name, $3 the updated_ms read → a row when it existed in that version */
export const DELETE_URL_GROUP_VERSION = `DELETE FROM url_groups WHERE user_id = $1 AND name = $2 AND updated_ms = $3 RETURNING name`;

export const LIST_URL_GROUPS = `SELECT * FROM url_groups`;

/** $1 user_id, $2 name */
export const GET_URL_GROUP = `SELECT * FROM url_groups WHERE user_id = $1 AND name = $2`;

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
