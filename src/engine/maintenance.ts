import type { Config } from "../config.js";
import type { Store } from "../store/store.js";
import type { Clock } from "./clock.js";
import type { Committer } from "./committer.js";
import type { Dispatcher } from "./dispatcher.js";
import type { Lifecycle } from "./hooks.js";

/** How often changed rate windows are saved. */
const WINDOW_SAVE_MS = 1000;

/** How long a drained flow-control key stays listed and readable before it is forgotten. */
const IDLE_KEY_MS = 60 * 60_000;

export interface MaintenanceDeps {
  store: Pick<Store, "purge">;
  committer: Pick<Committer, "run" | "idle">;
  dispatcher: Pick<Dispatcher, "sweepIdleKeys" | "takeDirtyWindows">;
  clock: Clock;
  config: Pick<Config, "maintenanceIntervalMs" | "limits">;
  track(p: Promise<unknown>): void;
}

/** The engine's periodic chores: retention purge (with idle keys forgotten) and saving changed rate windows. */
export class Maintenance implements Lifecycle {
  private purgeTimer: NodeJS.Timeout | undefined;
  private windowTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: MaintenanceDeps) {}

  async start(): Promise<void> {
    this.purgeTimer = setInterval(() => this.deps.track(this.purge()), this.deps.config.maintenanceIntervalMs);
    this.purgeTimer.unref();
    this.windowTimer = setInterval(() => this.deps.track(this.saveWindows()), WINDOW_SAVE_MS);
    this.windowTimer.unref();
  }

  stop(): void {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    if (this.windowTimer) clearInterval(this.windowTimer);
  }

  /**
   * Saves the rate windows that changed, at most once a second: a restart then continues a key's window instead
   * of opening a fresh one (up to the last second's starts may be missed after a crash).
   */
  async saveWindows(): Promise<void> {
    const windows = this.deps.dispatcher.takeDirtyWindows();
    if (windows.length) await this.deps.committer.run([{ op: "putFlowWindows", windows }]);
  }

  private async purge(): Promise<void> {
    const now = this.deps.clock.now();
    this.deps.dispatcher.sweepIdleKeys(IDLE_KEY_MS);
    await this.deps.committer.idle();
    await this.deps.store.purge(now - this.deps.config.limits.retentionMs, now, 10_000);
  }
}
