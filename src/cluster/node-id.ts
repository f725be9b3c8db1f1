import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

/**
 * A node's id: new on every start (a process that restarts, or loses its lease and starts again, is a new node, so
 * nothing fenced on the old id can ever match it again). Host and pid first, for operators reading `sluice_node`.
 */
export function newNodeId(): string {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, "").slice(0, 40) || "node";
  return `${host}-${process.pid}-${randomBytes(4).toString("hex")}`;
}
