/** Where the leader of this node's cluster is, for the reads only it can answer exactly. */
export interface LeaderLocator {
  /** The leader's URL, when another node leads and it advertised one. */
  leaderUrl(): Promise<string | undefined>;
  /** This node (a request it passes on names it). */
  nodeId: string;
}
