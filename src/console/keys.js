import { useState } from "preact/hooks";
import { api } from "./api.js";
import { Action, ErrorNote, html, Loading, Section, useLoad } from "./ui.js";

function Secret({ value }) {
  const [shown, setShown] = useState(false);
  return html`<span class="secret">
    <code>${shown ? value : "•".repeat(Math.min(32, value.length))}</code>
    <button onClick=${() => setShown(!shown)}>${shown ? "Hide" : "Show"}</button>
    <button onClick=${() => navigator.clipboard?.writeText(value)}>Copy</button>
  </span>`;
}

/** The user's signing keys; rotation makes `next` current and generates a new `next`. */
export function Keys() {
  const { data, error, reload } = useLoad(() => api("GET", "/v2/keys"), []);
  if (!data) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} what="the signing keys" />`;
  return html`<h1>Signing keys</h1>
    <${Section}
      title="Keys"
      actions=${html`<${Action} label="Rotate" tone="danger"
        confirm="Rotate the signing keys? The next key becomes current and a new next key is made: receivers that verify signatures need both new values."
        run=${() => api("POST", "/v2/keys/rotate")} done=${reload} />`}
    >
      <dl class="fields">
        <div><dt>QSTASH_CURRENT_SIGNING_KEY</dt><dd><${Secret} value=${data.current} /></dd></div>
        <div><dt>QSTASH_NEXT_SIGNING_KEY</dt><dd><${Secret} value=${data.next} /></dd></div>
      </dl>
      <p class="muted small">Every delivery is signed with the current key; receivers accept the next one too, so a rotation needs no downtime.</p>
    <//>`;
}
