import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { tokenFor, type UserConfig } from "../config.js";

/**
 * Finds the user a token belongs to. Tokens are compared as SHA-256 digests with timingSafeEqual, against every
 * user without stopping at a match, so the time taken tells neither how much of a token matched, nor its length,
 * nor which user it was.
 */
export function tokenLookup(users: UserConfig[]): (token: string) => string | undefined {
  const known = users.map((u) => ({ userId: u.userId, digest: sha256(tokenFor(u)) }));
  return (token) => {
    const presented = sha256(token);
    let userId: string | undefined;
    for (const k of known) {
      if (timingSafeEqual(k.digest, presented) && userId === undefined) userId = k.userId;
    }
    return userId;
  };
}

/** The token of a request: `Authorization: Bearer …`, or the `qstash_token` query parameter. */
export function requestToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h) {
    const m = /^Bearer\s+(.+)$/i.exec(h.trim());
    return m ? m[1].trim() : undefined;
  }
  const q = req.query as Record<string, unknown>;
  const t = q?.qstash_token;
  return typeof t === "string" && t ? t : undefined;
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
