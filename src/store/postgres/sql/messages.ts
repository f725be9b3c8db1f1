/**
 * Statements on `messages`, `bodies` and `dedup`. Each names its parameters in its header; lists are bound as
 * arrays. A message is always read with its body: its own, or the shared one its fan-out keeps in `bodies`.
 */

/** The columns of a message as read, `m` joined with its shared body `b`. */
export const MESSAGE_COLUMNS = `m.id, m.user_id, m.state, m.due_ms, m.retried, m.created_ms, m.finished_ms, m.url, m.topic_name,
  m.endpoint_name, m.queue_name, m.schedule_id, m.caller_ip, m.labels, m.spec, COALESCE(m.body, b.body) AS body, m.node_id`;
export const MESSAGES_WITH_BODIES = `messages m LEFT JOIN bodies b ON b.id = m.body_id`;

/**
 * $1 id, $2 user_id, $3 state, $4 due_ms, $5 retried, $6 created_ms, $7 finished_ms, $8 url, $9 host, $10 path,
 * $11 topic_name, $12 endpoint_name, $13 queue_name, $14 schedule_id, $15 flow_key, $16 caller_ip, $17 labels,
 * $18 spec, $19 body (NULL when shared), $20 body_id, $21 source_id, $22 run_id, $23 node_id (the node an active one
 * is in flight on)
 */
export const INSERT_MESSAGE = `INSERT INTO messages (id, user_id, state, due_ms, retried, created_ms, finished_ms, url, host, path,
  topic_name, endpoint_name, queue_name, schedule_id, flow_key, caller_ip, labels, spec, body, body_id, source_id, run_id, node_id)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`;

/** The column names of INSERT_MESSAGE, in parameter order. */
export const INSERT_MESSAGE_COLUMNS = [
  "id", "user_id", "state", "due_ms", "retried", "created_ms", "finished_ms", "url", "host", "path", "topic_name",
  "endpoint_name", "queue_name", "schedule_id", "flow_key", "caller_ip", "labels", "spec", "body", "body_id", "source_id", "run_id",
  "node_id",
] as const;

/** Writes the events of message $5 only if the update named `moved` happened: $7 user_ids … $11 response_bodies[]. */
const EVENTS_IF_MOVED = `logged AS (
    INSERT INTO events (user_id, message_id, time_ms, state, detail, response_body)
    SELECT e.user_id, $5, e.time_ms, e.state, e.detail, e.response_body
    FROM unnest($7::text[], $8::bigint[], $9::text[], $10::text[], $11::bytea[]) AS e(user_id, time_ms, state, detail, response_body)
    WHERE EXISTS (SELECT 1 FROM moved)
  )`;

/**
 * The fence: moves message $5 to $1 only if it is in $6, and writes its events only if it moved.
 * $1 state, $2 retried, $3 due_ms, $4 finished_ms, $5 id, $6 expected state,
 * events of message $5: $7 user_ids, $8 time_ms[], $9 states[], $10 details[], $11 response_bodies[]
 * → one row: `moved` (0 or 1)
 */
export const UPDATE_MESSAGE = `WITH moved AS (
    UPDATE messages SET state = $1, retried = $2, due_ms = $3, finished_ms = $4, node_id = NULL WHERE id = $5 AND state = $6 RETURNING id
  ), ${EVENTS_IF_MOVED}
  SELECT count(*)::integer AS moved FROM moved`;

/**
 * A queue message `m` starts only if no older message of its queue, due by then, is still pending: one the leader
 * has not read yet (its news missed, or still on its way) would otherwise start after it. Refused, the leader reads
 * the store again and starts them in order.
 */
const QUEUE_TURN = `(m.queue_name IS NULL OR NOT EXISTS (SELECT 1 FROM messages o WHERE o.user_id = m.user_id
  AND o.queue_name = m.queue_name AND o.state = 'pending' AND o.id < m.id AND o.due_ms <= m.due_ms))`;

/**
 * The start of an attempt by the leader (UPDATE_MESSAGE's parameters, and $12 this node, $13 its leader epoch):
 * applied only while this node holds the leadership of that epoch. `FOR SHARE` makes a takeover wait for this
 * commit, and every start committed after a takeover find the epoch moved on.
 */
