import type { MessageFilter } from "../store.js";

/**
 * Builds the WHERE clause for a MessageFilter over `messages m` (and, where given, the row table `r` that
 * holds the time and state columns). Values are always bound, never interpolated.
 */
export function filterSql(
  filter: MessageFilter,
  opts: { timeColumn: string; stateColumn?: string; dlq?: boolean },
): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const anyOf = (column: string, values: readonly unknown[] | undefined): void => {
    if (!values || values.length === 0) return;
    where.push(`${column} IN (${values.map(() => "?").join(",")})`);
    params.push(...values);
  };
  if (filter.workflow !== undefined) where.push(filter.workflow ? "m.run_id IS NOT NULL" : "m.run_id IS NULL");
  if (opts.dlq && filter.failedRun) {
    // The entry is the one its run failed with; the run's own filters are ignored when ids are given.
    const f = filter.dlqIds?.length ? {} : filter.failedRun;
    const cond = ["w.user_id = m.user_id", "w.run_id = m.run_id", "json_extract(w.spec, '$.dlqId') = r.dlq_id"];
    const runParams: unknown[] = [];
    const runAnyOf = (expr: string, values: readonly unknown[] | undefined): void => {
      if (!values || values.length === 0) return;
      cond.push(`${expr} IN (${values.map(() => "?").join(",")})`);
      runParams.push(...values);
    };
    runAnyOf("w.url", f.url);
    runAnyOf("w.caller_ip", f.callerIp);
    runAnyOf("json_extract(w.spec, '$.failureFunction.state')", f.failureFunctionState);
    if (f.createdAt !== undefined) {
      cond.push("w.created_ms = ?");
      runParams.push(f.createdAt);
    }
    where.push(`EXISTS (SELECT 1 FROM wf_runs w WHERE ${cond.join(" AND ")})`);
    params.push(...runParams);
  }
  if (filter.messageIds?.length) {
    anyOf("m.id", filter.messageIds);
    return { where, params };
  }
  if (opts.dlq && filter.dlqIds?.length) {
    anyOf("r.dlq_id", filter.dlqIds);
    return { where, params };
  }
  if (filter.messageId) {
    where.push("m.id = ?");
    params.push(filter.messageId);
  }
  anyOf("m.url", filter.url);
  anyOf("m.topic_name", filter.topicName);
  anyOf("m.endpoint_name", filter.endpointName);
  anyOf("m.schedule_id", filter.scheduleId);
  anyOf("m.queue_name", filter.queueName);
  anyOf("m.flow_key", filter.flowControlKey);
  anyOf("m.caller_ip", filter.callerIp);
  anyOf("m.host", filter.host);
  anyOf("m.path", filter.path);
  anyOf("m.run_id", filter.runId);
  if (filter.label?.length) {
    where.push(`EXISTS (SELECT 1 FROM json_each(m.labels) WHERE value IN (${filter.label.map(() => "?").join(",")}))`);
    params.push(...filter.label);
  }
  if (filter.fromDate !== undefined) {
    where.push(`${opts.timeColumn} >= ?`);
    params.push(filter.fromDate);
  }
  if (filter.toDate !== undefined) {
    where.push(`${opts.timeColumn} <= ?`);
    params.push(filter.toDate);
  }
  if (opts.stateColumn) anyOf(opts.stateColumn, filter.state);
  if (opts.dlq) anyOf("r.response_status", filter.responseStatus);
  return { where, params };
}
