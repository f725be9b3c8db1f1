import type { RunEntry } from "../../model/run.js";

/** The committed end of one run's entry list: every entry with a seq above `floor`, up to `lastSeq`. */
interface Tail {
  userId: string;
  floor: number;
  lastSeq: number;
  entries: RunEntry[];
  bytes: number;
}

/** A change to the tails made by a transaction, applied once the transaction has committed. */
type Change =
  | { kind: "created"; userId: string; runId: string }
  | { kind: "appended"; userId: string; runId: string; entry: RunEntry }
  | { kind: "forgotten"; runId: string };

/** Entries of a tail, and their bytes in all tails: enough for the runs being delivered, bounded in memory. */
const MAX_ENTRIES = 8;
const MAX_ENTRY_BYTES = 64 * 1024;
const MAX_RUNS = 10_000;
const MAX_BYTES = 16 * 1024 * 1024;

/**
 * The last entries of the runs being delivered, as the embedded store committed them. Each step appends an entry
 * and is then delivered with the entries appended since its run's previous delivery: both would otherwise read the
 * entry table (the run's last seq, then the new rows), though this process wrote those rows itself and is the only
 * writer of its database. A transaction's changes are held back until it commits and dropped if it rolls back, so
 * a tail never shows an entry that is not stored. Keyed by run id (the user is checked), least recently appended
 * runs go first.
 */
export class EntryTails {
  private readonly tails = new Map<string, Tail>();
  private bytes = 0;
  /** The current transaction's changes, in order. */
  private pending: Change[] = [];
  /** The last seq of the runs the current transaction appended to, created or emptied (user and run as key). */
  private readonly txLastSeq = new Map<string, number>();

  /** The seq the run's next entry takes, when known without reading the table. */
  nextSeq(userId: string, runId: string): number | undefined {
    const inTx = this.txLastSeq.get(txKey(userId, runId));
    if (inTx !== undefined) return inTx + 1;
    const t = this.tails.get(runId);
    return t && t.userId === userId ? t.lastSeq + 1 : undefined;
  }

  /** A run was created without entries in the current transaction. */
  created(userId: string, runId: string): void {
    this.txLastSeq.set(txKey(userId, runId), -1);
    this.pending.push({ kind: "created", userId, runId });
  }

  /** An entry was appended in the current transaction. */
  appended(userId: string, runId: string, entry: RunEntry): void {
    this.txLastSeq.set(txKey(userId, runId), entry.seq);
    this.pending.push({ kind: "appended", userId, runId, entry });
  }

  /** A run ended (it is not delivered to again) or its entries were deleted, in the current transaction. */
  ended(userId: string, runId: string): void {
    this.txLastSeq.delete(txKey(userId, runId));
    this.pending.push({ kind: "forgotten", runId });
  }

  committed(): void {
    for (const c of this.pending) {
      if (c.kind === "forgotten") this.drop(c.runId);
      else if (c.kind === "created") this.put(c.runId, { userId: c.userId, floor: -1, lastSeq: -1, entries: [], bytes: 0 });
      else this.append(c.userId, c.runId, c.entry);
    }
    this.reset();
  }

  rolledBack(): void {
    // What the transaction touched may have had its rows changed and restored: those runs are read again.
    for (const c of this.pending) this.drop(c.runId);
    this.reset();
  }

  /** The run's entries after `afterSeq`, when the tail holds all of them. */
  after(userId: string, runId: string, afterSeq: number): RunEntry[] | undefined {
    const t = this.tails.get(runId);
    if (!t || t.userId !== userId || afterSeq < t.floor) return undefined;
    return t.entries.filter((e) => e.seq > afterSeq);
  }

  clear(): void {
    this.tails.clear();
    this.bytes = 0;
  }

  private append(userId: string, runId: string, entry: RunEntry): void {
    let t = this.tails.get(runId);
    this.drop(runId);
    // Unknown before this entry (or known for another user): the entry was numbered from the table's last, so
    // it is all there is after the seq before it.
    if (!t || t.userId !== userId || entry.seq !== t.lastSeq + 1) t = { userId, floor: entry.seq - 1, lastSeq: entry.seq - 1, entries: [], bytes: 0 };
    t.lastSeq = entry.seq;
    if (entry.body.length > MAX_ENTRY_BYTES) {
      // Too large to keep: only where the list ends is remembered.
      t.floor = entry.seq;
      t.entries = [];
      t.bytes = 0;
    } else {
      t.entries.push(Object.freeze({ ...entry, body: ownCopy(entry.body) }));
      t.bytes += entry.body.length;
      if (t.entries.length > MAX_ENTRIES) {
        const first = t.entries.shift()!;
        t.floor = first.seq;
        t.bytes -= first.body.length;
      }
    }
    this.put(runId, t);
  }

  /** Stores a tail as the most recent, evicting the least recent beyond the bounds. */
  private put(runId: string, t: Tail): void {
    this.drop(runId);
    this.tails.set(runId, t);
    this.bytes += t.bytes;
    while ((this.tails.size > MAX_RUNS || this.bytes > MAX_BYTES) && this.tails.size > 1) {
      this.drop(this.tails.keys().next().value!);
    }
  }

  private drop(runId: string): void {
    const t = this.tails.get(runId);
    if (!t) return;
    this.tails.delete(runId);
    this.bytes -= t.bytes;
  }

  private reset(): void {
    this.pending = [];
    this.txLastSeq.clear();
  }
}

const txKey = (userId: string, runId: string): string => `${userId}\u0000${runId}`;

/** A body that does not keep a larger buffer alive (small buffers are slices of a shared pool). */
function ownCopy(b: Buffer): Buffer {
  return b.byteOffset === 0 && b.buffer.byteLength === b.length ? b : Buffer.from(b);
}
