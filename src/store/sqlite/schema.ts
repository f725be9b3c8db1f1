/**
 * Schema migrations for the embedded store, applied in order; `user_version` records the last one applied.
 *
 * Why the shape is what it is:
 * - Times are epoch milliseconds in `*_ms` integer columns: SQLite has no clock of its own we want to trust,
 *   and the engine passes `now` in.
 * - Columns exist only for what is filtered or indexed; the rest of a message lives in `spec` (JSON) and
 *   `body` (BLOB) and is written once; a body shared by a fan-out's messages lives once in `bodies`.
 * - Finished messages stay (with their events) until retention removes them, so logs and the DLQ can show
 *   the message they describe without copying it into every event row.
 */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE messages (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    state         TEXT NOT NULL,
    due_ms        INTEGER NOT NULL,
    retried       INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL,
    finished_ms   INTEGER,
    url           TEXT NOT NULL,
    host          TEXT NOT NULL,
    path          TEXT NOT NULL,
    topic_name    TEXT,
    endpoint_name TEXT,
    queue_name    TEXT,
    schedule_id   TEXT,
    flow_key      TEXT,
    caller_ip     TEXT,
    labels        TEXT NOT NULL DEFAULT '[]',
    spec          TEXT NOT NULL,
    body          BLOB
  ) STRICT;
  CREATE INDEX messages_pending_due ON messages (due_ms, id) WHERE state = 'pending';
  CREATE INDEX messages_active ON messages (id) WHERE state = 'active';
  CREATE INDEX messages_user_created ON messages (user_id, created_ms);
  CREATE INDEX messages_finished ON messages (finished_ms) WHERE finished_ms IS NOT NULL;

  CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    time_ms     INTEGER NOT NULL,
    state       TEXT NOT NULL,
    detail      TEXT,
    response_body BLOB
  ) STRICT;
  CREATE INDEX events_user_seq ON events (user_id, seq);
  CREATE INDEX events_message ON events (message_id);

  CREATE TABLE dlq (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    dlq_id        TEXT NOT NULL UNIQUE,
    user_id       TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    response_status INTEGER,
    detail        TEXT,
    response_body BLOB
  ) STRICT;
  CREATE INDEX dlq_user_seq ON dlq (user_id, seq);
  CREATE INDEX dlq_message ON dlq (message_id);

  CREATE TABLE dedup (
    user_id     TEXT NOT NULL,
    dedup_key   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL,
    PRIMARY KEY (user_id, dedup_key)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX dedup_expires ON dedup (expires_ms);

  CREATE TABLE signing_keys (
    user_id     TEXT PRIMARY KEY,
    current_key TEXT NOT NULL,
    next_key    TEXT NOT NULL
  ) STRICT;
  `,
  `
  ALTER TABLE messages ADD COLUMN source_id TEXT;
  CREATE INDEX messages_queue_unfinished ON messages (user_id, queue_name) WHERE queue_name IS NOT NULL AND state IN ('pending', 'active');
  CREATE INDEX messages_flow_key ON messages (user_id, flow_key) WHERE flow_key IS NOT NULL;

  CREATE TABLE queues (
    user_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    parallelism INTEGER NOT NULL,
    paused      INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (user_id, name)
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE flow_keys (
    user_id     TEXT NOT NULL,
    key         TEXT NOT NULL,
    settings    TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
  ) STRICT, WITHOUT ROWID;
  `,
  `
  CREATE TABLE url_groups (
    user_id     TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    endpoints   TEXT NOT NULL,
    PRIMARY KEY (user_id, name)
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE schedules (
    id          TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    cron        TEXT NOT NULL,
    destination TEXT NOT NULL,
    headers     TEXT NOT NULL,
    body        BLOB,
    caller_ip   TEXT,
    paused      INTEGER NOT NULL DEFAULT 0,
    created_ms  INTEGER NOT NULL,
    next_ms     INTEGER,
    last_ms     INTEGER,
    last_ids    TEXT,
    PRIMARY KEY (user_id, id)
  ) STRICT, WITHOUT ROWID;
  `,
  `
  CREATE INDEX messages_unfinished_callbacks ON messages (source_id)
    WHERE source_id IS NOT NULL AND state IN ('pending', 'active');
  `,
  `
  ALTER TABLE messages ADD COLUMN run_id TEXT;
  CREATE INDEX messages_run ON messages (user_id, run_id) WHERE run_id IS NOT NULL;

  CREATE TABLE wf_runs (
    user_id      TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    url          TEXT NOT NULL,
    host         TEXT NOT NULL,
    path         TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    completed_ms INTEGER,
    caller_ip    TEXT,
    labels       TEXT NOT NULL DEFAULT '[]',
    flow_key     TEXT,
    spec         TEXT NOT NULL,
    response     TEXT,
    PRIMARY KEY (user_id, run_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX wf_runs_created ON wf_runs (user_id, created_ms);
  CREATE INDEX wf_runs_completed ON wf_runs (completed_ms) WHERE completed_ms IS NOT NULL;

  CREATE TABLE wf_entries (
    user_id     TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    message_id  TEXT NOT NULL,
    call_type   TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    body        BLOB,
    PRIMARY KEY (user_id, run_id, seq)
  ) STRICT;

  CREATE TABLE wf_waiters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    deadline_ms INTEGER NOT NULL,
    spec        TEXT NOT NULL
  ) STRICT;
  CREATE INDEX wf_waiters_event ON wf_waiters (user_id, event_id);

  CREATE TABLE wf_run_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    data        BLOB
  ) STRICT;
  CREATE INDEX wf_run_events_run ON wf_run_events (user_id, run_id, event_id);
  `,
  `
  CREATE INDEX wf_waiters_deadline ON wf_waiters (deadline_ms, id);
  `,
  `
  CREATE TABLE flow_windows (
    user_id     TEXT NOT NULL,
    key         TEXT NOT NULL,
    start_ms    INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
  ) STRICT, WITHOUT ROWID;
  `,
  `
  CREATE INDEX wf_waiters_run ON wf_waiters (user_id, run_id);
  `,
  // A body shared by the messages of one fan-out is kept once here; such a message has `body_id` and no `body`.
  // Rows written before keep their body inline (`body_id` NULL), so nothing is rewritten.
  `
  CREATE TABLE bodies (
    id          TEXT PRIMARY KEY,
    body        BLOB NOT NULL
  ) STRICT;
  ALTER TABLE messages ADD COLUMN body_id TEXT;
  CREATE INDEX messages_body ON messages (body_id) WHERE body_id IS NOT NULL;
  `,
  // A schedule's revision (StoredSchedule.revision), which a tick is fenced on with next_ms; '' for those stored before.
  `
  ALTER TABLE schedules ADD COLUMN revision TEXT NOT NULL DEFAULT '';
  `,
];
