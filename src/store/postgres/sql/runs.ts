/** Statements on workflow runs and their entries. */

/** $1 user_id, $2 run_id */
export const GET_RUN = `SELECT * FROM wf_runs WHERE user_id = $1 AND run_id = $2`;

/** The run, locked until the commit ends, so a decision on its state holds while the commit writes. $1 user_id, $2 run_id */
export const LOCK_RUN = `SELECT * FROM wf_runs WHERE user_id = $1 AND run_id = $2 FOR UPDATE`;

/**
 * $1 user_id, $2 run_id, $3 url, $4 host, $5 path, $6 state, $7 created_ms, $8 completed_ms, $9 caller_ip,
 * $10 labels, $11 flow_key, $12 spec (JSON), $13 response
 */
export const INSERT_RUN = `INSERT INTO wf_runs (user_id, run_id, url, host, path, state, created_ms, completed_ms, caller_ip, labels,
  flow_key, spec, response) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`;

/** The column names of INSERT_RUN, in parameter order. */
export const INSERT_RUN_COLUMNS = [
  "user_id", "run_id", "url", "host", "path", "state", "created_ms", "completed_ms", "caller_ip", "labels", "flow_key", "spec", "response",
] as const;

/** $1 user_id, $2 run_id, $3 state, $4 completed_ms, $5 spec (JSON), $6 response */
export const UPDATE_RUN = `UPDATE wf_runs SET state = $3, completed_ms = $4, spec = $5, response = $6 WHERE user_id = $1 AND run_id = $2`;

/**
 * Appends entries numbered on from the run's last: $1 user_id, $2 run_id, $3 message_ids, $4 call_types,
 * $5 created_ms[], $6 bodies[] (in append order)
 */
export const APPEND_ENTRIES = `INSERT INTO wf_entries (user_id, run_id, seq, message_id, call_type, created_ms, body)
  SELECT $1, $2, last.seq + e.n, e.message_id, e.call_type, e.created_ms, e.body
  FROM (SELECT COALESCE(MAX(seq), -1) AS seq FROM wf_entries WHERE user_id = $1 AND run_id = $2) AS last,
    unnest($3::text[], $4::text[], $5::bigint[], $6::bytea[]) WITH ORDINALITY AS e(message_id, call_type, created_ms, body, n)`;

/** $1 user_id, $2 run_id, $3 after seq */
export const GET_ENTRIES = `SELECT * FROM wf_entries WHERE user_id = $1 AND run_id = $2 AND seq > $3 ORDER BY seq`;

/**
 * Removes an ended run whose id a new trigger takes (DECISIONS #21): its record, entries, waiters and kept events.
 * Its messages stay, with their logs, until retention. $1 user_id, $2 run_id
 */
export const DROP_ENDED_RUN = `WITH gone_entries AS (
    DELETE FROM wf_entries WHERE user_id = $1 AND run_id = $2
  ), gone_events AS (
    DELETE FROM wf_run_events WHERE user_id = $1 AND run_id = $2
  ), gone_waiters AS (
    DELETE FROM wf_waiters WHERE user_id = $1 AND run_id = $2
  )
  DELETE FROM wf_runs WHERE user_id = $1 AND run_id = $2`;
