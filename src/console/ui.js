import { h } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";

export const html = htm.bind(h);

/** Loads `load()` when `deps` change (and every `pollMs` when given); the last good data stays while reloading. */
export function useLoad(load, deps, { pollMs } = {}) {
  const [state, setState] = useState({ data: undefined, error: undefined, loading: true });
  const latest = useRef(0);
  const reload = useCallback(async () => {
    const call = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await load();
      if (call === latest.current) setState({ data, error: undefined, loading: false });
    } catch (error) {
      if (call === latest.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, deps);
  useEffect(() => {
    reload();
    if (!pollMs) return undefined;
    const timer = setInterval(() => document.visibilityState === "visible" && reload(), pollMs);
    return () => clearInterval(timer);
  }, [reload, pollMs]);
  return { ...state, reload };
}

/** Re-renders the caller every `ms`, for relative times that must keep moving. */
function useTicker(ms) {
  const [, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), ms);
    return () => clearInterval(timer);
  }, [ms]);
}

export function relative(ms, now = Date.now()) {
  const diff = Math.round((ms - now) / 1000);
  const abs = Math.abs(diff);
  const [n, unit] = abs < 60 ? [abs, "s"] : abs < 3600 ? [Math.floor(abs / 60), "min"] : abs < 86400 ? [Math.floor(abs / 3600), "h"] : [Math.floor(abs / 86400), "d"];
  return diff > 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`;
}

export const exactTime = (ms) => new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** "3 s ago", with the exact time on hover. */
export function Ago({ ms }) {
  useTicker(1000);
  if (ms === undefined || ms === null || ms === 0) return html`<span class="muted">—</span>`;
  return html`<time datetime=${new Date(ms).toISOString()} title=${exactTime(ms)}>${relative(ms)}</time>`;
}

export function ErrorNote({ error }) {
  if (!error) return null;
  return html`<div class="error" role="alert">${error.status ? html`<strong>${error.status}</strong> ` : ""}${error.message}</div>`;
}

/** What an empty list means, and what to do about it. */
export function Empty({ title, children }) {
  return html`<div class="empty"><p class="empty-title">${title}</p><div class="muted">${children}</div></div>`;
}

export function Loading({ what }) {
  return html`<p class="muted loading">Loading ${what}…</p>`;
}

export function Badge({ value }) {
  const tone = /DELIVERED|SUCCESS|RUN_SUCCESS|active|running/i.test(value)
    ? "ok"
    : /FAIL|ERROR|CANCEL/i.test(value)
      ? "bad"
      : /RETRY|paused|PROGRESS|STARTED|CREATED|ACTIVE/i.test(value)
        ? "warn"
        : "plain";
  return html`<span class=${`badge ${tone}`}>${value}</span>`;
}

/** Cursor paging: the cursors of the pages seen, so "Previous" goes back without the API paging backwards. */
export function useCursorPages(resetKey) {
  const [stack, setStack] = useState([undefined]);
  useEffect(() => setStack([undefined]), [resetKey]);
  const cursor = stack[stack.length - 1];
  return {
    cursor,
    page: stack.length,
    next: (c) => setStack((s) => [...s, c]),
    prev: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
  };
}

/** Items picked by id for a bulk action; cleared after the action (or a new filter). */
export function useSelection() {
  const [selected, setSelected] = useState(new Set());
  return {
    ids: [...selected],
    has: (id) => selected.has(id),
    toggle: (id) => setSelected((s) => (s.has(id) ? (s.delete(id), new Set(s)) : new Set(s.add(id)))),
    set: (ids) => setSelected(new Set(ids)),
    clear: () => setSelected(new Set()),
  };
}

export function Pager({ pages, nextCursor, shown }) {
  return html`<div class="pager">
    <button onClick=${pages.prev} disabled=${pages.page <= 1}>← Previous</button>
    <span class="muted">Page ${pages.page}${shown !== undefined ? ` · ${shown} shown` : ""}</span>
    <button onClick=${() => pages.next(nextCursor)} disabled=${!nextCursor}>Next →</button>
  </div>`;
}

/**
 * A button for an action that changes something: asks first when `confirm` is given (saying what it touches),
 * shows "working" while it runs and the server's error beside itself when it fails.
 */
export function Action({ label, confirm, run, done, tone = "", disabled = false }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState();
  const go = async () => {
    setAsking(false);
    setBusy(true);
    setError(undefined);
    try {
      const result = await run();
      done?.(result);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<span class="action">
    <button class=${tone} disabled=${disabled || busy} onClick=${() => (confirm ? setAsking(true) : go())}>${busy ? "Working…" : label}</button>
    ${asking &&
    html`<div class="modal-backdrop" onClick=${() => setAsking(false)}>
      <div class="modal" role="dialog" aria-modal="true" onClick=${(e) => e.stopPropagation()}>
        <p>${confirm}</p>
        <div class="modal-buttons">
          <button onClick=${() => setAsking(false)}>Cancel</button>
          <button class=${tone || "primary"} onClick=${go}>${label}</button>
        </div>
      </div>
    </div>`}
    ${error && html`<${ErrorNote} error=${error} />`}
  </span>`;
}

