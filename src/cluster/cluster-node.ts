import type { Engine } from "../engine/engine.js";
import type { ClusterMembership, ClusterNews, KeyedSetting, SettingEntry, SharedSetting } from "../store/cluster.js";
import { NodeLease } from "./node-lease.js";
import type { LeaderLocator } from "./leader-locator.js";

/** How often the leader reads the store for pending messages whose news it may have missed (the backstop). */
const DUE_RECHECK_MS = 10_000;
/** How far back that reading starts: messages stored by a node whose clock is behind have earlier due times. */
const DUE_RECHECK_BACK_MS = 5 * 60_000;
/** How often a node asks the store which of its attempts in flight were asked to cancel (the backstop). */
const CANCEL_RECHECK_MS = 5_000;
/** How long the leader's whereabouts are remembered. */
const LEADER_LOOKUP_MS = 1_000;

export interface ClusterNodeDeps {
  engine: Engine;
  membership: ClusterMembership;
  leaseMs: number;
  /** Reads one kind of cached setting from the store again. */
  reload: Record<SharedSetting, () => Promise<void>>;
  /** Reads some entries of a keyed kind from the store again. */
  reloadEntries: Record<KeyedSetting, (entries: SettingEntry[]) => Promise<void>>;
  /** The node lost its lease (see NodeLease): the server stops and starts again as a new node. */
  onLost(reason: string): void;
  onError(err: unknown): void;
}

/**
 * One node of a cluster on a shared store: keeps its lease (NodeLease), takes up the leader's work when it gets
 * the leadership, and acts on what the other nodes' commits say (ClusterNews): due messages for the leader's due
 * loader, cancels of attempts in flight here, settings to read again. News is a hint; what it may miss while the
 * listener reconnects is read again on reconnecting and by periodic rechecks.
 */
export class ClusterNode {
  readonly lease: NodeLease;
  private ledUp = false;
  /** While the listener is away: resolved once it is back and the store has been read again. */
  private deaf: Promise<void> | undefined;
  private hear: (() => void) | undefined;
  private timers: NodeJS.Timeout[] = [];
  /** While `start` runs: its read of every cache, which a lead beginning within the start needs not repeat. */
  private startReads: Promise<unknown> | undefined;

  constructor(private readonly d: ClusterNodeDeps) {
    const { engine } = d;
    this.locator.nodeId = d.membership.nodeId;
    this.lease = new NodeLease({
      membership: d.membership,
      leaseMs: d.leaseMs,
      onLead: async () => {
        await engine.lead(this.startReads);
        this.ledUp = true;
      },
      onLeaderBeat: async () => {
        if (this.ledUp) await engine.recoverOrphans();
      },
      onLost: d.onLost,
      onError: d.onError,
      track: (p) => engine.track(p),
    });
  }

  get nodeId(): string {
    return this.lease.nodeId;
  }

  /** Where the leader is, when another node leads (looked up at most once a second). */
  readonly locator: LeaderLocator = {
    nodeId: "",
    leaderUrl: async () => {
      if (this.lease.leading()) return undefined;
      const now = performance.now();
      if (!this.leaderSeen || now - this.leaderSeen.at > LEADER_LOOKUP_MS) {
        this.leaderSeen = { at: now, leader: await this.d.membership.leader() };
      }
      const leader = this.leaderSeen.leader;
      return leader && leader.nodeId !== this.nodeId ? leader.url : undefined;
    },
  };
  private leaderSeen: { at: number; leader: { nodeId: string; url?: string } | undefined } | undefined;

  /** Listens first (nothing committed after this is missed), then registers and tries for the leadership. */
  async start(): Promise<void> {
    await this.d.membership.listen(
      (news) => this.onNews(news),
      () => this.onReconnect(),
      () => this.onDisconnect(),
    );
    // The engine loaded its caches before this listener was there: what another node committed in between was
    // news no one heard. Read it all again once, as after a reconnect.
    this.startReads = this.onReconnect();
    try {
      await this.lease.start();
    } finally {
      // A later takeover reads the caches afresh (Engine.lead): they may be long out of date by then.
      this.startReads = undefined;
    }
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(DUE_RECHECK_MS, () => this.d.engine.recheckDue(Date.now() - DUE_RECHECK_BACK_MS));
    every(CANCEL_RECHECK_MS, () => this.d.engine.track(this.recheckCancels()));
  }

  /** Stops the lease; with `release` (a graceful stop), lets the leadership go and leaves the cluster at once. */
  async stop(release: boolean): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    try {
      await this.lease.stop(release);
    } finally {
      await this.d.membership.close();
    }
  }

  private onNews(news: ClusterNews): void {
    const { engine } = this.d;
    for (const [id, dueMs] of news.due) engine.dueElsewhere(id, dueMs);
    if (news.cancels.length) engine.cancelRequested(news.cancels);
    for (const kind of news.changed) engine.track(this.d.reload[kind]());
    for (const [kind, entries] of Object.entries(news.entries) as [KeyedSetting, SettingEntry[]][]) {
      // Read whole already (the commit changed more than its news lists).
      if (!news.changed.includes(kind)) engine.track(this.d.reloadEntries[kind](entries));
    }
    if (news.leaderReleased) this.lease.claimNow();
  }

  /**
   * Deaf until the listener is back: the leader starts nothing due meanwhile (a message it stores now must not start
   * ahead of an older one of its queue whose news it is missing), until the reconnect has read the store again.
   */
  private onDisconnect(): void {
    if (this.deaf) return;
    let heard!: () => void;
    this.deaf = new Promise<void>((resolve) => (heard = resolve));
    this.hear = heard;
    this.d.engine.holdDue(this.deaf);
  }

  /**
   * News sent while the listener was away is lost: read what it would have said from the store. Resolves once the
   * caches are read again.
   */
  private onReconnect(): Promise<unknown> {
    const { engine } = this.d;
    const hear = this.hear;
    this.deaf = this.hear = undefined;
    engine.track(engine.recheckDue(undefined, true).finally(() => hear?.()));
    // Once each: several kinds may share one reload (queues and flow-control keys are one read).
    const reads = [...new Set(Object.values(this.d.reload))].map((reload) => reload());
    for (const read of reads) engine.track(read);
    engine.track(this.recheckCancels());
    const all = Promise.all(reads);
    // Reported by `track` already; a caller that waits for it still sees the failure.
    all.catch(() => undefined);
    return all;
  }

  private async recheckCancels(): Promise<void> {
    const ids = this.d.engine.inFlightIds();
    if (ids.length) this.d.engine.cancelRequested(await this.d.membership.cancelsRequested(ids));
  }
}
