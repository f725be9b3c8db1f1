/**
 * What a store shared by several nodes offers the cluster layer (src/cluster/). Only the PostgreSQL store is one;
 * a SQLite data folder belongs to one process (its lock), so it never joins a cluster.
 */

/** A kind of setting cached on every node; a commit that changes one tells the other nodes to read it again. */
export type SharedSetting = "queues" | "flowSettings" | "urlGroups" | "signingKeys" | "schedules" | "waiters";

/**
 * The kinds whose entries a node can read one by one (by user and id or name): news names the entries a commit
 * changed, so a node holding thousands of them reads those, not all of them again.
 */
export type KeyedSetting = "schedules" | "urlGroups" | "queues";

/** An entry of a keyed kind: its user and its id (a schedule) or name (a URL group, a queue). */
export type SettingEntry = [userId: string, key: string];

/**
 * What a node learns of another node's commit, sent with that commit (atomic with it, in commit order). It is a
 * hint: a node that was not listening when it was sent reads what it may have missed again on reconnecting.
 */
export interface ClusterNews {
  /** The node whose commit this was. */
  from: string;
  /** Pending messages (new or retried) due soon, for the leader's due loader: [id, dueMs]. */
  due: [string, number][];
  /** Messages whose attempt in flight (on whichever node) was asked to cancel. */
  cancels: string[];
  /** Kinds of settings changed by the commit, to read again whole. */
  changed: SharedSetting[];
  /**
   * Entries of keyed kinds changed by the commit, to read again one by one. A kind that is also in `changed` (it
   * changed too much for a list) is read whole instead.
   */
  entries: Partial<Record<KeyedSetting, SettingEntry[]>>;
  /** The leader let go of its lease (a graceful stop): another node should claim it now. */
  leaderReleased?: boolean;
}

/** How long a lease is, and the node's description shown to operators (`sluice_node.info`). */
export interface MembershipOptions {
  leaseMs: number;
  info: Record<string, unknown>;
}

/** The result of one heartbeat: whether this node's lease still holds, and its leader epoch if it leads. */
export interface Heartbeat {
  alive: boolean;
  leaderEpoch?: number;
}

/** A node's membership of the cluster, on its own connections (a heartbeat never waits behind a commit or a read). */
export interface ClusterMembership {
  readonly nodeId: string;
  /** Registers the node (a new row with a fresh lease). */
  register(): Promise<void>;
  /**
   * Renews the node's lease and, when it leads, its leadership; when it does not, claims the leadership if it is
   * free or has expired. `alive: false` when the node's lease had already passed (it was declared dead).
   */
  heartbeat(leading: number | undefined): Promise<Heartbeat>;
  /** Removes the nodes whose lease has passed (their messages are already taken over, see `Store.listActive`). */
  forgetDeadNodes(): Promise<number>;
  /** Gives the leadership up (if held) and removes the node's row. */
  leave(leaderEpoch: number | undefined): Promise<void>;
  /**
   * Listens for other nodes' news. `onDisconnect` is called when the listening connection breaks (news is being
   * missed from then on), `onReconnect` once it listens again.
   */
  listen(onNews: (news: ClusterNews) => void, onReconnect: () => void, onDisconnect?: () => void): Promise<void>;
  /** The leader's advertised URL (`info.url`) while its lease holds; undefined when there is no leader now. */
  leader(): Promise<{ nodeId: string; url?: string } | undefined>;
  /** Of these messages in flight, those with a cancel asked (what a missed notice would have said). */
  cancelsRequested(ids: string[]): Promise<string[]>;
  close(): Promise<void>;
}

/** A store that several nodes can share. */
export interface ClusterStore {
  joinCluster(nodeId: string, opts: MembershipOptions): ClusterMembership;
}

export function isClusterStore(store: object): store is ClusterStore {
  return typeof (store as Partial<ClusterStore>).joinCluster === "function";
}
