import type { ClusterMembership } from "../store/cluster.js";
import type { NodeRole } from "../engine/node-role.js";

/**
 * A node stops starting attempts when this share of its lease has passed without a renewal: it has stopped before
 * the others may take it as gone, whatever the state of its connection (a frozen process checks on waking).
 */
const SELF_FENCE_SHARE = 0.7;
/** Heartbeats per lease: a renewal lost or late now and then costs nothing. */
const BEATS_PER_LEASE = 5;

export interface NodeLeaseDeps {
  membership: ClusterMembership;
  leaseMs: number;
  /** This node has just taken the leadership (runs in the background: heartbeats go on meanwhile). */
  onLead(): Promise<void>;
  /** After each heartbeat while leading: take over what nodes that are gone left in flight. */
  onLeaderBeat(): Promise<void>;
  /** The lease is lost: this node was taken as gone, or could not renew in time. It must stop and start anew. */
  onLost(reason: string): void;
  onError(err: unknown): void;
  track(p: Promise<unknown>): void;
}

/**
 * This node's lease, and the leadership when it holds it: renewed by heartbeats on the database's clock, checked
 * against this process's monotonic clock (`mayStart`), so a node that cannot renew stops on its own before its
 * lease runs out, and one that was frozen past it (SIGSTOP, a long pause) stops the moment it runs again.
 */
export class NodeLease implements NodeRole {
  private epoch: number | undefined;
  /** `performance.now()` when the last renewal that succeeded was sent: the lease runs from at least then. */
  private renewedAt = Number.NEGATIVE_INFINITY;
  private lostReason: string | undefined;
  private beating = false;
  private beatTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private lastDeadNodeSweep = 0;
  /** The leader's work starting, once this node got the leadership. */
  private leadStarted: Promise<void> | undefined;

  constructor(private readonly d: NodeLeaseDeps) {}

  get nodeId(): string {
    return this.d.membership.nodeId;
  }

  /** The leadership epoch this node holds, if it leads. */
  get leaderEpoch(): number | undefined {
    return this.epoch;
  }

  get lost(): boolean {
    return this.lostReason !== undefined;
  }

  mayStart(): boolean {
    return this.lostReason === undefined && performance.now() - this.renewedAt < this.d.leaseMs * SELF_FENCE_SHARE;
  }

  leading(): boolean {
    return this.epoch !== undefined && this.mayStart();
  }

  /**
   * Registers the node and keeps the lease renewed; tries for the leadership at once, and when it gets it, resolves
   * once the leader's work has started (heartbeats go on meanwhile).
   */
  async start(): Promise<void> {
    const sentAt = performance.now();
    await this.d.membership.register();
    this.renewedAt = sentAt;
    const interval = Math.max(100, Math.floor(this.d.leaseMs / BEATS_PER_LEASE));
    this.beatTimer = setInterval(() => this.d.track(this.beat()), interval);
    this.beatTimer.unref();
    this.watchdog = setInterval(() => this.checkFresh(), Math.max(50, Math.floor(interval / 2)));
    this.watchdog.unref();
    await this.beat();
    await this.leadStarted;
  }

  /** Another node let the leadership go: try for it now rather than at the next heartbeat. */
  claimNow(): void {
    if (this.epoch === undefined) this.d.track(this.beat());
  }

  /** Stops renewing; with `release`, gives up the leadership and removes the node's row, so another leads at once. */
  async stop(release: boolean): Promise<void> {
    if (this.beatTimer) clearInterval(this.beatTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    if (release) await this.d.membership.leave(this.lost ? undefined : this.epoch);
    this.epoch = undefined;
  }

  private checkFresh(): void {
    if (this.lostReason !== undefined || this.mayStart()) return;
    const ms = Math.round(performance.now() - this.renewedAt);
    this.lose(`no lease renewal for ${ms}ms (the lease is ${this.d.leaseMs}ms)`);
  }

  private lose(reason: string): void {
    if (this.lostReason !== undefined) return;
    this.lostReason = reason;
    this.epoch = undefined;
    if (this.beatTimer) clearInterval(this.beatTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.d.onLost(reason);
  }

  private async beat(): Promise<void> {
    if (this.beating || this.lostReason !== undefined) return;
    this.beating = true;
    const sentAt = performance.now();
    let hb;
    try {
      hb = await this.d.membership.heartbeat(this.epoch);
    } catch (err) {
      // The watchdog decides when silence has lasted too long; one failed beat is only reported.
      this.d.onError(err);
      return;
    } finally {
      this.beating = false;
    }
    if (this.lostReason !== undefined) return;
    if (!hb.alive) {
      this.lose(this.epoch === undefined ? "its lease had passed: the other nodes took it as gone" : "its leadership had passed to another node");
      return;
    }
    this.renewedAt = sentAt;
    if (this.epoch === undefined && hb.leaderEpoch !== undefined) {
      this.epoch = hb.leaderEpoch;
      this.leadStarted = this.d.onLead();
      this.d.track(this.leadStarted);
      return;
    }
    if (this.epoch !== undefined) {
      if (performance.now() - this.lastDeadNodeSweep > 60_000) {
        this.lastDeadNodeSweep = performance.now();
        await this.d.membership.forgetDeadNodes();
      }
      await this.d.onLeaderBeat();
    }
  }
}
