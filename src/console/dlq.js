import { useState } from "preact/hooks";
import { api } from "./api.js";
import { MESSAGE_FILTERS, ORDER_FILTER, ORIGIN_FILTERS } from "./filter-fields.js";
import { useOverrides } from "./overrides.js";
import {
  Action, Ago, Body, Empty, enc, ErrorNote, Fields, Filters, Headers, html, link, Loading, Pager, Section, toApiDates,
  useCursorPages, useLoad, useSelection,
} from "./ui.js";

/** Every filter of `GET /v2/dlq`. */
const DLQ_FILTERS = [...MESSAGE_FILTERS, { name: "responseStatus", placeholder: "e.g. 500" }, ...ORIGIN_FILTERS, ORDER_FILTER];
const PAGE_SIZE = 25;
const entries = (n) => `${n} DLQ ${n === 1 ? "entry" : "entries"}`;

/** The plain DLQ: filter, select one or many, retry (with overrides) or delete them. */
export function DlqList() {
  const [filters, setFilters] = useState({});
  const selected = useSelection();
  const pages = useCursorPages(JSON.stringify(filters));
  const [overrides, headers] = useOverrides();
  const { data, error, loading, reload } = useLoad(
    () => api("GET", "/v2/dlq", { query: { ...toApiDates(filters), count: PAGE_SIZE, cursor: pages.cursor } }),
    [filters, pages.cursor],
  );
  const ids = selected.ids;
  const afterAction = () => (selected.clear(), reload());
  const messages = data?.messages ?? [];
  return html`<h1>Dead-letter queue</h1>
    <p class="muted">Messages whose retries ran out. Retry them (a new message each, with any override below) or delete them. Workflow runs that failed are in ${link("/workflow-dlq", "Workflow DLQ")}.</p>
    <${Filters} fields=${DLQ_FILTERS} value=${filters} onApply=${(f) => (selected.clear(), setFilters(f))} />
    <${ErrorNote} error=${error} />
    <div class="toolbar">
      <span class="muted">${ids.length} selected</span>
      <${Action} label="Retry selected" disabled=${!ids.length} confirm=${`Retry ${entries(ids.length)}? Each is published again as a new message${Object.keys(headers).length ? " with your overrides" : ""}.`}
        run=${() => api("POST", "/v2/dlq/retry", { query: { dlqIds: ids.join(",") }, headers })} done=${afterAction} />
      <${Action} label="Delete selected" tone="danger" disabled=${!ids.length} confirm=${`Delete ${entries(ids.length)}? This cannot be undone.`}
        run=${() => api("DELETE", "/v2/dlq", { query: { dlqIds: ids.join(",") } })} done=${afterAction} />
    </div>
    ${overrides}
    ${!data && loading
      ? html`<${Loading} what="the DLQ" />`
      : data &&
        (messages.length === 0
          ? html`<${Empty} title=${Object.keys(filters).length ? "No DLQ entry matches these filters" : "The DLQ is empty"}>A message lands here when its last retry fails; nothing to do until then.<//>`
          : html`<div class="table-wrap"><table class="list">
              <thead><tr>
                <th><input type="checkbox" aria-label="Select all on this page" checked=${messages.every((m) => selected.has(m.dlqId))}
                  onChange=${(e) => selected.set(e.target.checked ? messages.map((m) => m.dlqId) : [])} /></th>
                <th>Failed</th><th>DLQ id</th><th>Message</th><th>Destination</th><th>Response</th>
              </tr></thead>
              <tbody>
                ${messages.map(
                  (m) => html`<tr>
                    <td><input type="checkbox" aria-label=${`Select ${m.dlqId}`} checked=${selected.has(m.dlqId)} onChange=${() => selected.toggle(m.dlqId)} /></td>
                    <td><${Ago} ms=${m.failedAt} /></td>
                    <td class="mono">${link(`/dlq/${enc(m.dlqId)}`, m.dlqId)}</td>
                    <td class="mono">${link(`/messages/${enc(m.messageId)}`, m.messageId)}</td>
                    <td class="wrap">${m.url}</td>
                    <td>${m.responseStatus ?? ""} <span class="muted">${(m.error ?? "").slice(0, 60)}</span></td>
                  </tr>`,
                )}
              </tbody>
            </table></div>
            <${Pager} pages=${pages} nextCursor=${data.cursor} shown=${messages.length} />`)}`;
}

/** One DLQ entry: why it failed, what it carried; retry or delete it. */
export function DlqPage({ param: id }) {
  const { data, error } = useLoad(() => api("GET", `/v2/dlq/${enc(id)}`), [id]);
  const [overrides, headers] = useOverrides();
  const [outcome, setOutcome] = useState();
  if (outcome) return html`<h1 class="mono">${id}</h1><div class="notice">${outcome} Back to ${link("/dlq", "the DLQ")}.</div>`;
  if (!data) return error ? html`<h1 class="mono">${id}</h1><${ErrorNote} error=${error} />` : html`<${Loading} what="the DLQ entry" />`;
  return html`<h1 class="mono">${id}</h1>
    <${Section}
      title="Failed message"
      actions=${html`
        <${Action} label="Retry" confirm=${`Retry 1 DLQ entry (${id})?`} run=${() => api("POST", `/v2/dlq/retry/${enc(id)}`, { headers })}
          done=${(r) => setOutcome(html`Retried as ${link(`/messages/${enc(r.messageId)}`, r.messageId)}.`)} />
        <${Action} label="Delete" tone="danger" confirm=${`Delete 1 DLQ entry (${id})? This cannot be undone.`}
          run=${() => api("DELETE", `/v2/dlq/${enc(id)}`)} done=${() => setOutcome("Deleted.")} />`}
    >
      ${overrides}
      <${Fields}
        rows=${[
          ["Message", link(`/messages/${enc(data.messageId)}`, data.messageId)],
          ["Destination", data.url],
          ["Method", data.method],
          ["Failed", html`<${Ago} ms=${data.failedAt} />`],
          ["Created", html`<${Ago} ms=${data.createdAt} />`],
          ["Response status", data.responseStatus],
          ["Error", data.error],
          ["Retries", data.maxRetries],
          ["Queue", data.queueName],
          ["Flow-control key", data.flowControlKey],
          ["Labels", data.labels?.join(", ")],
        ]}
      />
    <//>
    <div class="two-col">
      <${Section} title="Last response">
        ${data.responseHeader && html`<${Headers} headers=${data.responseHeader} />`}
        <${Body} text=${data.responseBody} base64=${data.responseBodyBase64} empty="(no response body)" />
      <//>
      <${Section} title="Message body"><${Body} text=${data.body} base64=${data.bodyBase64} /><//>
    </div>
    <${Section} title="Headers"><${Headers} headers=${data.header} /><//>`;
}
