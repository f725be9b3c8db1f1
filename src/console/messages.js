import { useState } from "preact/hooks";
import { api } from "./api.js";
import { MESSAGE_FILTERS, ORDER_FILTER, ORIGIN_FILTERS } from "./filter-fields.js";
import {
  Action, Ago, Badge, Body, Empty, enc, ErrorNote, Fields, Filters, Headers, html, link, Loading, Pager, Section,
  toApiDates, useCursorPages, useLoad,
} from "./ui.js";

/** Every filter of `GET /v2/logs` (DECISIONS #20), under the API's own names. */
const LOG_FILTERS = [
  { name: "state", options: ["CREATED", "ACTIVE", "RETRY", "ERROR", "DELIVERED", "FAILED", "CANCEL_REQUESTED", "CANCELLED", "IN_PROGRESS"] },
  ...MESSAGE_FILTERS,
  ...ORIGIN_FILTERS,
  ORDER_FILTER,
];
const PAGE_SIZE = 25;

/** The message log: every state change of every message, filtered and paged. */
export function MessageLog() {
  const [filters, setFilters] = useState(() => Object.fromEntries(new URLSearchParams(location.hash.split("?")[1] ?? "")));
  const pages = useCursorPages(JSON.stringify(filters));
  const { data, error, loading } = useLoad(
    () => api("GET", "/v2/logs", { query: { ...toApiDates(filters), count: PAGE_SIZE, cursor: pages.cursor } }),
    [filters, pages.cursor],
    { pollMs: pages.page === 1 ? 5000 : undefined },
  );
  return html`<h1>Messages</h1>
    <${Filters} fields=${LOG_FILTERS} value=${filters} onApply=${setFilters} />
    <${ErrorNote} error=${error} />
    ${!data && loading ? html`<${Loading} what="the log" />` : data && html`<${LogTable} logs=${data.logs} filtered=${Object.keys(filters).length > 0} />
      <${Pager} pages=${pages} nextCursor=${data.cursor} shown=${data.logs.length} />`}`;
}

function LogTable({ logs, filtered }) {
  if (!logs.length) {
    return html`<${Empty} title=${filtered ? "No log entry matches these filters" : "No messages yet"}>
      ${filtered ? "Clear a filter or widen the dates." : html`Publish one: <code>curl -X POST -H "Authorization: Bearer $QSTASH_TOKEN" ${location.origin}/v2/publish/https://example.com -d hello</code>`}
    <//>`;
  }
  return html`<div class="table-wrap"><table class="list">
    <thead><tr><th>Time</th><th>State</th><th>Message</th><th>Destination</th><th>Response</th></tr></thead>
    <tbody>
      ${logs.map(
        (l) => html`<tr>
          <td><${Ago} ms=${l.time} /></td>
          <td><${Badge} value=${l.state} /></td>
          <td class="mono">${link(`/messages/${enc(l.messageId)}`, l.messageId)}</td>
          <td class="wrap">${l.topicName ? html`<span class="muted">${l.topicName} → </span>` : ""}${l.url}</td>
          <td>${l.responseStatus ?? ""}${l.error ? html` <span class="muted" title=${l.error}>${l.error.slice(0, 60)}</span>` : ""}</td>
        </tr>`,
      )}
    </tbody>
  </table></div>`;
}

/**
 * Attempts from the log: each ERROR or DELIVERED entry is one attempt. The log records no attempt start, so the
 * time shown is from when the attempt was due (creation, or the retry's planned time) to its outcome.
 */
export function attemptsOf(logs) {
  const attempts = [];
  let dueAt = logs[0]?.time;
  for (const l of logs) {
    if (l.state === "ERROR" || l.state === "DELIVERED") attempts.push({ ...l, number: attempts.length + 1, sinceDueMs: dueAt !== undefined ? l.time - dueAt : undefined });
    if (l.state === "RETRY" && l.nextDeliveryTime) dueAt = l.nextDeliveryTime;
  }
  return attempts;
}

