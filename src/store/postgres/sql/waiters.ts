/** Statements on workflow waiters and the events kept for a run's lookback. */

/** $1 user_id, $2 event_id, $3 run_id, $4 created_ms, $5 deadline_ms, $6 spec (JSON) → the new id */
export const PUT_WAITER = `INSERT INTO wf_waiters (user_id, event_id, run_id, created_ms, deadline_ms, spec)
  VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`;

/** $1 user_id, $2 id → a row when it was there */
export const TAKE_WAITER = `DELETE FROM wf_waiters WHERE user_id = $1 AND id = $2 RETURNING id`;

/** $1 user_id, $2 run_id */
export const DROP_RUN_WAITERS = `DELETE FROM wf_waiters WHERE user_id = $1 AND run_id = $2`;

/** $1 user_id, $2 event_id */
export const EVENT_WAITERS = `SELECT * FROM wf_waiters WHERE user_id = $1 AND event_id = $2 ORDER BY id`;

/** $1 user_id, $2 event_id, $3 run_id */
export const EVENT_RUN_WAITERS = `SELECT * FROM wf_waiters WHERE user_id = $1 AND event_id = $2 AND run_id = $3 ORDER BY id`;

/** $1 user_id, $2 run_id */
export const RUN_WAITERS = `SELECT * FROM wf_waiters WHERE user_id = $1 AND run_id = $2 ORDER BY id`;

export const ALL_WAITERS = `SELECT * FROM wf_waiters ORDER BY deadline_ms`;

/** $1 before deadline_ms, $2 limit */
export const DUE_WAITERS = `SELECT * FROM wf_waiters WHERE deadline_ms < $1 ORDER BY deadline_ms, id LIMIT $2`;

/** $1 user_id, $2 run_id, $3 event_id, $4 created_ms, $5 data → the new id */
export const PUT_RUN_EVENT = `INSERT INTO wf_run_events (user_id, run_id, event_id, created_ms, data) VALUES ($1, $2, $3, $4, $5) RETURNING id`;

/** $1 user_id, $2 id → a row when it was there */
export const TAKE_RUN_EVENT = `DELETE FROM wf_run_events WHERE user_id = $1 AND id = $2 RETURNING id`;

/** $1 user_id, $2 run_id, $3 event_id → the oldest */
export const FIND_RUN_EVENT = `SELECT * FROM wf_run_events WHERE user_id = $1 AND run_id = $2 AND event_id = $3 ORDER BY id LIMIT 1`;

/** $1 user_id, $2 run_id */
export const COUNT_RUN_EVENTS = `SELECT count(*) AS n FROM wf_run_events WHERE user_id = $1 AND run_id = $2`;
