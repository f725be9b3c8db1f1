import { useState } from "preact/hooks";
import { html } from "./ui.js";

/** The publish headers a DLQ retry (or a workflow resume/restart) may override, as the API documents. */
const OVERRIDES = [
  ["Upstash-Delay", "Delay", "e.g. 10s"],
  ["Upstash-Retries", "Retries", "e.g. 3"],
  ["Upstash-Method", "Method", "POST"],
  ["Upstash-Timeout", "Timeout", "e.g. 30s"],
  ["Upstash-Callback", "Callback URL", "https://…"],
  ["Upstash-Failure-Callback", "Failure callback URL", "https://…"],
  ["Upstash-Label", "Label", ""],
  ["Upstash-Flow-Control-Key", "Flow-control key", ""],
];

/** Optional header overrides; returns [form, headers] so the caller sends the headers with its action. */
export function useOverrides(names = OVERRIDES.map((o) => o[0])) {
  const [values, setValues] = useState({});
  const headers = Object.fromEntries(Object.entries(values).filter(([, v]) => v.trim() !== "").map(([k, v]) => [k, v.trim()]));
  const form = html`<details class="overrides">
    <summary>Overrides${Object.keys(headers).length ? ` (${Object.keys(headers).length})` : ""}</summary>
    <div class="filters">
      ${OVERRIDES.filter((o) => names.includes(o[0])).map(
        ([header, label, placeholder]) => html`<label>
          <span>${label}</span>
          <input name=${header} placeholder=${placeholder} value=${values[header] ?? ""} onInput=${(e) => setValues({ ...values, [header]: e.target.value })} />
        </label>`,
      )}
    </div>
  </details>`;
  return [form, headers];
}
