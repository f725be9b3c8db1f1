import type { MessageFilter } from "./store.js";
import { sqliteDialect, type SqlDialect } from "./sql-dialect.js";
import type { RunFilter } from "../model/run.js";

/**
 * A list of AND-ed conditions with their bound values: values are always bound, never interpolated. Clauses are
 * written with `?` and numbered in the dialect's way as they are added, so one statement can be built from
 * several builders in order (the caller's own conditions, then a filter's, then a LIMIT via `bind`).
 */
export class Conditions {
  readonly where: string[] = [];
  readonly params: unknown[] = [];

  constructor(
    readonly dialect: SqlDialect = sqliteDialect,
    /** A nested builder keeps its `?` as they are: the clause it becomes part of is numbered when added. */
    private readonly numbered = true,
  ) {}

  /** A builder for a sub-clause (an EXISTS), added to this one with `add(clause, ...nested.params)`. */
  nested(): Conditions {
    return new Conditions(this.dialect, false);
  }

  add(clause: string, ...params: unknown[]): void {
    this.where.push(this.number(clause));
    this.params.push(...params);
  }

  /** Binds one value outside the WHERE clause (a LIMIT) and returns its placeholder. */
  bind(value: unknown): string {
    this.params.push(value);
    return this.numbered ? this.dialect.placeholder(this.params.length) : "?";
  }

  /** `expr` is one of `values`; nothing when `values` is absent or empty. */
  anyOf(expr: string, values: readonly unknown[] | undefined): void {
    if (!values || values.length === 0) return;
    this.add(this.dialect.anyOf(expr, values.length), ...this.dialect.anyOfValues(values));
  }

  /** Rows whose labels column `labelsColumn` holds any of `labels`. */
  anyLabel(labelsColumn: string, labels: readonly string[] | undefined): void {
    if (!labels || labels.length === 0) return;
    this.add(this.dialect.anyLabel(labelsColumn, labels.length), ...this.dialect.labelValues(labels));
  }

  /** `from ≤ column ≤ to`, each bound only when given. */
  between(column: string, from: number | undefined, to: number | undefined): void {
    if (from !== undefined) this.add(`${column} >= ?`, from);
    if (to !== undefined) this.add(`${column} <= ?`, to);
  }

  /** The conditions as one SQL fragment, for `WHERE …`. */
  sql(): string {
    return this.where.length === 0 ? "TRUE" : this.where.join(" AND ");
  }

  private number(clause: string): string {
    if (!this.numbered) return clause;
    let n = this.params.length;
    return clause.replace(/\?/g, () => this.dialect.placeholder(++n));
  }
}

/**
 * Adds the conditions of a MessageFilter over `messages m` (and, where given, the row table `r` that holds the
 * time and state columns) to `c`, and returns it.
 */
export function filterSql(
  filter: MessageFilter,
  opts: { timeColumn: string; stateColumn?: string; dlq?: boolean },
  c: Conditions = new Conditions(),
): Conditions {
  if (filter.workflow !== undefined) c.add(filter.workflow ? "m.run_id IS NOT NULL" : "m.run_id IS NULL");
  if (opts.dlq && filter.failedRun) {
    // The entry is the one its run failed with; the run's own filters are ignored when ids are given.
    const f = filter.dlqIds?.length ? {} : filter.failedRun;
    const run = c.nested();
    run.add("w.user_id = m.user_id");
    run.add("w.run_id = m.run_id");
    run.add(`${c.dialect.jsonText("w.spec", ["dlqId"])} = r.dlq_id`);
    run.anyOf("w.url", f.url);
    run.anyOf("w.caller_ip", f.callerIp);
    run.anyOf(c.dialect.jsonText("w.spec", ["failureFunction", "state"]), f.failureFunctionState);
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

/**
 * Adds the conditions of a RunFilter over `wf_runs` (one user's runs, after the page cursor) to `c`. The cursor
 * is the `<created_ms>_<run_id>` of the last run of the previous page, newest first.
 */
export function runFilterSql(userId: string, filter: RunFilter, cursor: string | undefined, c: Conditions = new Conditions()): Conditions {
  c.add("user_id = ?", userId);
  c.anyOf("run_id", filter.runIds);
  c.anyOf("state", filter.state);
  c.anyOf("caller_ip", filter.callerIp);
  c.anyOf("flow_key", filter.flowControlKey);
  c.anyOf("host", filter.host);
  c.anyOf("path", filter.path);
  c.anyOf("url", filter.url);
  if (filter.urlPrefix?.length) {
    c.add(`(${filter.urlPrefix.map(() => "substr(url, 1, ?) = ?").join(" OR ")})`, ...filter.urlPrefix.flatMap((p) => [p.length, p]));
  }
  c.anyLabel("labels", filter.label);
  if (filter.createdAt !== undefined) c.add("created_ms = ?", filter.createdAt);
  c.between("created_ms", filter.fromDate, filter.toDate);
  if (cursor) {
    const sep = cursor.indexOf("_");
    const ms = Number(cursor.slice(0, sep));
    const id = cursor.slice(sep + 1);
    if (sep > 0 && Number.isFinite(ms)) c.add("(created_ms < ? OR (created_ms = ? AND run_id < ?))", ms, ms, id);
  }
  return c;
}
