import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, session } from "./api.js";
import { ErrorNote, html } from "./ui.js";
import { Overview } from "./overview.js";
import { MessageLog, MessagePage } from "./messages.js";
import { DlqList, DlqPage } from "./dlq.js";
import { ScheduleList, SchedulePage } from "./schedules.js";
import { QueueList, QueuePage } from "./queues.js";
import { UrlGroupList, UrlGroupPage } from "./url-groups.js";
import { FlowControl } from "./flow-control.js";
import { RunList, RunPage, WorkflowDlq } from "./workflows.js";
import { Keys } from "./keys.js";

/** Hash routes: `#/messages/msg_…` → the page and its parameter. */
const ROUTES = [
  ["overview", "Overview", Overview],
  ["messages", "Messages", MessageLog, MessagePage],
  ["dlq", "DLQ", DlqList, DlqPage],
  ["schedules", "Schedules", ScheduleList, SchedulePage],
  ["queues", "Queues", QueueList, QueuePage],
  ["url-groups", "URL groups", UrlGroupList, UrlGroupPage],
  ["flow-control", "Flow control", FlowControl],
  ["workflows", "Workflow runs", RunList, RunPage],
  ["workflow-dlq", "Workflow DLQ", WorkflowDlq],
  ["keys", "Signing keys", Keys],
];

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  // A page's filters may follow a "?" (`#/messages?queueName=jobs`): the page reads them itself.
  const [name = "overview", ...rest] = hash.replace(/^#\/?/, "").split("?", 1)[0].split("/");
  return { name, param: rest.length ? decodeURIComponent(rest.join("/")) : undefined };
}

/** Sign-in: a token is checked against the API before it is kept; in dev mode the four dev users are offered. */
function SignIn({ onSignedIn }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState();
  const [devUsers, setDevUsers] = useState([]);
  useEffect(() => {
    // Only a dev-mode server answers this (the dev tokens are public); elsewhere a token must be pasted.
    fetch("/console/api/dev-users").then((r) => (r.ok ? r.json() : { users: [] })).then((d) => setDevUsers(d.users), () => {});
  }, []);
  const tryToken = async (t) => {
    setError(undefined);
    try {
      await api("GET", "/v2/keys", { token: t });
      session.signIn(t);
      onSignedIn();
    } catch (e) {
      setError(e.status === 401 ? new Error(`That token was refused: ${e.message}`) : e);
    }
  };
  return html`<main class="signin">
    <div class="card signin-card">
      <h1><span class="logo">≋</span> Sluice console</h1>
      <form onSubmit=${(e) => (e.preventDefault(), tryToken(token.trim()))}>
        <label for="token">Token</label>
        <textarea id="token" rows="3" placeholder="Paste a QSTASH_TOKEN" value=${token} onInput=${(e) => setToken(e.target.value)}></textarea>
        <button class="primary" type="submit" disabled=${!token.trim()}>Sign in</button>
      </form>
      <${ErrorNote} error=${error} />
      ${devUsers.length > 0 &&
      html`<div class="dev-users">
        <p class="muted">Dev mode: sign in as one of the dev users.</p>
        ${devUsers.map((u) => html`<button class="dev-user" onClick=${() => tryToken(u.token)}>${u.userId}</button>`)}
      </div>`}
      <p class="muted small">The token stays in this tab only; every page reads the same REST API the SDKs use.</p>
    </div>
  </main>`;
}

function Shell({ onSignOut }) {
  const { name, param } = useHash();
  const [navOpen, setNavOpen] = useState(false);
  const route = ROUTES.find((r) => r[0] === name) ?? ROUTES[0];
  const Page = param !== undefined && route[3] ? route[3] : route[2];
  useEffect(() => setNavOpen(false), [name, param]);
  return html`<div class="shell">
    <header class="topbar">
      <button class="nav-toggle" aria-label="Menu" onClick=${() => setNavOpen(!navOpen)}>☰</button>
      <a class="brand" href="#/overview"><span class="logo">≋</span> Sluice</a>
      <span class="spacer"></span>
      <button onClick=${onSignOut}>Sign out</button>
    </header>
    <nav class=${navOpen ? "nav open" : "nav"}>
      ${ROUTES.map((r) => html`<a href=${`#/${r[0]}`} class=${r === route ? "current" : ""}>${r[1]}</a>`)}
    </nav>
    <main class="page"><${Page} key=${`${route[0]}/${param ?? ""}`} param=${param} /></main>
  </div>`;
}

function App() {
  const [signedIn, setSignedIn] = useState(Boolean(session.token));
  if (!signedIn) return html`<${SignIn} onSignedIn=${() => setSignedIn(true)} />`;
  return html`<${Shell} onSignOut=${() => (session.signOut(), setSignedIn(false))} />`;
}

const root = document.getElementById("root");
// Preact keeps nodes it did not render: the boot message goes first.
root.textContent = "";
render(html`<${App} />`, root);
