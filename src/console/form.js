import { useState } from "preact/hooks";
import { ErrorNote, html } from "./ui.js";

/**
 * A small create form: `fields` are [name, label, placeholder, required?]; `submit(values)` calls the API and
 * the server's error is shown under the form (nothing is created when it refuses).
 */
export function CreateForm({ title, fields, submit, done, submitLabel = "Create" }) {
  const [values, setValues] = useState({});
  const [error, setError] = useState();
  const [busy, setBusy] = useState(false);
  const onSubmit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await submit(values);
      setValues({});
      done?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<details class="create">
    <summary>${title}</summary>
    <form class="filters" onSubmit=${onSubmit}>
      ${fields.map(
        ([name, label, placeholder, required]) => html`<label>
          <span>${label}</span>
          ${name === "body"
            ? html`<textarea name=${name} rows="3" placeholder=${placeholder} value=${values[name] ?? ""} onInput=${(e) => setValues({ ...values, [name]: e.target.value })}></textarea>`
            : html`<input name=${name} required=${!!required} placeholder=${placeholder} value=${values[name] ?? ""} onInput=${(e) => setValues({ ...values, [name]: e.target.value })} />`}
        </label>`,
      )}
      <div class="filter-buttons"><button class="primary" type="submit" disabled=${busy}>${busy ? "Working…" : submitLabel}</button></div>
    </form>
    <${ErrorNote} error=${error} />
  </details>`;
}
