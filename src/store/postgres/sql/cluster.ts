/**
 * Statements of cluster membership (migration 0002). Leases are kept on the database's clock, so nodes whose
 * clocks disagree still agree on who holds what. `$ttl` is the lease in milliseconds.
 */

/** $1 node_id, $2 ttl, $3 info */
export const REGISTER_NODE = `INSERT INTO sluice_node (node_id, lease_until, info) VALUES ($1, now() + $2 * interval '1 millisecond', $3)`;

/** $1 node_id, $2 ttl → a row while the node's lease had not passed (a lease that passed is never renewed) */
export const RENEW_NODE = `UPDATE sluice_node SET lease_until = now() + $2 * interval '1 millisecond'
  WHERE node_id = $1 AND lease_until > now() RETURNING node_id`;

/** $1 node_id, $2 ttl, $3 epoch → a row while this node still leads in that epoch */
export const RENEW_LEADER = `UPDATE sluice_leader SET lease_until = now() + $2 * interval '1 millisecond'
  WHERE id = 1 AND node_id = $1 AND epoch = $3 AND lease_until > now() RETURNING epoch`;

/**
 * $1 node_id, $2 ttl → the new epoch when this node took the leadership. It is free when released, or when its
 * lease has passed *and* the old leader's node lease has too: then every attempt the old leader had in flight is
 * an orphan the new leader retries (Store.listActive), and none is left running unseen.
 */
export const CLAIM_LEADER = `UPDATE sluice_leader l SET node_id = $1, epoch = l.epoch + 1, lease_until = now() + $2 * interval '1 millisecond'
  WHERE l.id = 1 AND (l.node_id IS NULL OR (l.lease_until <= now()
    AND NOT EXISTS (SELECT 1 FROM sluice_node n WHERE n.node_id = l.node_id AND n.lease_until > now())))
  RETURNING l.epoch`;

/** $1 node_id, $2 epoch (NULL when not leading): lets the leadership go at once, for another node to claim */
export const RELEASE_LEADER = `UPDATE sluice_leader SET node_id = NULL, lease_until = '-infinity' WHERE id = 1 AND node_id = $1 AND epoch = $2`;

/** $1 node_id */
export const REMOVE_NODE = `DELETE FROM sluice_node WHERE node_id = $1`;

/** Nodes gone for a minute: kept that long for operators to see, then removed. */
export const FORGET_DEAD_NODES = `DELETE FROM sluice_node WHERE lease_until < now() - interval '1 minute'`;

/** The leader while its lease holds, with its node's info. */
export const CURRENT_LEADER = `SELECT l.node_id, n.info FROM sluice_leader l JOIN sluice_node n ON n.node_id = l.node_id
  WHERE l.id = 1 AND l.lease_until > now()`;
