import { RandomPool } from "../random-pool.js";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz";
const ALPHABET_CODES = Buffer.from(ALPHABET, "latin1");

/**
 * Where an id's characters are written before it becomes one string: built a character at a time, an id was 22
 * short-lived strings (each `+=` makes one), and every message, event and DLQ entry gets an id.
 */
const idBytes = Buffer.alloc(64);

// About 290 ids per block of random bytes.
const random = new RandomPool(4096);

/** Time and random digits (as alphabet indexes) of the last id, so ids made in the same millisecond still sort. */
let lastMs = -1;
const lastRand: number[] = [];

/**
 * A new id with the given prefix, e.g. `msg_0Rk3x2Qm…`: 8 characters of creation time (ms) then 14 random ones
 * (≈ 80 bits). Ids sort by creation time, so the store's indexes on them grow at the end instead of splitting
 * pages at random, which is most of the cost of inserting thousands of messages a second. Within one process
 * they are strictly increasing (like monotonic ULIDs): an id made in the same millisecond as the previous one
 * (or after the clock stepped back) is the previous one plus one, so FIFO queues ordered by id keep the order
 * of acceptance, e.g. for the items of one batch.
 */
export function newId(prefix: string, nowMs = Date.now()): string {
  let t = Math.floor(nowMs);
  if (t <= lastMs && !increment(lastRand)) t = lastMs + 1; // 54^14 ids in one ms: only on overflow
  if (t > lastMs) {
    const at = random.take(14);
    // 256 % 54 leaves a small bias toward the first letters; ids need to be unique, not uniform.
    for (let i = 0; i < 14; i++) lastRand[i] = random.bytes[at + i] % ALPHABET.length;
    lastMs = t;
  }
  // Prefixes are short constants of the code ("msg_"); one that did not fit would be cut without this.
  if (prefix.length > idBytes.length - 22) throw new Error(`id prefix "${prefix}" is too long`);
  const start = idBytes.write(prefix, 0, "latin1");
  t = lastMs;
  for (let i = 7; i >= 0; i--) {
    idBytes[start + i] = ALPHABET_CODES[t % ALPHABET.length];
    t = Math.floor(t / ALPHABET.length);
  }
  for (let i = 0; i < 14; i++) idBytes[start + 8 + i] = ALPHABET_CODES[lastRand[i]];
  return idBytes.toString("latin1", 0, start + 22);
}

/** Adds one to base-54 digits in place; false when they overflowed. */
function increment(digits: number[]): boolean {
  for (let i = digits.length - 1; i >= 0; i--) {
    if (++digits[i] < ALPHABET.length) return true;
    digits[i] = 0;
  }
  return false;
}

let dlqSeq = 0;
/** A DLQ id shaped like the vendor's (`<ms>-<n>`), unique within the store. */
export function newDlqId(nowMs: number): string {
  dlqSeq = (dlqSeq + 1) % 1_000_000;
  return `${nowMs}-${dlqSeq}${random.bytes.readUIntBE(random.take(3), 3)}`;
}
