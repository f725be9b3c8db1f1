import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz";

/** A random id with the given prefix, e.g. `msg_2kq…`; 22 characters of entropy ≈ 125 bits. */
export function newId(prefix: string): string {
  const bytes = randomBytes(22);
  let out = prefix;
  for (let i = 0; i < bytes.length; i++) out += ALPHABET[bytes[i] % ALPHABET.length];
  return out;
}

let dlqSeq = 0;
/** A DLQ id shaped like the vendor's (`<ms>-<n>`), unique within the store. */
export function newDlqId(nowMs: number): string {
  dlqSeq = (dlqSeq + 1) % 1_000_000;
  return `${nowMs}-${dlqSeq}${randomBytes(3).readUIntBE(0, 3)}`;
}
