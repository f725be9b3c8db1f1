import { useState } from "preact/hooks";
import { api } from "./api.js";
import { CreateForm } from "./form.js";
import { Action, Ago, Empty, enc, ErrorNote, html, link, Loading, Section, useLoad } from "./ui.js";

const ENDPOINT_FIELDS = [
  ["url", "Endpoint URL", "https://example.com/hook", true],
  ["name", "Endpoint name", "optional"],
];

/** Adding endpoints creates the group (the API has no separate create). */
const addEndpoint = (group, v) =>
  api("POST", `/v2/topics/${enc(group)}/endpoints`, { json: { endpoints: [{ url: v.url ?? "", ...(v.name ? { name: v.name } : {}) }] } });

export function UrlGroupList() {
  const { data, error, loading, reload } = useLoad(() => api("GET", "/v2/topics"), []);
  return html`<h1>URL groups</h1>
    <${CreateForm}
      title="New URL group"
      fields=${[["group", "Group name", "notify", true], ...ENDPOINT_FIELDS]}
      submit=${(v) => addEndpoint(v.group ?? "", v)}
      done=${reload}
    />
    <${ErrorNote} error=${error} />
    ${!data && loading
      ? html`<${Loading} what="URL groups" />`
      : data &&
        (data.length === 0
          ? html`<${Empty} title="No URL groups">Create one above: a publish to a group's name reaches each of its endpoints.<//>`
          : html`<div class="table-wrap"><table class="list">
              <thead><tr><th>Group</th><th>Endpoints</th><th>Updated</th></tr></thead>
              <tbody>
                ${data.map(
                  (g) => html`<tr>
                    <td>${link(`/url-groups/${enc(g.name)}`, g.name)}</td>
                    <td class="wrap">${g.endpoints.map((e) => e.name ?? e.url).join(", ")}</td>
                    <td><${Ago} ms=${g.updatedAt} /></td>
                  </tr>`,
                )}
              </tbody>
            </table></div>`)}`;
}

export function UrlGroupPage({ param: name }) {
  const { data: g, error, reload } = useLoad(() => api("GET", `/v2/topics/${enc(name)}`), [name]);
  const [deleted, setDeleted] = useState(false);
  if (deleted) return html`<h1>${name}</h1><div class="notice">Deleted. Back to ${link("/url-groups", "URL groups")}.</div>`;
  if (!g) return error ? html`<h1>${name}</h1><${ErrorNote} error=${error} />` : html`<${Loading} what="the URL group" />`;
  return html`<h1>${name}</h1>
    <${Section}
      title=${`Endpoints (${g.endpoints.length})`}
      actions=${html`<${Action} label="Delete group" tone="danger" confirm=${`Delete URL group ${name} and its ${g.endpoints.length} endpoints?`}
        run=${() => api("DELETE", `/v2/topics/${enc(name)}`)} done=${() => setDeleted(true)} />`}
    >
      <table class="list">
        <thead><tr><th>Name</th><th>URL</th><th></th></tr></thead>
        <tbody>
          ${g.endpoints.map(
            (e) => html`<tr>
              <td>${e.name ?? html`<span class="muted">—</span>`}</td>
              <td class="wrap">${e.url}</td>
              <td class="row-actions"><${Action} label="Remove" tone="danger" confirm=${`Remove endpoint ${e.url} from ${name}?`}
                run=${() => api("DELETE", `/v2/topics/${enc(name)}/endpoints`, { json: { endpoints: [{ url: e.url }] } })} done=${reload} /></td>
            </tr>`,
          )}
        </tbody>
      </table>
      <${CreateForm} title="Add an endpoint" fields=${ENDPOINT_FIELDS} submit=${(v) => addEndpoint(name, v)} done=${reload} submitLabel="Add" />
      <p class="muted small">Created <${Ago} ms=${g.createdAt} />. ${link(`/messages?urlGroup=${enc(name)}`, "Messages of this group")}</p>
    <//>`;
}
