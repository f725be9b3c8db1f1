import Database from "better-sqlite3";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createOwnerOnlyFile } from "./owner-only-files.js";

export const LOCK_FILE = "sluice.lock";
export const PID_FILE = "sluice.pid";

/**
 * One process per data folder. Two servers on one folder would each recover the other's in-flight attempts as
 * interrupted and deliver them twice, so the folder is locked before anything in it is read.
 *
 * The lock is SQLite's own POSIX lock on a small file of its own, held in exclusive locking mode for the life of
 * the process: the kernel drops it when the process dies, even on kill -9, so there is never a stale lock to
 * clean up by hand (a pid file alone would be one). The pid file beside it only names the holder in the message.
 */
export class DataFolderLock {
  private constructor(
    private readonly db: Database.Database,
    private readonly pidFile: string,
  ) {}

  /** Takes the folder's lock, or throws at once (no waiting) with a message naming the folder and the holder. */
  static acquire(dir: string): DataFolderLock {
    const file = join(dir, LOCK_FILE);
    const pidFile = join(dir, PID_FILE);
    createOwnerOnlyFile(file);
    const db = new Database(file, { timeout: 0 });
    try {
      db.pragma("locking_mode = EXCLUSIVE");
      // In exclusive locking mode the lock taken by the first write transaction is kept until the connection closes.
      db.exec("BEGIN EXCLUSIVE; COMMIT");
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code !== "SQLITE_BUSY") throw err;
      const holder = readHolderPid(pidFile);
      throw new Error(
        `data folder ${dir} is in use by another Sluice process${holder ? ` (pid ${holder})` : ""}: ` +
          `stop it first, or give this one another --data folder`,
      );
    }
    writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
    return new DataFolderLock(db, pidFile);
  }

  release(): void {
    if (!this.db.open) return;
    rmSync(this.pidFile, { force: true });
    this.db.close();
  }
}

function readHolderPid(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
