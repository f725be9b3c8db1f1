/** Retention: what `Store.purge` deletes, in one transaction. */

/**
 * Finished messages older than $1 (at most $2) with their events and DLQ entries
 * → `n` removed, `body_ids` the shared bodies they named
 */
export const PURGE_MESSAGES = `WITH doomed AS (
    SELECT id FROM messages WHERE finished_ms IS NOT NULL AND finished_ms < $1 LIMIT $2
  ), gone_events AS (
    DELETE FROM events WHERE message_id IN (SELECT id FROM doomed)
  ), gone_dlq AS (
    DELETE FROM dlq WHERE message_id IN (SELECT id FROM doomed)
  ), gone AS (
    DELETE FROM messages WHERE id IN (SELECT id FROM doomed) RETURNING body_id
  )
  SELECT count(*)::integer AS n, COALESCE(array_agg(DISTINCT body_id) FILTER (WHERE body_id IS NOT NULL), '{}') AS body_ids FROM gone`;

/** Shared bodies among $1 that no message names any more (the rest of their fan-out may be unfinished). */
export const DROP_UNUSED_BODIES = `DELETE FROM bodies b WHERE b.id = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.body_id = b.id)`;

/** Deduplication keys expired before $1. */
export const PURGE_DEDUP = `DELETE FROM dedup WHERE expires_ms < $1`;

/** Rate windows opened before $1 (periods are at most a week: an older window cannot limit anything). */
export const PURGE_FLOW_WINDOWS = `DELETE FROM flow_windows WHERE start_ms < $1`;

/** Finished runs older than $1 (at most $2) with their entries and kept events → `n` removed */
export const PURGE_RUNS = `WITH doomed AS (
    SELECT user_id, run_id FROM wf_runs WHERE completed_ms IS NOT NULL AND completed_ms < $1 LIMIT $2
  ), gone_entries AS (
    DELETE FROM wf_entries e USING doomed d WHERE e.user_id = d.user_id AND e.run_id = d.run_id
  ), gone_events AS (
    DELETE FROM wf_run_events e USING doomed d WHERE e.user_id = d.user_id AND e.run_id = d.run_id
  ), gone AS (
    DELETE FROM wf_runs r USING doomed d WHERE r.user_id = d.user_id AND r.run_id = d.run_id RETURNING r.run_id
  )
  SELECT count(*)::integer AS n FROM gone`;
