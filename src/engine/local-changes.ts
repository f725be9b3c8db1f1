/**
 * The entries of a cache that this node is changing, so a reload does not undo them. A cache changes its memory
 * first and writes the store after; a reload whose read began before such a write committed reads the old value.
 * So a reload leaves alone every entry changed here while it read, or whose write was still in flight when it
 * began, and reads once more after those writes end when the store disagreed (another node may have written the
 * entry after this one: its notice may have arrived while this node's write was still in flight).
 */
export class LocalChanges {
  private readonly inFlight = new Map<string, number>();
  /** One set per read in progress: the keys changed here since it began. */
  private readonly reads = new Set<Set<string>>();
  private readonly afterWrites: { keys: Set<string>; then: () => void }[] = [];

  /** Marks a change of `key` made in memory; call the returned function once its write has settled. */
  begin(key: string): () => void {
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
    this.touch(key);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = this.inFlight.get(key)! - 1;
      if (left > 0) this.inFlight.set(key, left);
      else this.inFlight.delete(key);
      this.touch(key);
      if (left === 0) this.settled(key);
    };
  }

  /** Runs `write` (the store write of a change of `key`) marked as in flight. */
  async around<T>(key: string, write: () => Promise<T>): Promise<T> {
    const end = this.begin(key);
    try {
      return await write();
    } finally {
      end();
    }
  }

  /**
   * Reads the store through `read` and hands the result to `apply` in the same turn, with the keys it must leave
   * as they are in memory: those changed here since the read began, or whose write was in flight then.
   */
  async follow<T>(read: () => Promise<T>, apply: (value: T, changed: ReadonlySet<string>) => void | Promise<void>): Promise<void> {
    const changed = new Set(this.inFlight.keys());
    this.reads.add(changed);
    try {
      // Applied before the watch ends: a change made between the read and its use is seen too.
      return apply(await read(), changed);
    } finally {
      this.reads.delete(changed);
    }
  }

  /** Calls `then` once none of `keys` has a write in flight (at once when none has). */
  whenSettled(keys: Iterable<string>, then: () => void): void {
    const waiting = new Set([...keys].filter((k) => this.inFlight.has(k)));
    if (waiting.size === 0) then();
    else this.afterWrites.push({ keys: waiting, then });
  }

  private touch(key: string): void {
    for (const changed of this.reads) changed.add(key);
  }

  private settled(key: string): void {
    for (let i = this.afterWrites.length - 1; i >= 0; i--) {
      const w = this.afterWrites[i];
      if (!w.keys.delete(key) || w.keys.size > 0) continue;
      this.afterWrites.splice(i, 1);
      w.then();
    }
  }
}