/** A filter form: the fields are the API's own parameter names, applied together. */
export function Filters({ fields, value, onApply }) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  const submit = (e) => {
    e.preventDefault();
    onApply(draft);
  };
  return html`<form class="filters" onSubmit=${submit}>
    ${fields.map(
      (f) => html`<label>
        <span>${f.label ?? f.name}</span>
        ${f.options
          ? html`<select name=${f.name} value=${draft[f.name] ?? ""} onChange=${(e) => setDraft({ ...draft, [f.name]: e.target.value })}>
              <option value="">any</option>
              ${f.options.map((o) => html`<option value=${o}>${o}</option>`)}
            </select>`
          : html`<input
              name=${f.name}
              type=${f.type ?? "text"}
              placeholder=${f.placeholder ?? ""}
              value=${draft[f.name] ?? ""}
              onInput=${(e) => setDraft({ ...draft, [f.name]: e.target.value })}
            />`}
      </label>`,
    )}
    <div class="filter-buttons">
      <button type="submit" class="primary">Apply</button>
      <button type="button" onClick=${() => onApply({})}>Clear</button>
    </div>
  </form>`;
}

/** `datetime-local` inputs hold local wall time; the API takes unix milliseconds. */
export function toApiDates(filters, names = ["fromDate", "toDate"]) {
  const out = { ...filters };
  for (const n of names) if (out[n]) out[n] = String(new Date(out[n]).getTime());
  return out;
}

export function decodeBase64(b64) {
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** A body as a person reads it: JSON pretty-printed, text as text, anything else as its size. */
export function Body({ text, base64, empty = "(empty body)" }) {
  let bytes;
  if (base64 !== undefined) bytes = decodeBase64(base64);
  else if (text !== undefined) bytes = new TextEncoder().encode(text);
  if (!bytes || bytes.length === 0) return html`<p class="muted">${empty}</p>`;
  let decoded;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return html`<p class="muted">Binary body, ${bytes.length} bytes</p>`;
  }
  let shown = decoded;
  try {
    shown = JSON.stringify(JSON.parse(decoded), null, 2);
  } catch {
    // Not JSON: shown as it is.
  }
  const limit = 20_000;
  return html`<pre class="body">${shown.length > limit ? `${shown.slice(0, limit)}\n… (${bytes.length} bytes in all)` : shown}</pre>`;
}

export function Headers({ headers }) {
  const entries = Object.entries(headers ?? {});
  if (!entries.length) return html`<p class="muted">No headers.</p>`;
  return html`<table class="kv">
    ${entries.map(([k, v]) => html`<tr><th>${k}</th><td>${Array.isArray(v) ? v.join(", ") : String(v)}</td></tr>`)}
  </table>`;
}

/** Label/value rows; undefined values are left out. */
export function Fields({ rows }) {
  return html`<dl class="fields">
    ${rows.filter(([, v]) => v !== undefined && v !== null && v !== "" && v !== false).map(([k, v]) => html`<div><dt>${k}</dt><dd>${v}</dd></div>`)}
  </dl>`;
}

export function Section({ title, actions, children }) {
  return html`<section class="card">
    <header class="card-head"><h2>${title}</h2>${actions && html`<div class="card-actions">${actions}</div>`}</header>
    ${children}
  </section>`;
}

export const link = (path, text) => html`<a href=${`#${path}`}>${text}</a>`;
export const enc = encodeURIComponent;
