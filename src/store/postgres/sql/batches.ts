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
 * Fenced moves of distinct messages: each moves only from its expected state, and its events are written only when
 * it moved, in the order given. Parameters:
 * $1 ids, $2 states, $3 retried[], $4 due_ms[], $5 finished_ms[], $6 expected states, $7 owners (finish: the node
 * that ran the attempt; unused otherwise),
 * events of all the moves, in order: $8 the move each belongs to (1-based), $9 user_ids, $10 time_ms[], $11 states,
 * $12 details, $13 response_bodies;
 * start: $14 this node, $15 its leader epoch.
 * → one row per move, in order: `moved` (0 or 1). An outcome that did not move raises SL001 instead.
 */
function moveMessages(kind: MoveKind): string {
  const set = {
    plain: "node_id = NULL",
    start: "node_id = $14",
    finish: "node_id = NULL, cancel_requested = false",
  }[kind];
  const fence = {
    plain: "",
    // Only the leader starts attempts; -1 (no epoch) never matches. Locked once for the statement, as for one op.
    start: "AND EXISTS (SELECT 1 FROM sluice_leader WHERE id = 1 AND node_id = $14 AND epoch = $15 FOR SHARE)",
    finish: "AND m.node_id IS NOT DISTINCT FROM w.owner",
  }[kind];
  // Evaluated after the sort, so the first outcome (in op order) that lost its message is the one named.
  const answer = kind === "finish" ? "CASE WHEN moved.n IS NOT NULL THEN 1 ELSE sluice_fenced_out(w.id) END" : "(moved.n IS NOT NULL)::integer";
  return `WITH w AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::bigint[], $5::bigint[], $6::text[], $7::text[])
      WITH ORDINALITY AS w(id, state, retried, due_ms, finished_ms, expect_state, owner, n)
  ), moved AS (
    UPDATE messages m SET state = w.state, retried = w.retried, due_ms = w.due_ms, finished_ms = w.finished_ms, ${set}
    FROM w WHERE m.id = w.id AND m.state = w.expect_state ${fence}
    RETURNING w.n, w.id
  ), logged AS (
    INSERT INTO events (user_id, message_id, time_ms, state, detail, response_body)
    SELECT e.user_id, moved.id, e.time_ms, e.state, e.detail, e.response_body
    FROM unnest($8::integer[], $9::text[], $10::bigint[], $11::text[], $12::text[], $13::bytea[])
      WITH ORDINALITY AS e(move, user_id, time_ms, state, detail, response_body, k)
    JOIN moved ON moved.n = e.move
    ORDER BY e.k
  )
  SELECT ${answer} AS moved FROM w LEFT JOIN moved ON moved.n = w.n ORDER BY w.n`;
}

/** The three statements of moveMessages, built once (a statement is prepared once per text). */
export const MOVE_MESSAGES: Record<MoveKind, string> = { plain: moveMessages("plain"), start: moveMessages("start"), finish: moveMessages("finish") };
