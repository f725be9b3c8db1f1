import { useState } from "preact/hooks";
import { api } from "./api.js";
import { CreateForm } from "./form.js";
import { Action, Ago, Badge, Body, Empty, enc, ErrorNote, Fields, Headers, html, link, Loading, Section, useLoad } from "./ui.js";

const CREATE_FIELDS = [
  ["destination", "Destination (URL or URL group)", "https://example.com/job", true],
  ["cron", "Cron", "*/5 * * * *", true],
  ["method", "Method", "POST"],
  ["retries", "Retries", "3"],
  ["delay", "Delay", "e.g. 10s"],
  ["queueName", "Queue", ""],
  ["contentType", "Content-Type", "application/json"],
  ["body", "Body", '{"hello":"world"}'],
];

/** The create call is the API's own: `POST /v2/schedules/{destination}` with `Upstash-*` headers. */
function createSchedule(v) {
  const headers = { "Upstash-Cron": v.cron ?? "" };
  if (v.method) headers["Upstash-Method"] = v.method;
  if (v.retries) headers["Upstash-Retries"] = v.retries;
  if (v.delay) headers["Upstash-Delay"] = v.delay;
  if (v.queueName) headers["Upstash-Queue-Name"] = v.queueName;
  if (v.contentType) headers["Content-Type"] = v.contentType;
  return api("POST", `/v2/schedules/${v.destination ?? ""}`, { headers, body: v.body ?? "" });
}

function PauseResume({ s, done }) {
  return s.isPaused
    ? html`<${Action} label="Resume" run=${() => api("POST", `/v2/schedules/${enc(s.scheduleId)}/resume`)} done=${done} />`
    : html`<${Action} label="Pause" run=${() => api("POST", `/v2/schedules/${enc(s.scheduleId)}/pause`)} done=${done} />`;
}

export function ScheduleList() {
  const { data, error, loading, reload } = useLoad(() => api("GET", "/v2/schedules"), []);
  return html`<h1>Schedules</h1>
    <${CreateForm} title="New schedule" fields=${CREATE_FIELDS} submit=${createSchedule} done=${reload} />
    <${ErrorNote} error=${error} />
    ${!data && loading
      ? html`<${Loading} what="schedules" />`
      : data &&
        (data.length === 0
          ? html`<${Empty} title="No schedules">Create one above, or with the SDK: <code>client.schedules.create({ destination, cron })</code>.<//>`
          : html`<div class="table-wrap"><table class="list">
              <thead><tr><th>Schedule</th><th>Cron</th><th>Destination</th><th>State</th><th>Next</th><th>Last</th><th></th></tr></thead>
              <tbody>
                ${data.map(
                  (s) => html`<tr>
                    <td class="mono">${link(`/schedules/${enc(s.scheduleId)}`, s.scheduleId)}</td>
                    <td class="mono">${s.cron}</td>
                    <td class="wrap">${s.destination}</td>
                    <td><${Badge} value=${s.isPaused ? "paused" : "active"} /></td>
                    <td>${s.nextScheduleTime ? html`<${Ago} ms=${s.nextScheduleTime} />` : ""}</td>
                    <td>${s.lastScheduleTime ? html`<${Ago} ms=${s.lastScheduleTime} />` : html`<span class="muted">never</span>`}</td>
                    <td class="row-actions"><${PauseResume} s=${s} done=${reload} /></td>
                  </tr>`,
                )}
              </tbody>
            </table></div>`)}`;
}

/** One schedule: its settings, its next ticks (from the console's tick endpoint) and its last messages' states. */
export function SchedulePage({ param: id }) {
  const { data: s, error, reload } = useLoad(() => api("GET", `/v2/schedules/${enc(id)}`), [id]);
  const ticks = useLoad(() => api("GET", `/v2/console/schedules/${enc(id)}/ticks`, { query: { count: 5 } }), [id, s?.isPaused]);
  const [deleted, setDeleted] = useState(false);
  if (deleted) return html`<h1 class="mono">${id}</h1><div class="notice">Deleted. Back to ${link("/schedules", "Schedules")}.</div>`;
  if (!s) return error ? html`<h1 class="mono">${id}</h1><${ErrorNote} error=${error} />` : html`<${Loading} what="the schedule" />`;
  const last = Object.entries(s.lastScheduleStates ?? {});
  return html`<h1 class="mono">${id}</h1>
    <${Section}
      title="Schedule"
      actions=${html`<${PauseResume} s=${s} done=${reload} />
        <${Action} label="Delete" tone="danger" confirm=${`Delete schedule ${id}? Messages it already published are kept.`}
          run=${() => api("DELETE", `/v2/schedules/${enc(id)}`)} done=${() => setDeleted(true)} />`}
    >
      <${Fields}
        rows=${[
          ["State", html`<${Badge} value=${s.isPaused ? "paused" : "active"} />`],
          ["Cron", html`<code>${s.cron}</code>`],
          ["Destination", s.destination],
          ["Method", s.method],
          ["Retries", s.retries],
          ["Delay", s.delay !== undefined ? `${s.delay} s` : undefined],
          ["Queue", s.queueName],
          ["Created", html`<${Ago} ms=${s.createdAt} />`],
          ["Last tick", s.lastScheduleTime && html`<${Ago} ms=${s.lastScheduleTime} />`],
        ]}
      />
    <//>
    <div class="two-col">
      <${Section} title=${s.isPaused ? "Next ticks (once resumed)" : "Next ticks"}>
        <${ErrorNote} error=${ticks.error} />
        ${ticks.data && (ticks.data.ticks.length ? html`<ol class="plain-list ticks">${ticks.data.ticks.map((t) => html`<li><${Ago} ms=${t} /></li>`)}</ol>` : html`<p class="muted">This cron has no further tick.</p>`)}
      <//>
      <${Section} title="Last tick's messages">
        ${last.length === 0
          ? html`<p class="muted">No tick has fired yet.</p>`
          : html`<ul class="plain-list">${last.map(([mid, st]) => html`<li><${Badge} value=${st} /> ${link(`/messages/${enc(mid)}`, mid)}</li>`)}</ul>`}
        <p class="small">${link(`/messages?scheduleId=${enc(id)}`, "All messages of this schedule")}</p>
      <//>
    </div>
    <div class="two-col">
      <${Section} title="Headers"><${Headers} headers=${s.header} /><//>
      <${Section} title="Body"><${Body} text=${s.body} base64=${s.bodyBase64} /><//>
    </div>`;
}
