import Database from "better-sqlite3";
import { chmodSync, existsSync } from "node:fs";
import { join } from "node:path";

/**
 * Copies the data folder's database to `target` while a server may be running on it, with SQLite's online
 * backup API: the copy is consistent (what was committed when it finished) and writers are not stopped. The
 * folder's lock is not taken, since reading beside the running server is what the backup is for.
 */
export async function backupDataFolder(dataDir: string, target: string): Promise<{ pages: number }> {
  const source = join(dataDir, "sluice.db");
  if (!existsSync(source)) throw new Error(`no Sluice database in ${dataDir} (expected ${source})`);
  if (existsSync(target)) throw new Error(`backup target ${target} exists already: give a new file name`);
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    const { totalPages } = await db.backup(target);
    // The copy holds every message and the signing keys: as private as the data folder.
    chmodSync(target, 0o600);
    return { pages: totalPages };
  } finally {
    db.close();
  }
}
