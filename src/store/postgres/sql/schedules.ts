/** Statements on `schedules`. */

/**
 * Creates or replaces a schedule whole.
 * $1 id, $2 user_id, $3 cron, $4 destination, $5 headers (JSON), $6 body, $7 caller_ip, $8 paused, $9 created_ms,
 * $10 next_ms, $11 last_ms, $12 last_ids (JSON), $13 revision
 */
export const PUT_SCHEDULE = `INSERT INTO schedules (id, user_id, cron, destination, headers, body, caller_ip, paused, created_ms, next_ms, last_ms, last_ids, revision)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
  ON CONFLICT (user_id, id) DO UPDATE SET cron = excluded.cron, destination = excluded.destination, headers = excluded.headers,
    body = excluded.body, caller_ip = excluded.caller_ip, paused = excluded.paused, created_ms = excluded.created_ms,
    next_ms = excluded.next_ms, last_ms = excluded.last_ms, last_ids = excluded.last_ids, revision = excluded.revision`;

/** $1 user_id, $2 id → a row when it existed */
export const DELETE_SCHEDULE = `DELETE FROM schedules WHERE user_id = $1 AND id = $2 RETURNING id`;

/**
 * One tick, only while the schedule still expects it, in the version it was built from, and is not paused.
 * $1 next_ms, $2 fired_ms, $3 message ids (JSON), $4 user_id, $5 id, $6 expected next_ms, $7 expected revision
 * → a row when it fired
 */
export const FIRE_SCHEDULE = `UPDATE schedules SET next_ms = $1, last_ms = $2, last_ids = $3
  WHERE user_id = $4 AND id = $5 AND next_ms = $6 AND revision = $7 AND NOT paused RETURNING id`;

export const LIST_SCHEDULES = `SELECT * FROM schedules`;

/** $1 user_id, $2 id */
export const GET_SCHEDULE = `SELECT * FROM schedules WHERE user_id = $1 AND id = $2`;

/** $1 user_id, $2 created_ms at least (the primary key's prefix narrows it to the user's schedules) */
export const LIST_RECENT_SCHEDULES = `SELECT * FROM schedules WHERE user_id = $1 AND created_ms >= $2`;
