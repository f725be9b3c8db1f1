/**
 * The first schema of the PostgreSQL store: the SQLite store's tables as they stand after its ninth migration.
 *
 * Why the shape is what it is (see also sqlite/schema.ts):
 * - Times are epoch milliseconds in `bigint` `*_ms` columns: the engine passes `now` in, so both stores agree.
 * - Keys and names are `text COLLATE "C"`: compared byte by byte as SQLite compares them, so due order, cursors
 *   and FIFO by id are the same on both stores, whatever the database's locale.
 * - Labels are a `text[]` (matched with `&&`), the rest of a record is JSON text in `spec` or `detail`.
 * - A deduplication key is `bytea`: the engine joins its parts with NUL, which a `text` value cannot hold.
 */
export const INITIAL_SCHEMA = `
CREATE TABLE messages (
  id            text COLLATE "C" PRIMARY KEY,
  user_id       text COLLATE "C" NOT NULL,
  state         text NOT NULL,
  due_ms        bigint NOT NULL,
  retried       integer NOT NULL DEFAULT 0,
  created_ms    bigint NOT NULL,
  finished_ms   bigint,
  url           text NOT NULL,
  host          text NOT NULL,
  path          text NOT NULL,
  topic_name    text,
  endpoint_name text,
  queue_name    text,
  schedule_id   text,
  flow_key      text,
  caller_ip     text,
  labels        text[] NOT NULL DEFAULT '{}',
  spec          text NOT NULL,
  body          bytea,
  body_id       text COLLATE "C",
  source_id     text COLLATE "C",
  run_id        text COLLATE "C"
);
CREATE INDEX messages_pending_due ON messages (due_ms, id) WHERE state = 'pending';
CREATE INDEX messages_active ON messages (id) WHERE state = 'active';
CREATE INDEX messages_user_created ON messages (user_id, created_ms);
CREATE INDEX messages_finished ON messages (finished_ms) WHERE finished_ms IS NOT NULL;
CREATE INDEX messages_queue_unfinished ON messages (user_id, queue_name) WHERE queue_name IS NOT NULL AND state IN ('pending', 'active');
CREATE INDEX messages_flow_key ON messages (user_id, flow_key) WHERE flow_key IS NOT NULL;
CREATE INDEX messages_unfinished_callbacks ON messages (source_id) WHERE source_id IS NOT NULL AND state IN ('pending', 'active');
CREATE INDEX messages_run ON messages (user_id, run_id) WHERE run_id IS NOT NULL;
CREATE INDEX messages_body ON messages (body_id) WHERE body_id IS NOT NULL;

CREATE TABLE bodies (
  id    text COLLATE "C" PRIMARY KEY,
  body  bytea NOT NULL
);

CREATE TABLE events (
  seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id       text COLLATE "C" NOT NULL,
  message_id    text COLLATE "C" NOT NULL,
  time_ms       bigint NOT NULL,
  state         text NOT NULL,
  detail        text,
  response_body bytea
);
CREATE INDEX events_user_seq ON events (user_id, seq);
CREATE INDEX events_message ON events (message_id);

CREATE TABLE dlq (
  seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  dlq_id          text COLLATE "C" NOT NULL UNIQUE,
  user_id         text COLLATE "C" NOT NULL,
  message_id      text COLLATE "C" NOT NULL,
  created_ms      bigint NOT NULL,
  response_status integer,
  detail          text,
  response_body   bytea
);
CREATE INDEX dlq_user_seq ON dlq (user_id, seq);
CREATE INDEX dlq_message ON dlq (message_id);

CREATE TABLE dedup (
  user_id     text COLLATE "C" NOT NULL,
  dedup_key   bytea NOT NULL,
  message_id  text COLLATE "C" NOT NULL,
  expires_ms  bigint NOT NULL,
  PRIMARY KEY (user_id, dedup_key)
);
CREATE INDEX dedup_expires ON dedup (expires_ms);

CREATE TABLE signing_keys (
  user_id     text COLLATE "C" PRIMARY KEY,
  current_key text NOT NULL,
  next_key    text NOT NULL
);

CREATE TABLE queues (
  user_id     text COLLATE "C" NOT NULL,
  name        text COLLATE "C" NOT NULL,
  parallelism integer NOT NULL,
  paused      boolean NOT NULL,
  created_ms  bigint NOT NULL,
  updated_ms  bigint NOT NULL,
  PRIMARY KEY (user_id, name)
);

CREATE TABLE flow_keys (
  user_id   text COLLATE "C" NOT NULL,
  key       text COLLATE "C" NOT NULL,
  settings  text NOT NULL,
  PRIMARY KEY (user_id, key)
);

CREATE TABLE flow_windows (
  user_id   text COLLATE "C" NOT NULL,
  key       text COLLATE "C" NOT NULL,
  start_ms  bigint NOT NULL,
  count     integer NOT NULL,
  PRIMARY KEY (user_id, key)
);

CREATE TABLE url_groups (
  user_id     text COLLATE "C" NOT NULL,
  name        text COLLATE "C" NOT NULL,
  created_ms  bigint NOT NULL,
  updated_ms  bigint NOT NULL,
  endpoints   text NOT NULL,
  PRIMARY KEY (user_id, name)
);

CREATE TABLE schedules (
  id          text COLLATE "C" NOT NULL,
  user_id     text COLLATE "C" NOT NULL,
  cron        text NOT NULL,
  destination text NOT NULL,
  headers     text NOT NULL,
  body        bytea,
  caller_ip   text,
  paused      boolean NOT NULL DEFAULT false,
  created_ms  bigint NOT NULL,
  next_ms     bigint,
  last_ms     bigint,
  last_ids    text,
  PRIMARY KEY (user_id, id)
);

CREATE TABLE wf_runs (
  user_id      text COLLATE "C" NOT NULL,
  run_id       text COLLATE "C" NOT NULL,
  url          text NOT NULL,
  host         text NOT NULL,
  path         text NOT NULL,
  state        text NOT NULL,
  created_ms   bigint NOT NULL,
  completed_ms bigint,
  caller_ip    text,
  labels       text[] NOT NULL DEFAULT '{}',
  flow_key     text,
  spec         text NOT NULL,
  response     text,
  PRIMARY KEY (user_id, run_id)
);
CREATE INDEX wf_runs_created ON wf_runs (user_id, created_ms);
CREATE INDEX wf_runs_completed ON wf_runs (completed_ms) WHERE completed_ms IS NOT NULL;

CREATE TABLE wf_entries (
  user_id     text COLLATE "C" NOT NULL,
  run_id      text COLLATE "C" NOT NULL,
  seq         integer NOT NULL,
  message_id  text COLLATE "C" NOT NULL,
  call_type   text NOT NULL,
  created_ms  bigint NOT NULL,
  body        bytea,
  PRIMARY KEY (user_id, run_id, seq)
);

CREATE TABLE wf_waiters (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id     text COLLATE "C" NOT NULL,
  event_id    text COLLATE "C" NOT NULL,
  run_id      text COLLATE "C" NOT NULL,
  created_ms  bigint NOT NULL,
  deadline_ms bigint NOT NULL,
  spec        text NOT NULL
);
CREATE INDEX wf_waiters_event ON wf_waiters (user_id, event_id);
CREATE INDEX wf_waiters_deadline ON wf_waiters (deadline_ms, id);
CREATE INDEX wf_waiters_run ON wf_waiters (user_id, run_id);

CREATE TABLE wf_run_events (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id     text COLLATE "C" NOT NULL,
  run_id      text COLLATE "C" NOT NULL,
  event_id    text COLLATE "C" NOT NULL,
  created_ms  bigint NOT NULL,
  data        bytea
);
CREATE INDEX wf_run_events_run ON wf_run_events (user_id, run_id, event_id);
`;
