import type { FastifyReply, FastifyRequest } from "fastify";
import type { LeaderLocator } from "../cluster/leader-locator.js";

/** Marks a request one node passed to the leader, so it is never passed on again. */
const FORWARDED = "sluice-forwarded-by";
const FORWARD_TIMEOUT_MS = 2000;


/**
 * A read whose exact answer is in the leader's memory (a flow-control key's live counts and effective limits, the
 * console's in-flight and waiting figures) is passed to the leader when another node leads, with the caller's
 * token, and its answer returned as it is. When the leader cannot be reached, or its URL answers with a 5xx, the
 * local answer is given instead: this node's view (settings it keeps in step, counts from the store).
 */
export async function answeredByLeader(req: FastifyRequest, reply: FastifyReply, locator: LeaderLocator | undefined): Promise<boolean> {
  if (!locator || req.headers[FORWARDED] !== undefined) return false;
  const url = await locator.leaderUrl().catch(() => undefined);
  if (!url) return false;
  try {
    const res = await fetch(url + req.url, {
      headers: { authorization: req.headers.authorization ?? "", [FORWARDED]: locator.nodeId },
      signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
    });
    // A proxy at the advertised URL answers 502-504 for a leader that is gone, and a leader whose store fails a 500:
    // neither is the leader's figures, and this node's own view is better than passing the error on.
    if (res.status >= 500) {
      await res.body?.cancel();
      req.log.debug({ leader: url, status: res.status }, "the leader's URL answered a read passed to it with an error; answering here");
      return false;
    }
    const body = Buffer.from(await res.arrayBuffer());
    reply.code(res.status).header("content-type", res.headers.get("content-type") ?? "application/json").send(body);
    return true;
  } catch (err) {
    req.log.debug({ err, leader: url }, "the leader did not answer a read passed to it; answering here");
    return false;
  }
}
