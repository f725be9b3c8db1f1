import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * Runs WAL checkpoints on a worker thread with its own connection. A checkpoint copies pages into the
 * database file and syncs it; on the main thread that stalled every request for up to ~150 ms at a few
 * thousand messages a second. Writers keep appending to the WAL while a passive checkpoint runs.
 */
export class Checkpointer {
  private readonly worker: Worker;

  constructor(file: string, synchronous: string, intervalMs = 200, truncateBytes = 64 * 1024 * 1024) {
    const modulePath = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { file, synchronous, intervalMs, truncateBytes, modulePath },
    });
    // A checkpointer that failed must not take the server down; the main connection's fallback
    // autocheckpoint still bounds the WAL.
    this.worker.on("error", () => undefined);
    this.worker.unref();
  }

  /** Runs a last checkpoint and closes the worker's connection. */
  async stop(): Promise<void> {
    const done = new Promise<void>((resolve) => {
      this.worker.once("exit", () => resolve());
      this.worker.once("message", () => void this.worker.terminate());
    });
    this.worker.postMessage("stop");
    await Promise.race([done, new Promise<void>((r) => setTimeout(r, 5000).unref())]);
    await this.worker.terminate();
  }
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.modulePath);
const db = new Database(workerData.file);
db.pragma("busy_timeout = 5000");
db.pragma("synchronous = " + workerData.synchronous);
const fs = require("node:fs");
const walFile = workerData.file + "-wal";
const walSize = () => { try { return fs.statSync(walFile).size; } catch { return 0; } };
let busy = false;
const tick = (mode) => {
  if (busy) return;
  busy = true;
  try {
    db.pragma("wal_checkpoint(" + mode + ")");
    // Under steady writes a passive checkpoint never catches up with the writer, so the WAL would only grow.
    // Past the threshold, finish with RESTART: the passive pass already copied almost everything, so the
    // writer waits only for the last few frames and one sync.
    if (mode === "PASSIVE" && walSize() > workerData.truncateBytes) db.pragma("wal_checkpoint(RESTART)");
  } catch {} finally { busy = false; }
};
const timer = setInterval(() => tick("PASSIVE"), workerData.intervalMs);
parentPort.on("message", (m) => {
  if (m !== "stop") return;
  clearInterval(timer);
  tick("PASSIVE");
  db.close();
  parentPort.postMessage("stopped");
});
`;
