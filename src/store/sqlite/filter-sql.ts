import type { MessageFilter } from "../store.js";

/** A list of AND-ed conditions with their bound values: values are always bound, never interpolated. */
export class Conditions {
  readonly where: string[] = [];
  readonly params: unknown[] = [];

  add(clause: string, ...params: unknown[]): void {
    this.where.push(clause);
    this.params.push(...params);
  }

  /** `expr IN (…)`; nothing when `values` is absent or empty. */
  anyOf(expr: string, values: readonly unknown[] | undefined): void {
    if (!values || values.length === 0) return;
    this.add(`${expr} IN (${values.map(() => "?").join(",")})`, ...values);
  }

  /** Rows whose JSON array column `labelsColumn` holds any of `labels`. */
  anyLabel(labelsColumn: string, labels: readonly string[] | undefined): void {
    if (!labels || labels.length === 0) return;
    this.add(`EXISTS (SELECT 1 FROM json_each(${labelsColumn}) WHERE value IN (${labels.map(() => "?").join(",")}))`, ...labels);
  }

  /** `from ≤ column ≤ to`, each bound only when given. */
  between(column: string, from: number | undefined, to: number | undefined): void {
    if (from !== undefined) this.add(`${column} >= ?`, from);
    if (to !== undefined) this.add(`${column} <= ?`, to);
  }
}

/**
 * Builds the WHERE clause for a MessageFilter over `messages m` (and, where given, the row table `r` that
 * holds the time and state columns).
 */
export function filterSql(
  filter: MessageFilter,
  opts: { timeColumn: string; stateColumn?: string; dlq?: boolean },
): { where: string[]; params: unknown[] } {
  const c = new Conditions();
  if (filter.workflow !== undefined) c.add(filter.workflow ? "m.run_id IS NOT NULL" : "m.run_id IS NULL");
  if (opts.dlq && filter.failedRun) {
    // The entry is the one its run failed with; the run's own filters are ignored when ids are given.
    const f = filter.dlqIds?.length ? {} : filter.failedRun;
    const run = new Conditions();
    run.add("w.user_id = m.user_id");
    run.add("w.run_id = m.run_id");
    run.add("json_extract(w.spec, '$.dlqId') = r.dlq_id");
    run.anyOf("w.url", f.url);
    run.anyOf("w.caller_ip", f.callerIp);
    run.anyOf("json_extract(w.spec, '$.failureFunction.state')", f.failureFunctionState);
    if (f.createdAt !== undefined) run.add("w.created_ms = ?", f.createdAt);
    c.add(`EXISTS (SELECT 1 FROM wf_runs w WHERE ${run.where.join(" AND ")})`, ...run.params);
  }
  if (filter.messageIds?.length) {
    c.anyOf("m.id", filter.messageIds);
    return c;
  }
  if (opts.dlq && filter.dlqIds?.length) {
    c.anyOf("r.dlq_id", filter.dlqIds);
    return c;
  }
  if (filter.messageId) c.add("m.id = ?", filter.messageId);
  c.anyOf("m.url", filter.url);
  c.anyOf("m.topic_name", filter.topicName);
  c.anyOf("m.endpoint_name", filter.endpointName);
  c.anyOf("m.schedule_id", filter.scheduleId);
  c.anyOf("m.queue_name", filter.queueName);
  c.anyOf("m.flow_key", filter.flowControlKey);
  c.anyOf("m.caller_ip", filter.callerIp);
  c.anyOf("m.host", filter.host);
  c.anyOf("m.path", filter.path);
  c.anyOf("m.run_id", filter.runId);
  c.anyLabel("m.labels", filter.label);
  c.between(opts.timeColumn, filter.fromDate, filter.toDate);
  if (opts.stateColumn) c.anyOf(opts.stateColumn, filter.state);
  if (opts.dlq) c.anyOf("r.response_status", filter.responseStatus);
  return c;
}
