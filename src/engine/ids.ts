import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz";

// Random bytes are drawn in blocks: one system call per ~180 ids instead of one per id.
let pool = Buffer.alloc(0);
let offset = 0;

/**
 * A new id with the given prefix, e.g. `msg_0Rk3x2Qm…`: 8 characters of creation time (ms) then 14 random ones
 * (≈ 80 bits). Ids sort by creation time, so the store's indexes on them grow at the end instead of splitting
 * pages at random, which is most of the cost of inserting thousands of messages a second.
 */
export function newId(prefix: string, nowMs = Date.now()): string {
  if (offset + 14 > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  let time = "";
  let t = Math.floor(nowMs);
  for (let i = 0; i < 8; i++) {
    time = ALPHABET[t % ALPHABET.length] + time;
    t = Math.floor(t / ALPHABET.length);
  }
  let out = prefix + time;
  // 256 % 54 leaves a small bias toward the first letters; ids need to be unique, not uniform.
  for (let i = 0; i < 14; i++) out += ALPHABET[pool[offset + i] % ALPHABET.length];
  offset += 14;
  return out;
}

let dlqSeq = 0;
/** A DLQ id shaped like the vendor's (`<ms>-<n>`), unique within the store. */
export function newDlqId(nowMs: number): string {
  dlqSeq = (dlqSeq + 1) % 1_000_000;
  return `${nowMs}-${dlqSeq}${randomBytes(3).readUIntBE(0, 3)}`;
}
