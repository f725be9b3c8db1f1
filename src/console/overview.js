import { api } from "./api.js";
import { HourChart } from "./chart.js";
import { Ago, ErrorNote, html, link, Loading, Section, useLoad } from "./ui.js";

const atLeast = (n, capped) => (capped ? `${n}+` : String(n));

function Stat({ label, value, href, hint }) {
  const body = html`<span class="stat-value">${value}</span><span class="stat-label">${label}</span>${hint && html`<span class="stat-hint">${hint}</span>`}`;
  return href ? html`<a class="stat" href=${`#${href}`}>${body}</a>` : html`<div class="stat">${body}</div>`;
}

/** The first page: the last hour, and what is in the system right now; polled every 3 s. */
export function Overview() {
  const { data, error } = useLoad(() => api("GET", "/v2/console/overview"), [], { pollMs: 3000 });
  if (!data) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} what="the overview" />`;
  return html`<h1>Overview</h1>
    <${ErrorNote} error=${error} />
    <div class="stats">
      <${Stat} label="Attempts in flight" value=${data.inFlight} />
      <${Stat} label="Due, waiting for a slot" value=${atLeast(data.dueWaiting, data.unfinishedCapped)} hint="held by parallelism, rate or pause" />
      <${Stat} label="Not yet due" value=${atLeast(data.notYetDue, data.unfinishedCapped)} hint="delayed or retrying later" />
      <${Stat} label="DLQ entries" value=${atLeast(data.dlq, data.dlqCapped)} href="/dlq" />
      <${Stat} label="Active workflow runs" value=${atLeast(data.activeRuns, data.activeRunsCapped)} href="/workflows" />
    </div>
    <${Section} title="Last hour">
      <${HourChart} buckets=${data.lastHour.buckets} />
      ${data.lastHour.capped && html`<p class="muted">Counting stopped at 50,000 events: the chart shows the first of them.</p>`}
      <p class="muted small">Updated <${Ago} ms=${data.now} />. See every message in ${link("/messages", "Messages")}.</p>
    <//>`;
}