export const START_MESSAGE = `WITH moved AS (
    UPDATE messages m SET state = $1, retried = $2, due_ms = $3, finished_ms = $4, node_id = $12
    WHERE m.id = $5 AND m.state = $6
      AND EXISTS (SELECT 1 FROM sluice_leader WHERE id = 1 AND node_id = $12 AND epoch = $13 FOR SHARE)
      AND ${QUEUE_TURN}
    RETURNING m.id
  ), ${EVENTS_IF_MOVED}
  SELECT count(*)::integer AS moved FROM moved`;

/**
 * An attempt's outcome (UPDATE_MESSAGE's parameters, and $12 the node that ran it): when the message is no longer
 * in flight on that node (another node retried it after this one was declared dead), the statement raises
 * SL001 and the whole commit is refused. When a cancel was asked for it on another node and the outcome is neither
 * a delivery nor the cancel, it raises SL002: the attempt's node writes the outcome again as a cancel.
 */
export const FINISH_MESSAGE = `WITH moved AS (
    UPDATE messages SET state = $1, retried = $2, due_ms = $3, finished_ms = $4, node_id = NULL, cancel_requested = false
    WHERE id = $5 AND state = $6 AND node_id IS NOT DISTINCT FROM $12 AND NOT (cancel_requested AND $1 NOT IN ('delivered', 'cancelled'))
    RETURNING id
  ), ${EVENTS_IF_MOVED}
  SELECT CASE WHEN EXISTS (SELECT 1 FROM moved) THEN 1
    WHEN EXISTS (SELECT 1 FROM messages WHERE id = $5 AND state = $6 AND node_id IS NOT DISTINCT FROM $12) THEN sluice_cancel_asked($5)
    ELSE sluice_fenced_out($5) END AS moved`;

/**
 * A cancel asked for an attempt in flight: flags message $1 of user $2 if it is active, with events $3 time_ms[],
 * $4 states[] only then. → one row: `flagged` (0 or 1)
 */
export const REQUEST_CANCEL = `WITH flagged AS (
    UPDATE messages SET cancel_requested = true WHERE id = $1 AND user_id = $2 AND state = 'active' RETURNING id
  ), logged AS (
    INSERT INTO events (user_id, message_id, time_ms, state)
    SELECT $2, $1, e.time_ms, e.state FROM unnest($3::bigint[], $4::text[]) AS e(time_ms, state)
    WHERE EXISTS (SELECT 1 FROM flagged)
  )
  SELECT count(*)::integer AS flagged FROM flagged`;

/** $1 ids → those whose attempt in flight has a cancel asked */
export const CANCELS_REQUESTED = `SELECT id FROM messages WHERE id = ANY($1::text[]) AND state = 'active' AND cancel_requested`;

/** Events, in order: $1 user_ids, $2 message_ids, $3 time_ms[], $4 states[], $5 details[], $6 response_bodies[] */
export const INSERT_EVENTS = `INSERT INTO events (user_id, message_id, time_ms, state, detail, response_body)
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bytea[])`;

/** A shared body, kept as first written: $1 id, $2 body */
export const PUT_BODY = `INSERT INTO bodies (id, body) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`;

/**
 * Takes a deduplication key for a message unless it is held by an earlier one whose window is still open.
 * $1 user_id, $2 dedup_key (UTF-8 bytes), $3 message_id, $4 expires_ms, $5 the new message's created_ms → a row when taken
 */
export const CLAIM_DEDUP = `INSERT INTO dedup (user_id, dedup_key, message_id, expires_ms) VALUES ($1, $2, $3, $4)
  ON CONFLICT (user_id, dedup_key) DO UPDATE SET message_id = excluded.message_id, expires_ms = excluded.expires_ms
  WHERE dedup.expires_ms <= $5
  RETURNING message_id`;

/** $1 user_id, $2 dedup_key (UTF-8 bytes) → the message holding the key */
export const GET_DEDUP = `SELECT message_id FROM dedup WHERE user_id = $1 AND dedup_key = $2`;

/** $1 user_id, $2 id */
export const GET_MESSAGE = `SELECT ${MESSAGE_COLUMNS} FROM ${MESSAGES_WITH_BODIES} WHERE m.user_id = $1 AND m.id = $2`;

