/**
 * The hot writes of one group commit merged per kind into one statement each: every parameter is an array with one
 * element per op (or per event), unnested server-side. A commit of a hundred publishes, starts or outcomes is then a
 * handful of statements instead of a few hundred, which is most of what a commit costs on both sides of the wire.
 * CommitWave decides which ops may share a statement (never two on one message id).
 */

/** A message row as bound: the column and the array type of its parameter, in parameter order. */
const INSERT_COLUMNS = [
  ["id", "text"], ["user_id", "text"], ["state", "text"], ["due_ms", "bigint"], ["retried", "integer"], ["created_ms", "bigint"],
  ["finished_ms", "bigint"], ["url", "text"], ["host", "text"], ["path", "text"], ["topic_name", "text"], ["endpoint_name", "text"],
  ["queue_name", "text"], ["schedule_id", "text"], ["flow_key", "text"], ["caller_ip", "text"], ["labels", "text"], ["spec", "text"],
  ["body", "bytea"], ["body_id", "text"], ["source_id", "text"], ["run_id", "text"], ["node_id", "text"],
] as const;

/** The message columns INSERT_MESSAGES binds, one array each, in parameter order ($1 …). */
export const INSERT_MESSAGES_COLUMNS = INSERT_COLUMNS.map(([name]) => name);

/**
 * Messages, in array order. `labels` is bound as one JSON array text per message (NULL for none), since a text[] per
 * row cannot be one element of an array parameter.
 */
export const INSERT_MESSAGES = `INSERT INTO messages (${INSERT_MESSAGES_COLUMNS.join(", ")})
  SELECT ${INSERT_MESSAGES_COLUMNS.map((c) => (c === "labels" ? "CASE WHEN w.labels IS NULL THEN '{}'::text[] ELSE ARRAY(SELECT jsonb_array_elements_text(w.labels::jsonb)) END" : `w.${c}`)).join(", ")}
  FROM unnest(${INSERT_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(", ")}) AS w(${INSERT_MESSAGES_COLUMNS.join(", ")})`;

/** DLQ entries, in array order: $1 dlq_ids, $2 user_ids, $3 message_ids, $4 created_ms[], $5 statuses, $6 details, $7 bodies */
export const INSERT_DLQ_ENTRIES = `INSERT INTO dlq (dlq_id, user_id, message_id, created_ms, response_status, detail, response_body)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::integer[], $6::text[], $7::bytea[])`;

/**
 * How a fenced move of a message is applied, the same three ways as UPDATE_MESSAGE, START_MESSAGE and FINISH_MESSAGE
 * (sql/messages.ts) for one op.
 */
export type MoveKind = "plain" | "start" | "finish";

/**
 * Fenced moves of distinct messages, each of its kind, with every event of the wave: each moves only from its
 * expected state; an event that belongs to a move is written only if that move happened; all events are written
 * in the order given, so the log's order is the ops' order. Parameters:
 * $1 ids, $2 kinds, $3 states, $4 retried[], $5 due_ms[], $6 finished_ms[], $7 expected states, $8 owners (finish:
 * the node that ran the attempt; NULL otherwise);
 * events: $9 the move each belongs to (1-based; NULL: written in any case), $10 user_ids, $11 message_ids,
 * $12 time_ms[], $13 states, $14 details, $15 response_bodies;
 * $16 this node, $17 its leader epoch (starts only: -1, no epoch, never matches).
 * → one row per move, in order: `moved` (0 or 1). An outcome that did not move raises SL001 instead (SL002 when a
 * cancel was asked for it, see FINISH_MESSAGE).
 */
export const MOVE_MESSAGES = `WITH w AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::bigint[], $6::bigint[], $7::text[], $8::text[])
      WITH ORDINALITY AS w(id, kind, state, retried, due_ms, finished_ms, expect_state, owner, n)
  ), moved AS (
    UPDATE messages m SET state = w.state, retried = w.retried, due_ms = w.due_ms, finished_ms = w.finished_ms,
      node_id = CASE WHEN w.kind = 'start' THEN $16::text END,
      cancel_requested = CASE WHEN w.kind = 'finish' THEN false ELSE m.cancel_requested END
    FROM w WHERE m.id = w.id AND m.state = w.expect_state
      -- Only the leader starts attempts; the leadership row is locked (FOR SHARE) once, and only if a start asks.
      AND (w.kind <> 'start' OR EXISTS (SELECT 1 FROM sluice_leader WHERE id = 1 AND node_id = $16::text AND epoch = $17::bigint FOR SHARE))
      -- A queue's turn (QUEUE_TURN in sql/messages.ts), not counting the older ones this wave starts too.
      AND (w.kind <> 'start' OR m.queue_name IS NULL OR NOT EXISTS (SELECT 1 FROM messages o WHERE o.user_id = m.user_id
        AND o.queue_name = m.queue_name AND o.state = 'pending' AND o.id < m.id AND o.due_ms <= m.due_ms
        AND NOT EXISTS (SELECT 1 FROM w s WHERE s.id = o.id AND s.kind = 'start')))
      -- A cancel asked elsewhere turns an outcome other than a delivery into a cancel (SL002, below).
      AND (w.kind <> 'finish' OR (m.node_id IS NOT DISTINCT FROM w.owner AND NOT (m.cancel_requested AND w.state NOT IN ('delivered', 'cancelled'))))
    RETURNING w.n
  ), logged AS (
    INSERT INTO events (user_id, message_id, time_ms, state, detail, response_body)
    SELECT e.user_id, e.message_id, e.time_ms, e.state, e.detail, e.response_body
    FROM unnest($9::integer[], $10::text[], $11::text[], $12::bigint[], $13::text[], $14::text[], $15::bytea[])
      WITH ORDINALITY AS e(move, user_id, message_id, time_ms, state, detail, response_body, k)
    -- A hashed subplan: one lookup per event, however large the wave.
    WHERE e.move IS NULL OR e.move IN (SELECT n FROM moved)
    ORDER BY e.k
  )
  -- Evaluated after the sort, so the first outcome (in op order) that lost its message is the one named.
  SELECT CASE WHEN moved.n IS NOT NULL THEN 1
    WHEN w.kind = 'finish' AND EXISTS (SELECT 1 FROM messages c WHERE c.id = w.id AND c.state = w.expect_state AND c.node_id IS NOT DISTINCT FROM w.owner)
      THEN sluice_cancel_asked(w.id)
    WHEN w.kind = 'finish' THEN sluice_fenced_out(w.id) ELSE 0 END AS moved
  FROM w LEFT JOIN moved ON moved.n = w.n ORDER BY w.n`;
