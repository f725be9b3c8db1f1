import { closeSync, mkdirSync, openSync } from "node:fs";

/** Creates the folder (and its parents) readable by the owner only; a folder that exists keeps its mode. */
export function makeOwnerOnlyFolder(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * Creates an empty file readable by the owner only, unless it exists. SQLite gives its -wal and -shm files the
 * mode of the database file, so creating the database file this way keeps all three private. Only a file this
 * call creates is opened: closing any descriptor of a file drops the POSIX locks this process holds on it.
 */
export function createOwnerOnlyFile(file: string): void {
  try {
    closeSync(openSync(file, "wx", 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
}
