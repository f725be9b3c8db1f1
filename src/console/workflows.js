import { useState } from "preact/hooks";
import { api } from "./api.js";
import { ORIGIN_FILTERS } from "./filter-fields.js";
import { useOverrides } from "./overrides.js";
import {
  Action, Ago, Badge, Body, Empty, enc, ErrorNote, Fields, Filters, html, link, Loading, Pager, Section, toApiDates,
  useCursorPages, useLoad, useSelection,
} from "./ui.js";

/** Every filter of `GET /v2/workflows/logs`. */
const RUN_FILTERS = [
  { name: "workflowRunId" },
  { name: "workflowUrl", placeholder: "https://…" },
  { name: "state", options: ["RUN_STARTED", "RUN_SUCCESS", "RUN_FAILED", "RUN_CANCELED"] },
  { name: "label" },
  { name: "messageId" },
  { name: "flowControlKey" },
  ...ORIGIN_FILTERS,
];
const PAGE_SIZE = 20;

const stepCount = (run) => run.steps.filter((g) => g.type !== "next").reduce((n, g) => n + g.steps.length, 0);

export function RunList() {
  const [filters, setFilters] = useState({});
  const pages = useCursorPages(JSON.stringify(filters));
  const { data, error, loading } = useLoad(
    () => api("GET", "/v2/workflows/logs", { query: { ...toApiDates(filters), count: PAGE_SIZE, cursor: pages.cursor } }),
    [filters, pages.cursor],
    { pollMs: pages.page === 1 ? 5000 : undefined },
  );
  return html`<h1>Workflow runs</h1>
    <${Filters} fields=${RUN_FILTERS} value=${filters} onApply=${setFilters} />
    <${ErrorNote} error=${error} />
    ${!data && loading
      ? html`<${Loading} what="workflow runs" />`
      : data &&
        (data.runs.length === 0
          ? html`<${Empty} title=${Object.keys(filters).length ? "No run matches these filters" : "No workflow runs yet"}>
              Serve a workflow with <code>@upstash/workflow</code> pointed at this server and trigger it: its runs appear here.
            <//>`
          : html`<div class="table-wrap"><table class="list">
                <thead><tr><th>Run</th><th>Workflow URL</th><th>State</th><th>Steps</th><th>Started</th><th>Finished</th></tr></thead>
                <tbody>
                  ${data.runs.map(
                    (r) => html`<tr>
                      <td class="mono">${link(`/workflows/${enc(r.workflowRunId)}`, r.workflowRunId)}</td>
                      <td class="wrap">${r.workflowUrl}</td>
                      <td><${Badge} value=${r.workflowState} /></td>
                      <td>${stepCount(r)}</td>
                      <td><${Ago} ms=${r.workflowRunCreatedAt} /></td>
                      <td>${r.workflowRunCompletedAt ? html`<${Ago} ms=${r.workflowRunCompletedAt} />` : ""}</td>
                    </tr>`,
                  )}
                </tbody>
              </table></div>
              <${Pager} pages=${pages} nextCursor=${data.cursor} shown=${data.runs.length} />`)}`;
}

/** What a step did, by its type: sleeps, calls, waits and invokes show their own details. */
function StepCard({ step }) {
  const state = step.state ?? "STEP_SUCCESS";
  return html`<div class=${`step ${/FAIL|CANCEL/.test(state) ? "bad" : /PROGRESS|RETRY/.test(state) ? "warn" : "ok"}`}>
    <div class="step-head">
      <strong>${step.stepName ?? (step.callType === "toCallback" ? "call" : "next step")}</strong>
      ${step.stepType && html`<span class="badge plain">${step.stepType}</span>`}
      <${Badge} value=${state} />
    </div>
    <${Fields}
      rows=${[
        ["At", step.createdAt && html`<${Ago} ms=${step.createdAt} />`],
        ["Sleep for", step.sleepFor !== undefined ? `${step.sleepFor} s` : undefined],
        ["Sleep until", step.sleepUntil !== undefined && html`<${Ago} ms=${step.sleepUntil * 1000} />`],
        ["Call", step.callUrl && `${step.callMethod ?? ""} ${step.callUrl}`],
        ["Call status", step.callResponseStatus],
        ["Waits for event", step.waitEventId],
        ["Wait timeout", step.waitTimeoutDuration ?? step.waitTimeout],
        ["Wait deadline", step.waitTimeoutDeadline && html`<${Ago} ms=${step.waitTimeoutDeadline} />`],
        ["Invoked run", step.invokedWorkflowRunId && link(`/workflows/${enc(step.invokedWorkflowRunId)}`, step.invokedWorkflowRunId)],
        ["Next delivery", step.nextDeliveryTime && html`<${Ago} ms=${step.nextDeliveryTime} />`],
      ]}
    />
    ${step.out !== undefined && step.out !== "" && html`<details><summary>Output</summary><${Body} text=${String(step.out)} /></details>`}
    ${step.callResponseBody !== undefined && html`<details><summary>Call response</summary><${Body} text=${step.callResponseBody} /></details>`}
    ${step.errors?.map((e) => html`<p class="attempt-error">HTTP ${e.status}: ${e.error} <${Ago} ms=${e.time} /></p>`)}
  </div>`;
}

/** A run's steps as a timeline: sequential steps one under another, a parallel group's steps side by side. */
function Timeline({ groups }) {
  return html`<ol class="run-timeline">
    ${groups.map(
      (g) => html`<li class=${`group ${g.type}`}>
        <span class="group-label">${g.type === "parallel" ? `parallel × ${g.steps.length}` : g.type === "next" ? "under way" : ""}</span>
        <div class=${g.type === "parallel" ? "parallel-steps" : "sequential-steps"}>${g.steps.map((s) => html`<${StepCard} step=${s} />`)}</div>
      </li>`,
    )}
  </ol>`;
}

export function RunPage({ param: runId }) {
  const { data, error, reload } = useLoad(() => api("GET", "/v2/workflows/logs", { query: { workflowRunId: runId } }), [runId], { pollMs: 3000 });
  const [overrides, headers] = useOverrides(["Upstash-Retries", "Upstash-Delay", "Upstash-Flow-Control-Key", "Upstash-Label"]);
  const [moved, setMoved] = useState();
  if (!data) return error ? html`<${ErrorNote} error=${error} />` : html`<${Loading} what="the run" />`;
  const run = data.runs[0];
  if (!run) return html`<h1 class="mono">${runId}</h1><${Empty} title="No such run">It may have been removed by retention. Back to ${link("/workflows", "Workflow runs")}.<//>`;
  const newRun = (r) => setMoved(html`New run ${link(`/workflows/${enc(r.workflowRunId)}`, r.workflowRunId)}.`);
  return html`<h1 class="mono">${runId}</h1>
    <${ErrorNote} error=${error} />
    ${moved && html`<div class="notice">${moved}</div>`}
    <${Section}
      title="Run"
      actions=${html`
        ${run.workflowState === "RUN_STARTED" &&
        html`<${Action} label="Cancel run" tone="danger" confirm=${`Cancel run ${runId}? Its pending steps are not delivered.`}
          run=${() => api("DELETE", `/v2/workflows/runs/${enc(runId)}`)} done=${reload} />`}
        ${run.dlqId &&
        html`<${Action} label="Resume" confirm=${`Resume run ${runId} from its failed step (1 DLQ entry)?`}
            run=${() => api("POST", `/v2/workflows/dlq/resume/${enc(run.dlqId)}`, { headers })} done=${newRun} />
          <${Action} label="Restart" confirm=${`Restart run ${runId} from the beginning (1 DLQ entry)?`}
            run=${() => api("POST", `/v2/workflows/dlq/restart/${enc(run.dlqId)}`, { headers })} done=${newRun} />`}`}
    >
      ${run.dlqId && overrides}
      <${Fields}
        rows=${[
          ["State", html`<${Badge} value=${run.workflowState} />`],
          ["Workflow URL", run.workflowUrl],
          ["Started", html`<${Ago} ms=${run.workflowRunCreatedAt} />`],
          ["Finished", run.workflowRunCompletedAt && html`<${Ago} ms=${run.workflowRunCompletedAt} />`],
          ["Invoked by", run.invoker && link(`/workflows/${enc(run.invoker.workflowRunId)}`, run.invoker.workflowRunId)],
          ["Labels", run.labels?.join(", ")],
          ["Flow-control key", run.flowControlKey],
          ["DLQ entry", run.dlqId],
        ]}
      />
    <//>
    ${run.workflowRunResponse !== undefined && html`<${Section} title="Result"><${Body} text=${String(run.workflowRunResponse)} /><//>`}
    ${run.failureFunction &&
    html`<${Section} title="Failure">
      <${Fields} rows=${[["Failure function", run.failureFunction.url], ["State", run.failureFunction.state], ["Failed step's status", run.failureFunction.failStatus]]} />
      <${Body} text=${run.failureFunction.failResponse} empty="(no failure response)" />
    <//>`}
    <${Section} title="Steps"><${Timeline} groups=${run.steps} /><//>`;
}

