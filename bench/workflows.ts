import { createServer } from "node:http";
import { Client as QStashClient, Receiver } from "@upstash/qstash";
import { Client as WorkflowClient, serve } from "@upstash/workflow";
import { DEV_USERS, tokenFor } from "../src/config.js";

/**
 * The workflow scenario: a real `@upstash/workflow` endpoint (web-standard `serve` in a Node HTTP server, verifying
 * every signature) runs a 5-step workflow; N runs are started at once and each is timed from trigger to the
 * delivery that finishes it. Every step is one delivery from Sluice plus one publish back to it.
 */
export async function workflowScenario(sluiceUrl: string, report: (line: string) => void, n: number, serverCpuSeconds: () => number): Promise<void> {
  const user = DEV_USERS[0];
  const token = tokenFor(user);
  const started = new Map<string, number>();
  const finished = new Map<string, number>();
  const now = (): number => performance.timeOrigin + performance.now();
  const { handler } = serve(
    async (ctx) => {
      let total = 0;
      for (let i = 1; i <= 5; i++) total += await ctx.run(`step-${i}`, () => i);
      finished.set(ctx.workflowRunId, now());
      return total;
    },
    {
      qstashClient: new QStashClient({ baseUrl: sluiceUrl, token }),
      receiver: new Receiver({ currentSigningKey: user.signingKeys!.current, nextSigningKey: user.signingKeys!.next }),
      disableTelemetry: true,
    },
  );
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers = new Headers();
    for (const [k, vs] of Object.entries(req.headersDistinct)) for (const v of vs ?? []) headers.append(k, v);
    const response = await handler(new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers, body: Buffer.concat(chunks) }));
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/wf`;
  const client = new WorkflowClient({ baseUrl: sluiceUrl, token });
  const waitAll = async (ids: string[], timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (ids.some((id) => !finished.has(id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  };
  const pctl = (xs: number[], p: number): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  };
  try {
    // One run at a time: the cost of a step without contention.
    const solo: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = now();
      const { workflowRunId } = await client.trigger({ url, body: { i } });
      started.set(workflowRunId, t0);
      await waitAll([workflowRunId], 10_000);
      if (finished.has(workflowRunId)) solo.push(finished.get(workflowRunId)! - t0);
    }
    const soloP50 = pctl(solo, 50);
    report(
      `workflow: 1 run at a time, 5-step run p50 ${soloP50.toFixed(1)} ms, p99 ${pctl(solo, 99).toFixed(1)} ms ` +
        `→ ${(soloP50 / 6).toFixed(1)} ms per step (6 deliveries: trigger + 5 steps, each a delivery and a publish back)`,
    );
    // N runs at once.
    const t0 = now();
    const cpu0 = serverCpuSeconds();
    const own0 = process.cpuUsage();
    const ids: string[] = [];
    for (let b = 0; b < n; b += 100) {
      const size = Math.min(100, n - b);
      const tb = now();
      const res = await client.trigger(Array.from({ length: size }, (_, i) => ({ url, body: { i: b + i } })));
      for (const r of res) {
        started.set(r.workflowRunId, tb);
        ids.push(r.workflowRunId);
      }
    }
    await waitAll(ids, 300_000);
    const done = ids.filter((id) => finished.has(id));
    const end = Math.max(...done.map((id) => finished.get(id)!));
    const lat = done.map((id) => finished.get(id)! - started.get(id)!);
    const serverCpu = serverCpuSeconds() - cpu0;
    const own = process.cpuUsage(own0);
    report(
      `workflow: ${n} concurrent 5-step runs, ${done.length} finished in ${((end - t0) / 1000).toFixed(1)} s: ` +
        `${((done.length / (end - t0)) * 1000).toFixed(0)} runs/s (${(((done.length * 6) / (end - t0)) * 1000).toFixed(0)} step deliveries/s), ` +
        `run latency p50 ${pctl(lat, 50).toFixed(0)} ms, p99 ${pctl(lat, 99).toFixed(0)} ms; ` +
        `CPU per step: Sluice ${((serverCpu * 1000) / (done.length * 6)).toFixed(2)} ms, ` +
        `the SDK endpoint and load generator ${((own.user + own.system) / 1000 / (done.length * 6)).toFixed(2)} ms`,
    );
    // Let the last runs' final DELETEs land before the server is stopped.
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

/**
 * Sluice's own capacity for workflow steps: the same 5-step workflow, answered by a minimal endpoint that speaks the
 * protocol the way the SDK does (reads the step list, publishes the next step with `/v2/batch`, finishes with
 * `DELETE /v2/workflows/runs/{id}`) but without the SDK's own cost (signature checks, replaying the function).
 */
export async function workflowProtocolScenario(sluiceUrl: string, report: (line: string) => void, n: number, serverCpuSeconds: () => number): Promise<void> {
  const { Agent, request } = await import("undici");
  const token = tokenFor(DEV_USERS[0]);
  const agent = new Agent({ connections: 64, keepAliveTimeout: 60_000 });
  const finished = new Map<string, number>();
  const started = new Map<string, number>();
  const now = (): number => performance.timeOrigin + performance.now();
  const auth = { authorization: `Bearer ${token}` };
  let url = "";
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const runId = req.headers["upstash-workflow-runid"] as string;
    const steps = JSON.parse(Buffer.concat(chunks).toString()) as { body: string }[];
    const done = steps.length - 1;
    if (done < 5) {
      const step = { stepId: done + 1, stepName: `step-${done + 1}`, stepType: "Run", out: String(done + 1), concurrent: 1 };
      const headers = {
        "upstash-workflow-runid": runId,
        "upstash-workflow-init": "false",
        "upstash-workflow-url": url,
        "upstash-forward-upstash-workflow-sdk-version": "1",
        "upstash-feature-set": "LazyFetch,InitialBody,WF_DetectTrigger,WF_TriggerOnConfig",
        "content-type": "application/json",
      };
      const r = await request(`${sluiceUrl}/v2/batch`, {
        method: "POST",
        dispatcher: agent,
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify([{ destination: url, headers, body: JSON.stringify(step) }]),
      });
      await r.body.text();
    } else {
      const r = await request(`${sluiceUrl}/v2/workflows/runs/${runId}?cancel=false`, { method: "DELETE", dispatcher: agent, headers: auth, body: "15" });
      await r.body.text();
      finished.set(runId, now());
    }
    res.writeHead(200, { "upstash-workflow-sdk-version": "1", "content-type": "application/json" });
    res.end(JSON.stringify({ workflowRunId: runId, finishCondition: "success" }));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/wf`;
  const triggerHeaders = (runId: string) => ({
    "upstash-workflow-runid": runId,
    "upstash-workflow-init": "true",
    "upstash-workflow-url": url,
    "upstash-forward-upstash-workflow-sdk-version": "1",
    "upstash-feature-set": "LazyFetch,InitialBody,WF_DetectTrigger,WF_TriggerOnConfig",
    "content-type": "application/json",
  });
  try {
    const t0 = now();
    const cpu0 = serverCpuSeconds();
    const ids: string[] = [];
    for (let b = 0; b < n; b += 100) {
      const size = Math.min(100, n - b);
      const batchIds = Array.from({ length: size }, (_, i) => `wfr_bench-${b + i}-${Math.random().toString(36).slice(2)}`);
      const tb = now();
      const r = await request(`${sluiceUrl}/v2/batch`, {
        method: "POST",
        dispatcher: agent,
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(batchIds.map((id) => ({ destination: url, headers: triggerHeaders(id), body: "{}" }))),
      });
      await r.body.text();
      for (const id of batchIds) {
        started.set(id, tb);
        ids.push(id);
      }
    }
    const deadline = Date.now() + 300_000;
    while (ids.some((id) => !finished.has(id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const done = ids.filter((id) => finished.has(id));
    const end = Math.max(...done.map((id) => finished.get(id)!));
    const lat = done.map((id) => finished.get(id)! - started.get(id)!).sort((a, b) => a - b);
    const cpu = serverCpuSeconds() - cpu0;
    report(
      `workflow (minimal endpoint, Sluice alone): ${done.length}/${n} 5-step runs in ${((end - t0) / 1000).toFixed(1)} s: ` +
        `${((done.length / (end - t0)) * 1000).toFixed(0)} runs/s (${(((done.length * 6) / (end - t0)) * 1000).toFixed(0)} step deliveries/s), ` +
        `run latency p50 ${lat[Math.floor(lat.length / 2)].toFixed(0)} ms, p99 ${lat[Math.floor(lat.length * 0.99)].toFixed(0)} ms; ` +
        `Sluice CPU per step ${((cpu * 1000) / (done.length * 6)).toFixed(2)} ms`,
    );
  } finally {
    server.closeAllConnections();
    server.close();
    await agent.close();
  }
}
