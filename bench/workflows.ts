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
