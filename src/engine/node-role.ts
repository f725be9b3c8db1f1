import type { MessageRecord } from "../model/message.js";

/**
 * What this process is in the service: the sole node (SQLite, or PostgreSQL without peers yet), or one node of a
 * cluster. The engine asks it before starting work, so a node that lost its lease stops at once.
 */
export interface NodeRole {
  /** This node's id in a cluster; undefined for the sole node of a store (nothing is fenced on nodes then). */
  readonly nodeId: string | undefined;
  /** Whether this node may start attempts now: its lease was renewed recently enough. */
  mayStart(): boolean;
  /** Whether this node leads: it dispatches what has limits, the due messages, schedules and wait deadlines. */
  leading(): boolean;
}

/** The only node: always leads. */
export const soleNode: NodeRole = { nodeId: undefined, mayStart: () => true, leading: () => true };

/**
 * Whether a message due now may start on the node that stored it, without the leader: only when no limit that
 * spans the cluster applies to it (a queue, a flow-control key, the slot a queue message holds for its callbacks,
 * per-user global parallelism). Everything else waits in the store for the leader, whose memory holds those limits.
 */
export function startsAnywhere(m: MessageRecord, globalParallelism: number): boolean {
  return !m.queueName && !m.flowControl && !m.sourceQueueName && !(globalParallelism > 0);
}
