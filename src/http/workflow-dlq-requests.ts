import type { FastifyRequest } from "fastify";
import { badRequest } from "../errors.js";
import type { MessageFilter, Page } from "../store/store.js";
import { workflowDlqJson, type WorkflowDlq } from "../workflow/dlq.js";
import { bulkScope, type BulkScope } from "./bulk-scope.js";
import { knownQuery, PARAMS } from "./endpoint-params.js";
import { cursorParam, intParam, orderParam, parseWorkflowDlqFilter, type Query } from "./query.js";

/**
 * Listing and bulk deleting workflow DLQ entries, shared by `/v2/workflows/dlq` and the SDK's
 * `/v2/dlq?source=workflow` (SPEC §5.11).
 */

/** A page of a bulk selection: every given id, or `count` entries after the cursor. */
export function bulkPage({ q, ids, count }: BulkScope): Page {
  return ids ? { count } : { cursor: cursorParam(q), count, asc: orderParam(q) };
}

/** The bulk selection of a delete, resume or restart; workflow DLQ routes do not take `host` or `path`. */
export function bulkSelection(req: FastifyRequest): { scope: BulkScope; filter: MessageFilter } {
  rejectHostPath(req.query as Query);
  const scope = bulkScope(req, PARAMS.workflowDlqBulk, "workflow DLQ entry");
  return { scope, filter: parseWorkflowDlqFilter(scope.q) };
}

/** Named apart from other unknown parameters: they are filters elsewhere, so the caller may expect them here. */
function rejectHostPath(q: Query): void {
  for (const name of ["host", "path", "host[]", "path[]"]) {
    if (q[name] !== undefined) throw badRequest(`filter ${name.replace("[]", "")} is not supported by the workflow DLQ`);
  }
}

export const withCursor = (cursor: string | undefined): { cursor?: string } => (cursor ? { cursor } : {});

/** `GET /v2/workflows/dlq` and the SDK's `GET /v2/dlq?source=workflow`: `{messages, cursor?}`. */
export async function listWorkflowDlq(dlq: WorkflowDlq, req: FastifyRequest): Promise<Record<string, unknown>> {
  rejectHostPath(req.query as Query);
  const q = knownQuery(req, PARAMS.workflowDlqList);
  const filter = parseWorkflowDlqFilter(q);
  const ids = filter.dlqIds?.length;
  const page = await dlq.list(
    req.userId,
    filter,
    ids ? { count: ids } : { cursor: cursorParam(q), count: intParam(q, "count", 100, 1, 100), asc: orderParam(q) },
  );
  return { messages: page.items.map(workflowDlqJson), ...withCursor(page.cursor) };
}

/** `DELETE /v2/workflows/dlq` (and `DELETE /v2/dlq?source=workflow`): ids, filters, or everything (`?count=100`). */
export async function deleteWorkflowDlq(dlq: WorkflowDlq, req: FastifyRequest): Promise<Record<string, unknown>> {
  const { scope, filter } = bulkSelection(req);
  const page = await dlq.list(req.userId, filter, bulkPage(scope));
  const deleted = await dlq.delete(req.userId, page.items.map((f) => f.entry.dlqId));
  return { deleted, ...withCursor(page.cursor) };
}

