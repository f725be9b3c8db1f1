import { timingSafeEqual } from "node:crypto";
import { sha256 } from "../digest.js";
import type { FastifyRequest } from "fastify";
import { readOnlyTokenFor, tokenFor, type UserConfig } from "../config.js";

/** Whose a token is, and whether it is the user's read-only token. */
export interface TokenOwner {
  userId: string;
  readOnly: boolean;
}

/**
 * Finds the user a token belongs to. Tokens are compared as SHA-256 digests with timingSafeEqual, against every
 * token of every user without stopping at a match, so the time taken tells neither how much of a token matched,
 * nor its length, nor which user (or which of a user's tokens) it was.
 */
export function tokenLookup(users: UserConfig[]): (token: string) => TokenOwner | undefined {
  const known = users.flatMap((u) => {
    const readOnly = readOnlyTokenFor(u);
    return [
      { owner: { userId: u.userId, readOnly: false }, digest: sha256(tokenFor(u)) },
      ...(readOnly === undefined ? [] : [{ owner: { userId: u.userId, readOnly: true }, digest: sha256(readOnly) }]),
    ];
  });
  return (token) => {
    const presented = sha256(token);
    let owner: TokenOwner | undefined;
    for (const k of known) {
      if (timingSafeEqual(k.digest, presented) && owner === undefined) owner = k.owner;
    }
    return owner;
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
