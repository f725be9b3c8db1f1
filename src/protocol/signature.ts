import { createHmac, createSecretKey, randomInt, timingSafeEqual, type KeyObject } from "node:crypto";
import { sha256 } from "../digest.js";
import { RandomPool } from "../random-pool.js";

const HEADER_SEGMENT = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
const TOKEN_LIFETIME_S = 300;
const BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/**
 * Builds the `Upstash-Signature` JWT for one delivery attempt (SPEC §3.2), verifiable by the SDK's Receiver.
 * `nbfSkewSeconds` backdates `nbf` so receivers with a slightly slow clock still accept it (DECISIONS #13).
 */
export function signDelivery(opts: {
  signingKey: string;
  url: string;
  body: Uint8Array;
  nowMs: number;
  nbfSkewSeconds?: number;
}): string {
  const iat = Math.floor(opts.nowMs / 1_000);
  // Claim order mirrors what QStash sends. Written out rather than JSON.stringify'd (this runs per attempt): only
  // the URL can need escaping; the other values are numbers, base64url and hex.
  const claims =
    `{"iss":"Upstash","sub":${JSON.stringify(opts.url)},"exp":${iat + TOKEN_LIFETIME_S},"nbf":${iat - (opts.nbfSkewSeconds ?? 0)},` +
    `"iat":${iat},"jti":"jwt_${tokenId()}","body":"${bodyHash(opts.body)}"}`;
  const signingInput = `${HEADER_SEGMENT}.${Buffer.from(claims).toString("base64url")}`;
  return `${signingInput}.${hmac(opts.signingKey, signingInput)}`;
}

/**
 * True when `token` is an HS256 JWT signed by one of `keys`, issued by Upstash, currently valid, and matching
 * `url`/`body` when given. Never throws.
 */
export function verifyDelivery(
  token: string,
  keys: string[],
  opts: { url?: string; body?: Uint8Array; nowMs?: number } = {},
): boolean {
  const segments = token.split(".");
  if (segments.length !== 3) return false;
  const [header, payload, signature] = segments;
  // Compare text, not decoded bytes: base64url decoding skips stray characters, so altered tokens would pass.
  const given = Buffer.from(signature);
  const signedBy = keys.some((key) => {
    const expected = Buffer.from(hmac(key, `${header}.${payload}`));
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
  if (!signedBy) return false;

  const decoded = parseJson(header);
  // Only HS256 is ever issued; accepting anything else invites algorithm-confusion tricks.
  if (decoded?.alg !== "HS256") return false;
  const claims = parseJson(payload);
  if (!claims || claims.iss !== "Upstash") return false;
  const nowS = (opts.nowMs ?? Date.now()) / 1_000;
  if (typeof claims.exp !== "number" || nowS >= claims.exp) return false;
  if (typeof claims.nbf !== "number" || nowS < claims.nbf) return false;
  if (opts.url !== undefined && claims.sub !== opts.url) return false;
  if (opts.body !== undefined) {
    // The SDK compares with trailing "=" stripped on both sides; do the same so either form verifies.
    const claimed = typeof claims.body === "string" ? claims.body.replace(/=+$/, "") : undefined;
    if (claimed !== bodyHash(opts.body).replace(/=+$/, "")) return false;
  }
  return true;
}

/** A fresh signing key in the vendor's shape: `sig_` followed by 28 base58 characters. */
export function generateSigningKey(): string {
  let key = "sig_";
  for (let i = 0; i < 28; i++) key += BASE58[randomInt(BASE58.length)];
  return key;
}

/** base64url(SHA-256(body)) with the `=` padding kept, as in the vendor's documented example. */
function bodyHash(body: Uint8Array): string {
  // A SHA-256 digest (32 bytes) is 43 base64 characters and one "=" of padding.
  return `${sha256(body, "base64url")}=`;
}

/**
 * Random bytes for token ids, 256 tokens' worth per draw: each id is one string made from a slice, where
 * `randomUUID` made three (with its dashes removed).
 */
const TOKEN_ID_BYTES = 16;
const tokenIdRandom = new RandomPool(TOKEN_ID_BYTES * 256);

/** 32 random hex digits: a token's `jti`, unique with overwhelming probability. */
function tokenId(): string {
  const at = tokenIdRandom.take(TOKEN_ID_BYTES);
  return tokenIdRandom.bytes.toString("hex", at, at + TOKEN_ID_BYTES);
}

/** Signing keys as key objects: HMAC with one skips converting the key string for every token. A user has two. */
const keyObjects = new Map<string, KeyObject>();

function keyObject(key: string): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    // Keys are rotated rarely; a bound keeps a long-running server from holding every key it ever saw.
    if (keyObjects.size >= 1024) keyObjects.clear();
    // The key string's own UTF-8 bytes, as createHmac(…, string) uses them.
    object = createSecretKey(Buffer.from(key, "utf8"));
    keyObjects.set(key, object);
  }
  return object;
}

/** Unpadded base64url HMAC-SHA256 keyed with the key string's own UTF-8 bytes (not base64-decoded), as the Receiver. */
function hmac(key: string, data: string): string {
  return createHmac("sha256", keyObject(key)).update(data).digest("base64url");
}

/** The JSON object in a base64url segment, or undefined for anything else. */
function parseJson(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
