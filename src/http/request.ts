import type { FastifyRequest } from "fastify";
import type { Config } from "../config.js";
import type { Engine } from "../engine/engine.js";
import type { StoreReads } from "../engine/reads.js";
import type { LeaderLocator } from "../cluster/leader-locator.js";
import type { Scheduler } from "../engine/scheduler.js";
import type { Settings } from "../engine/settings.js";
import { HttpError } from "../errors.js";
import { exceedsJsonDepth, MAX_JSON_DEPTH } from "../protocol/json-depth.js";
import type { WorkflowDlq } from "../workflow/dlq.js";
import type { Waits } from "../workflow/waiters.js";
import type { Workflows } from "../workflow/workflows.js";

/**
 * The one way into the application from HTTP: every route plugin gets these services (built in `server.ts`) and
 * reads its request through the helpers below. Routes import this file, never `app.ts` or each other.
 */
export interface AppDeps {
  engine: Engine;
  /** Read-only store access for what the API shows. */
  reads: StoreReads;
  scheduler: Scheduler;
  settings: Settings;
  workflows: Workflows;
  waits: Waits;
  workflowDlq: WorkflowDlq;
  config: Config;
  /** This node's readiness: whether it holds its lease (always, for the sole node of a store), and whether it leads. */
  readiness(): Readiness;
  /** In a cluster: where the leader is, for reads only it can answer exactly. */
  leader?: LeaderLocator;
}

export interface Readiness {
  ready: boolean;
  /** The node's id in a cluster. */
  node?: string;
  leader: boolean;
}

/** Parses a JSON request body with an error that says what is wrong; nesting is bounded (see json-depth.ts). */
export function jsonBody(req: FastifyRequest): unknown {
  const raw = req.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) throw new HttpError(400, "request body must be JSON");
  const text = raw.toString("utf8");
  if (exceedsJsonDepth(text)) throw new HttpError(400, `request body is JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `request body is not valid JSON: ${(e as Error).message}`);
  }
}

export function rawBody(req: FastifyRequest): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

/** The raw path remainder after `prefix` and the raw query, exactly as the client sent them (SPEC §0.3). */
export function rawRemainder(req: FastifyRequest, prefix: string): { remainder: string; query: string } {
  const url = req.raw.url ?? "";
  const q = url.indexOf("?");
  const path = q === -1 ? url : url.slice(0, q);
  return { remainder: path.slice(path.indexOf(prefix) + prefix.length), query: q === -1 ? "" : url.slice(q + 1) };
}

/** A message body over the configured limit is a 413 naming the setting. */
export function assertBodySize(body: Buffer, maxBodyBytes: number): void {
  if (body.length > maxBodyBytes) {
    throw new HttpError(413, `message body is larger than the configured limit maxBodyBytes (${maxBodyBytes} bytes)`);
  }
}