const duration = (ms) => (ms === undefined ? "" : ms < 1000 ? `${Math.max(0, ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

/** One message: its attempt timeline, headers, body, callbacks, and cancel while it is unfinished. */
export function MessagePage({ param: id }) {
  const { data, error, reload } = useLoad(
    () => api("GET", "/v2/logs", { query: { messageId: id, order: "asc", count: 1000 } }),
    [id],
    { pollMs: 3000 },
  );
  if (!data) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} what="the message" />`;
  const logs = data.logs;
  if (!logs.length) return html`<h1>Message</h1><${Empty} title=${`No message ${id}`}>It may have been removed by retention, or belong to another user. Back to ${link("/messages", "Messages")}.<//>`;
  const last = logs[logs.length - 1];
  const finished = ["DELIVERED", "FAILED", "CANCELLED"].includes(last.state);
  const attempts = attemptsOf(logs);
  return html`<h1 class="mono">${id}</h1>
    <${ErrorNote} error=${error} />
    <${Section}
      title="Message"
      actions=${!finished &&
      html`<${Action} label="Cancel message" tone="danger" confirm=${`Cancel message ${id}? An attempt in flight finishes first; no further attempt is made.`}
        run=${() => api("DELETE", `/v2/messages/${enc(id)}`)} done=${reload} />`}
    >
      <${Fields}
        rows=${[
          ["State", html`<${Badge} value=${last.state} />`],
          ["Destination", last.url],
          ["URL group", last.topicName && link(`/url-groups/${enc(last.topicName)}`, last.topicName)],
          ["Endpoint", last.endpointName],
          ["Queue", last.queueName && link(`/queues/${enc(last.queueName)}`, last.queueName)],
          ["Schedule", last.scheduleId && link(`/schedules/${enc(last.scheduleId)}`, last.scheduleId)],
          ["Flow-control key", last.flowControlKey],
          ["Method", last.method],
          ["Retries", last.maxRetries],
          ["Retry delay", last.retryDelayExpression],
          ["Labels", last.labels?.join(", ")],
          ["Created", html`<${Ago} ms=${logs[0].time} />`],
          ["Next attempt", !finished && last.nextDeliveryTime ? html`<${Ago} ms=${last.nextDeliveryTime} />` : undefined],
          ["Caller IP", last.callerIp],
        ]}
      />
    <//>
    <${Section} title=${`Attempts (${attempts.length})`}>
      ${attempts.length === 0
        ? html`<${Empty} title="No attempt yet">${last.nextDeliveryTime ? html`The first is due <${Ago} ms=${last.nextDeliveryTime} />.` : "It starts when the message is due and a slot is free."}<//>`
        : html`<ol class="timeline">
            ${attempts.map(
              (a) => html`<li class=${a.state === "DELIVERED" ? "ok" : "bad"}>
                <div class="timeline-head">
                  <strong>Attempt ${a.number}</strong> <${Badge} value=${a.state} /> ${a.responseStatus !== undefined && html`<span class="mono">HTTP ${a.responseStatus}</span>`}
                  <span class="muted" title="from when the attempt was due to its outcome">${duration(a.sinceDueMs)}</span>
                  <${Ago} ms=${a.time} />
                </div>
                ${a.error && html`<p class="attempt-error">${a.error}</p>`}
                ${a.responseBody !== undefined && html`<details><summary>Response body</summary><${Body} base64=${a.responseBody} /></details>`}
                ${a.responseHeaders && html`<details><summary>Response headers</summary><${Headers} headers=${a.responseHeaders} /></details>`}
              </li>`,
            )}
          </ol>`}
      <details>
        <summary>Every log entry (${logs.length})</summary>
        <ul class="plain-list">${logs.map((l) => html`<li><${Badge} value=${l.state} /> <${Ago} ms=${l.time} /></li>`)}</ul>
      </details>
    <//>
    <div class="two-col">
      <${Section} title="Headers"><${Headers} headers=${last.header} /><//>
      <${Section} title="Body"><${Body} base64=${last.body} /><//>
    </div>
    <${Section} title="Callbacks">
      ${!last.callback && !last.failureCallback
        ? html`<p class="muted">No callback: set <code>Upstash-Callback</code> or <code>Upstash-Failure-Callback</code> when publishing to be told of the outcome.</p>`
        : html`<${Fields}
            rows=${[
              ["Callback", last.callback],
              ["Failure callback", last.failureCallback],
            ]}
          />
          ${last.callbackHeaders && Object.keys(last.callbackHeaders).length > 0 && html`<h3>Callback headers</h3><${Headers} headers=${last.callbackHeaders} />`}
          ${last.failureCallbackHeaders && Object.keys(last.failureCallbackHeaders).length > 0 && html`<h3>Failure callback headers</h3><${Headers} headers=${last.failureCallbackHeaders} />`}
          <p class="muted small">A callback is a message of its own: find it in ${link("/messages", "Messages")} by its URL.</p>`}
    <//>`;
}
