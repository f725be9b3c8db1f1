import { useState } from "preact/hooks";
import { api } from "./api.js";
import { Action, Badge, Empty, enc, ErrorNote, html, link, Loading, useLoad } from "./ui.js";

const limit = (count, max) => (max ? `${count} / ${max}` : `${count} / ∞`);

/** Pin: parallelism, rate and period as the API takes them (`?parallelism=&rate=&period=`). */
function PinForm({ fkey, done }) {
  const [v, setV] = useState({});
  return html`<span class="pin-form">
    <input aria-label="Pinned parallelism" placeholder="parallelism" size="8" value=${v.parallelism ?? ""} onInput=${(e) => setV({ ...v, parallelism: e.target.value })} />
    <input aria-label="Pinned rate" placeholder="rate" size="5" value=${v.rate ?? ""} onInput=${(e) => setV({ ...v, rate: e.target.value })} />
    <input aria-label="Rate period (s)" placeholder="period s" size="6" value=${v.period ?? ""} onInput=${(e) => setV({ ...v, period: e.target.value })} />
    <${Action} label="Pin" run=${() => api("POST", `/v2/flowControl/${enc(fkey)}/pin`, { query: v })} done=${() => (setV({}), done())} />
  </span>`;
}

/** Every flow-control key with its live counts, polled every 2 s; pause, resume, pin, unpin, reset its rate. */
export function FlowControl() {
  const [search, setSearch] = useState("");
  const { data, error, loading, reload } = useLoad(() => api("GET", "/v2/flowControl", { query: { search } }), [search], { pollMs: 2000 });
  const global = useLoad(() => api("GET", "/v2/globalParallelism"), [], { pollMs: 2000 });
  return html`<h1>Flow control</h1>
    ${global.data && html`<p class="muted">Your attempts in flight: <strong>${limit(global.data.parallelismCount, global.data.parallelismMax)}</strong></p>`}
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <label><span>search</span><input placeholder="part of a key" value=${search} onInput=${(e) => setSearch(e.target.value)} /></label>
    </form>
    <${ErrorNote} error=${error} />
    ${!data && loading
      ? html`<${Loading} what="flow-control keys" />`
      : data &&
        (data.length === 0
          ? html`<${Empty} title=${search ? "No key matches" : "No flow-control keys"}>A key appears once a message is published with <code>Upstash-Flow-Control-Key</code>.<//>`
          : html`<div class="table-wrap"><table class="list">
              <thead><tr><th>Key</th><th>State</th><th>Parallelism</th><th>Rate</th><th>Waiting</th><th>Actions</th></tr></thead>
              <tbody>
                ${data.map(
                  (k) => html`<tr data-key=${k.flowControlKey}>
                    <td class="mono">${link(`/messages?flowControlKey=${enc(k.flowControlKey)}`, k.flowControlKey)}</td>
                    <td><${Badge} value=${k.isPaused ? "paused" : "running"} /></td>
                    <td>${limit(k.parallelismCount, k.parallelismMax)}${k.isPinnedParallelism && html` <span class="badge plain">pinned</span>`}</td>
                    <td>${limit(k.rateCount, k.rateMax)} per ${k.ratePeriod} s${k.isPinnedRate && html` <span class="badge plain">pinned</span>`}</td>
                    <td>${k.waitListSize}</td>
                    <td class="row-actions">
                      ${k.isPaused
                        ? html`<${Action} label="Resume" run=${() => api("POST", `/v2/flowControl/${enc(k.flowControlKey)}/resume`)} done=${reload} />`
                        : html`<${Action} label="Pause" run=${() => api("POST", `/v2/flowControl/${enc(k.flowControlKey)}/pause`)} done=${reload} />`}
                      <${PinForm} fkey=${k.flowControlKey} done=${reload} />
                      ${(k.isPinnedParallelism || k.isPinnedRate) &&
                      html`<${Action} label="Unpin" run=${() => api("POST", `/v2/flowControl/${enc(k.flowControlKey)}/unpin`, { query: { parallelism: "true", rate: "true" } })} done=${reload} />`}
                      <${Action} label="Reset rate" confirm=${`Reset the rate window of ${k.flowControlKey}? Its count starts again from 0.`}
                        run=${() => api("POST", `/v2/flowControl/${enc(k.flowControlKey)}/resetRate`)} done=${reload} />
                    </td>
                  </tr>`,
                )}
              </tbody>
            </table></div>`)}`;
}
