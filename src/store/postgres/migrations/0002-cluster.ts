/**
 * Several nodes on one database (docs/architecture.md, "A cluster"):
 * - `sluice_node`: one row per running process, kept alive by its heartbeat (database clock). A node whose lease has
 *   passed is gone: it can never renew, and its attempts in flight are retried by the leader.
 * - `sluice_leader`: the one node that dispatches (lanes, limits, due messages, schedules, wait deadlines). `epoch`
 *   grows on every takeover; every start of a delivery is fenced on it (`FOR SHARE`), so a leader that lost its
 *   lease cannot start anything, and a takeover waits for the starts already committing.
 * - `messages.node_id`: the node an active message is in flight on; its outcome is fenced on it.
 * - `messages.cancel_requested`: a cancel asked on any node for an attempt in flight on another.
 * - `sluice_fenced_out`: raised by an outcome whose node no longer holds the message, so the whole commit (its
 *   callbacks, DLQ entry, workflow step) is refused with it.
 * - `sluice_cancel_asked`: raised by an outcome other than a delivery for a message whose cancel was asked on
 *   another node while its attempt ran: the node writes it again as the cancel.
 */
export const CLUSTER_SCHEMA = `
CREATE TABLE sluice_node (
  node_id     text COLLATE "C" PRIMARY KEY,
  lease_until timestamptz NOT NULL,
  info        jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE sluice_leader (
  id          integer PRIMARY KEY CHECK (id = 1),
  node_id     text COLLATE "C",
  epoch       bigint NOT NULL DEFAULT 0,
  lease_until timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO sluice_leader (id) VALUES (1);
ALTER TABLE messages ADD COLUMN node_id text COLLATE "C";
ALTER TABLE messages ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;
CREATE FUNCTION sluice_fenced_out(message_id text) RETURNS integer LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  RAISE EXCEPTION 'message % is no longer in flight on this node: another node took its attempt over', message_id
    USING ERRCODE = 'SL001';
END
$fn$;
CREATE FUNCTION sluice_cancel_asked(message_id text) RETURNS integer LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  RAISE EXCEPTION 'message % was asked to cancel while its attempt ran: its outcome is a cancel', message_id
    USING ERRCODE = 'SL002';
END
$fn$;
`;