/** $1 ids → the messages found, in the order of $1 */
export const GET_MESSAGES_BY_ID = `SELECT ${MESSAGE_COLUMNS} FROM unnest($1::text[]) WITH ORDINALITY AS wanted(id, n)
  JOIN messages m ON m.id = wanted.id LEFT JOIN bodies b ON b.id = m.body_id ORDER BY wanted.n`;

/** $1 after due_ms, $2 after id, $3 before due_ms, $4 limit */
export const LIST_DUE = `SELECT id, due_ms FROM messages
  WHERE state = 'pending' AND (due_ms > $1 OR (due_ms = $1 AND id > $2)) AND due_ms < $3 ORDER BY due_ms, id LIMIT $4`;

/** Active messages whose node is gone: none recorded, or its lease has passed (database clock). */
export const LIST_ACTIVE = `SELECT ${MESSAGE_COLUMNS} FROM ${MESSAGES_WITH_BODIES} WHERE m.state = 'active'
  AND (m.node_id IS NULL OR NOT EXISTS (SELECT 1 FROM sluice_node n WHERE n.node_id = m.node_id AND n.lease_until > now()))`;

/** $1 ids */
export const MESSAGE_STATES = `SELECT id, state FROM messages WHERE id = ANY($1::text[])`;

/** $1 user_id, $2 queue_name */
export const QUEUE_LAG = `SELECT count(*) AS n FROM messages WHERE user_id = $1 AND queue_name = $2 AND state IN ('pending', 'active')`;

/** $1 user_id */
export const COUNT_ACTIVE = `SELECT count(*)::integer AS n FROM messages WHERE user_id = $1 AND state = 'active'`;

/** $1 user_id, $2 flow_key */
export const COUNT_ACTIVE_OF_KEY = `SELECT count(*)::integer AS n FROM messages WHERE user_id = $1 AND flow_key = $2 AND state = 'active'`;

/** $1 user_id, $2 flow_key, $3 now_ms */
export const COUNT_WAITING = `SELECT count(*) AS n FROM messages WHERE user_id = $1 AND flow_key = $2 AND state = 'pending' AND due_ms <= $3`;

/** $1 user_id, $2 search (strpos(x, '') is 1: "" matches every key), $3 now_ms, $4 limit */
export const FLOW_KEYS_IN_USE = `SELECT DISTINCT flow_key FROM messages WHERE user_id = $1 AND flow_key IS NOT NULL AND strpos(flow_key, $2) > 0
  AND (state = 'active' OR (state = 'pending' AND due_ms <= $3)) ORDER BY flow_key LIMIT $4`;

/** Queue messages past their first attempt and unfinished. */
export const QUEUE_HOLDERS_STARTED = `SELECT id, user_id, queue_name FROM messages
  WHERE queue_name IS NOT NULL AND state IN ('pending', 'active') AND (retried > 0 OR state = 'active')`;

/** Queue messages whose callbacks are unfinished, with how many. */
export const QUEUE_HOLDERS_CALLBACKS = `SELECT s.id, s.user_id, s.queue_name, count(*) AS n
  FROM messages c JOIN messages s ON s.id = c.source_id
  WHERE c.source_id IS NOT NULL AND c.state IN ('pending', 'active') AND s.queue_name IS NOT NULL GROUP BY s.id`;

/** $1 user_id, $2 run_id → the run's messages, oldest (by id) first */
export const RUN_MESSAGES = `SELECT ${MESSAGE_COLUMNS} FROM ${MESSAGES_WITH_BODIES} WHERE m.user_id = $1 AND m.run_id = $2 ORDER BY m.id`;

/** $1 message ids → their events, in log order */
export const EVENTS_OF_MESSAGES = `SELECT message_id, time_ms, state, detail, response_body FROM events
  WHERE message_id = ANY($1::text[]) ORDER BY seq`;

/** $1 now_ms → the totals of the metrics gauges, in one round trip */
export const COUNT_FOR_METRICS = `SELECT
  (SELECT count(*) FROM messages WHERE state = 'pending') AS pending,
  (SELECT count(*) FROM messages WHERE state = 'pending' AND due_ms <= $1) AS due,
  (SELECT count(*) FROM dlq) AS dlq,
  (SELECT count(*) FROM schedules) AS schedules,
  (SELECT count(*) FROM wf_runs WHERE state = 'RUN_STARTED') AS active_runs`;
