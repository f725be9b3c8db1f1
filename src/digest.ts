import * as crypto from "node:crypto";

type Data = string | Uint8Array;

/**
 * One-shot hashing (Node ≥ 20.12): about a third of the cost of `createHash().update().digest()`, which builds a
 * Hash object per call. The delivery path hashes every attempt's body, so the difference counts; on an older
 * Node 20 the object is built as before.
 */
const oneShot = crypto.hash as typeof crypto.hash | undefined;

/** SHA-256 of `data`: its digest as bytes. */
export function sha256(data: Data): Buffer;
/** SHA-256 of `data`, encoded as text. */
export function sha256(data: Data, encoding: "hex" | "base64" | "base64url"): string;
export function sha256(data: Data, encoding?: "hex" | "base64" | "base64url"): string | Buffer {
  if (oneShot) return encoding ? oneShot("sha256", data, encoding) : oneShot("sha256", data, "buffer");
  const digest = crypto.createHash("sha256").update(data);
  return encoding ? digest.digest(encoding) : digest.digest();
}
