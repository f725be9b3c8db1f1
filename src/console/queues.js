import { useState } from "preact/hooks";
import { api } from "./api.js";
import { CreateForm } from "./form.js";
import { Action, Ago, Badge, Empty, enc, ErrorNote, Fields, html, link, Loading, Section, useLoad } from "./ui.js";

const CREATE_FIELDS = [
  ["queueName", "Name", "jobs", true],
  ["parallelism", "Parallelism", "1"],
];

function createQueue(v) {
  const parallelism = v.parallelism?.trim() ? Number(v.parallelism) : undefined;
  return api("POST", "/v2/queues", { json: { queueName: v.queueName ?? "", ...(parallelism !== undefined ? { parallelism } : {}) } });
}

function PauseResume({ q, done }) {
  const action = q.paused ? "resume" : "pause";
  return html`<${Action} label=${q.paused ? "Resume" : "Pause"} run=${() => api("POST", `/v2/queues/${enc(q.name)}/${action}`)} done=${done} />`;
}

export function QueueList() {
  const { data, error, loading, reload } = useLoad(() => api("GET", "/v2/queues"), [], { pollMs: 5000 });
  return html`<h1>Queues</h1>
    <${CreateForm} title="New queue" fields=${CREATE_FIELDS} submit=${createQueue} done=${reload} />
    <${ErrorNote} error=${error} />
    ${!data && loading
      ? html`<${Loading} what="queues" />`
      : data &&
        (data.length === 0
          ? html`<${Empty} title="No queues">Create one above, or enqueue to one: <code>POST /v2/enqueue/&lt;queue&gt;/&lt;url&gt;</code> creates it.<//>`
          : html`<div class="table-wrap"><table class="list">
              <thead><tr><th>Queue</th><th>Parallelism</th><th>Lag</th><th>State</th><th>Updated</th><th></th></tr></thead>
              <tbody>
                ${data.map(
                  (q) => html`<tr>
                    <td>${link(`/queues/${enc(q.name)}`, q.name)}</td>
                    <td>${q.parallelism}</td>
                    <td>${q.lag}</td>
                    <td><${Badge} value=${q.paused ? "paused" : "active"} /></td>
                    <td><${Ago} ms=${q.updatedAt} /></td>
                    <td class="row-actions"><${PauseResume} q=${q} done=${reload} /></td>
                  </tr>`,
                )}
              </tbody>
            </table></div>`)}`;
}

export function QueuePage({ param: name }) {
  const { data: q, error, reload } = useLoad(() => api("GET", `/v2/queues/${enc(name)}`), [name], { pollMs: 5000 });
  const [deleted, setDeleted] = useState(false);
  if (deleted) return html`<h1>${name}</h1><div class="notice">Deleted. Back to ${link("/queues", "Queues")}.</div>`;
  if (!q) return error ? html`<h1>${name}</h1><${ErrorNote} error=${error} />` : html`<${Loading} what="the queue" />`;
  return html`<h1>${name}</h1>
    <${Section}
      title="Queue"
      actions=${html`<${PauseResume} q=${q} done=${reload} />
        <${Action} label="Delete" tone="danger" confirm=${`Delete queue ${name}? Its ${q.lag} unfinished messages are not cancelled.`}
          run=${() => api("DELETE", `/v2/queues/${enc(name)}`)} done=${() => setDeleted(true)} />`}
    >
      <${Fields}
        rows=${[
          ["State", html`<${Badge} value=${q.paused ? "paused" : "active"} />`],
          ["Parallelism", q.parallelism],
          ["Lag (unfinished messages)", q.lag],
          ["Created", html`<${Ago} ms=${q.createdAt} />`],
          ["Updated", html`<${Ago} ms=${q.updatedAt} />`],
        ]}
      />
      <p class="small">${link(`/messages?queueName=${enc(name)}`, "Messages of this queue")}</p>
    <//>`;
}