/** Failed runs: resume (from the failed step) or restart them, one or many, with the overrides the API allows. */
export function WorkflowDlq() {
  const pages = useCursorPages("");
  const selected = useSelection();
  const [overrides, headers] = useOverrides(["Upstash-Retries", "Upstash-Delay", "Upstash-Flow-Control-Key", "Upstash-Label"]);
  const { data, error, loading, reload } = useLoad(() => api("GET", "/v2/workflows/dlq", { query: { count: PAGE_SIZE, cursor: pages.cursor } }), [pages.cursor]);
  const ids = selected.ids;
  const runs = (n) => `${n} failed ${n === 1 ? "run" : "runs"}`;
  const afterAction = () => (selected.clear(), reload());
  const messages = data?.messages ?? [];
  return html`<h1>Workflow DLQ</h1>
    <${ErrorNote} error=${error} />
    <div class="toolbar">
      <span class="muted">${ids.length} selected</span>
      <${Action} label="Resume selected" disabled=${!ids.length} confirm=${`Resume ${runs(ids.length)} from their failed steps?`}
        run=${() => api("POST", "/v2/workflows/dlq/resume", { query: { dlqIds: ids.join(",") }, headers })} done=${afterAction} />
      <${Action} label="Restart selected" disabled=${!ids.length} confirm=${`Restart ${runs(ids.length)} from the beginning?`}
        run=${() => api("POST", "/v2/workflows/dlq/restart", { query: { dlqIds: ids.join(",") }, headers })} done=${afterAction} />
      <${Action} label="Delete selected" tone="danger" disabled=${!ids.length} confirm=${`Delete ${runs(ids.length)} from the DLQ? They can no longer be resumed.`}
        run=${() => api("DELETE", "/v2/workflows/dlq", { query: { dlqIds: ids.join(",") } })} done=${afterAction} />
    </div>
    ${overrides}
    ${!data && loading
      ? html`<${Loading} what="the workflow DLQ" />`
      : data &&
        (messages.length === 0
          ? html`<${Empty} title="No failed runs">A run lands here when a step's last retry fails.<//>`
          : html`<div class="table-wrap"><table class="list">
              <thead><tr><th></th><th>Failed</th><th>Run</th><th>Workflow URL</th><th>Response</th><th>Failure function</th></tr></thead>
              <tbody>
                ${messages.map(
                  (m) => html`<tr>
                    <td><input type="checkbox" aria-label=${`Select ${m.dlqId}`} checked=${selected.has(m.dlqId)} onChange=${() => selected.toggle(m.dlqId)} /></td>
                    <td><${Ago} ms=${m.failedAt} /></td>
                    <td class="mono">${link(`/workflows/${enc(m.workflowRunId)}`, m.workflowRunId)}</td>
                    <td class="wrap">${m.workflowUrl}</td>
                    <td>${m.responseStatus ?? ""} <span class="muted">${(m.error ?? "").slice(0, 60)}</span></td>
                    <td>${m.failureFunctionState ? html`<${Badge} value=${m.failureFunctionState} />` : html`<span class="muted">none</span>`}</td>
                  </tr>`,
                )}
              </tbody>
            </table></div>
            <${Pager} pages=${pages} nextCursor=${data.cursor} shown=${messages.length} />`)}`;
}
