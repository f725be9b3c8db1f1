import type { FastifyRequest } from "fastify";
import { badRequest } from "../errors.js";
import { knownQuery, type EndpointParams } from "./endpoint-params.js";
import { countParam, list, one, rejectEmptyFilters, type Query } from "./query.js";

/** At most this many items are touched by one bulk call (DECISIONS #20); a larger `count` is a 400. */
export const MAX_BULK_COUNT = 500;
/** What the SDKs send when the caller gives no `count`. */
const DEFAULT_BULK_COUNT = 100;

export interface BulkScope {
  q: Query;
  /** The ids given (exclusive of filters), or undefined for a selection by filters or of everything. */
  ids?: string[];
  /** How many items this call may touch: the number of ids given, else `count`. */
  count: number;
}

/**
 * The guards every destructive bulk call passes before it selects anything (DECISIONS #20), so a typo never widens
 * it to everything the user has: no empty id in the path, no unknown or empty parameter, `all` only as
 * `all=true` and never beside ids or filters, ids without filters or `count`, and `count` within 1–500.
 * No ids and no filters is "all": that is how both SDKs send `{all: true}` (only `count`, SPEC §2.2).
 */
export function bulkScope(req: FastifyRequest, params: EndpointParams, noun: string): BulkScope {
  const path = req.url.split("?", 1)[0];
  // The router ignores a trailing slash, so `DELETE /v2/messages/` (an id left empty) would reach the bulk route.
  if (path.endsWith("/")) throw badRequest(`empty ${noun} id in ${req.method} ${path}: give an id, or select with filters or all=true`);
  const q = knownQuery(req, params);
  rejectEmptyFilters(q, [...params.ids, ...params.filters]);
  const filters = params.filters.filter((name) => q[name] !== undefined);
  const ids = list(q, ...params.ids);
  if (q.all !== undefined) {
    if (one(q, "all") !== "true") throw badRequest(`invalid all "${one(q, "all") ?? ""}": only all=true selects everything`);
    if (ids || filters.length) throw badRequest(`all=true selects everything: leave out ${ids ? params.ids[0] : filters.join(", ")}`);
  }
  if (!ids) return { q, count: countParam(q, DEFAULT_BULK_COUNT, MAX_BULK_COUNT) };
  if (filters.length) throw badRequest(`${params.ids[0]} selects exactly those ${noun}s: leave out ${filters.join(", ")}`);
  // An id list is never cut short: the caller would not know which of its ids were left.
  if (q.count !== undefined) throw badRequest(`count applies to filters and all=true, not to ${params.ids[0]}: every given id is acted on`);
  if (ids.length > MAX_BULK_COUNT) throw badRequest(`too many ${params.ids[0]} (${ids.length}): at most ${MAX_BULK_COUNT} per call`);
  return { q, ids, count: ids.length };
}
