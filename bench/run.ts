/**
 * `npm run bench`: starts Sluice on the embedded store (a child process), a local receiver and a load
 * generator in this process, and prints throughput and latency. It reports numbers; it passes or fails nothing.
 *
 * Scenarios (environment variables scale them; BENCH_ONLY=batch,latency picks some):
 *   batch     BENCH_BATCH_N (50000) messages published in batches of 100, delivered end to end
 *   single    BENCH_SINGLE_N (20000) single publishes from 64 concurrent clients
 *   latency   1000 messages/s for BENCH_LATENCY_S (10) seconds after a 2 s warm-up; publish → delivery latency
 *   delayed   BENCH_DELAYED_N (10000) messages due over 10 s, and BENCH_BURST_N (5000) due at one instant
 *   keys      BENCH_KEYS_N (50000) messages with 1 flow-control key, then spread over 10,000 keys
 *   schedules BENCH_SCHEDULES_N (10000) schedules firing every second for BENCH_SCHEDULES_S (10) s
 *   workflows BENCH_WORKFLOW_N (1000) concurrent runs of a 5-step workflow served by the real SDK, then 5×N
 *             runs answered by a minimal endpoint speaking the same protocol (Sluice's own cost per step);
 *             `workflows-minimal` runs only the second
 *   pending   BENCH_PENDING_N (1000000) delayed messages held; resident memory and restart time
 *   cluster   (PostgreSQL only) 1, 2 and 3 nodes on one schema: batch, single and latency (bench/cluster.ts)
 *
 * The batch, single and workflows-minimal scenarios measure after an unmeasured warm-up through the same path (as
 * the latency scenario and ../shared/peer-bench do): the steady cost a running server pays, not the JIT's first seconds.
 *
 * BENCH_DATABASE=postgres://postgres@127.0.0.1:5432/test runs every scenario on the PostgreSQL store instead (each server
 * of the run in a schema of its own, dropped at the end), and reports PostgreSQL's own CPU beside Sluice's.
 *
 * Batch, single and latency also report the group commits per delivered message and the write operations in each
 * (from the server's /metrics), so a change to how writes are grouped shows beside what it did to the CPU.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { DEV_USERS, tokenFor } from "../src/config.js";
import { workflowProtocolScenario, workflowScenario } from "./workflows.js";
import { now, pacedPublishes } from "./paced.js";
import { clusterScenarios } from "./cluster.js";
import { commitCounts, commitsPerMessage } from "./commit-counts.js";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
const TOKEN = tokenFor(DEV_USERS[0]);
const env = (name: string, dflt: number): number => Number(process.env[name] ?? dflt);
/** `BENCH_ONLY=latency,delayed` runs just those scenarios. */
const only = process.env.BENCH_ONLY?.split(",");
const runs = (scenario: string): boolean => !only || only.includes(scenario);
/** Batches of 100 published and delivered before the batch scenario is measured (the JIT's warm-up). */
const WARM_UP_BATCHES = 50;
/** Single publishes delivered before the single scenario is measured. */
const WARM_UP_SINGLES = 2_000;
/** Workflow runs completed before the minimal-endpoint scenario is measured. */
const WARM_UP_RUNS = 500;

interface Sluice {
  child: ChildProcess;
  url: string;
  startMs: number;
}

/** The PostgreSQL the bench runs on, when BENCH_DATABASE names one; else the embedded store. */
const DATABASE = process.env.BENCH_DATABASE;
/** One schema per data folder, so a restart of the same "folder" finds its data again. */
const schemas = new Map<string, string>();

function storeArgs(dataDir: string): string[] {
  if (!DATABASE) return ["--data", dataDir];
  let schema = schemas.get(dataDir);
  if (!schema) schemas.set(dataDir, (schema = `bench_${process.pid}_${schemas.size}`));
  const url = new URL(DATABASE);
  url.searchParams.set("schema", schema);
  return ["--database", url.toString()];
}

/** Drops the schemas the run made (the bench leaves nothing behind in the database). */
async function dropSchemas(): Promise<void> {
  if (!DATABASE || schemas.size === 0) return;
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: DATABASE });
  await client.connect();
  try {
    for (const schema of schemas.values()) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

/** CPU seconds used by every PostgreSQL backend process so far (the server's own cost of the bench). */
function postgresCpuSeconds(): number {
  if (!DATABASE) return NaN;
  let total = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "postgres") total += cpuSeconds(Number(pid));
    } catch {
      // The process ended meanwhile.
    }
  }
  return total;
}

/** The node flags the `sluice` command starts with (the `#!/usr/bin/env -S node …` line of bin/sluice.js). */
function binNodeFlags(): string[] {
  const first = readFileSync(BIN, "utf8").split("\n", 1)[0];
  const m = /^#!\S*env -S node\s+(.*)$/.exec(first);
  return m ? m[1].split(/\s+/).filter(Boolean) : [];
}

async function startSluice(dataDir: string): Promise<Sluice> {
  const t0 = performance.now();
  // BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server (written when it stops); the server
  // gets the flags the installed command runs with first, so what is measured is what is deployed.
  const nodeArgs = [...binNodeFlags(), ...(process.env.BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [])];
  const child = spawn(process.execPath, [...nodeArgs, BIN, "dev", ...storeArgs(dataDir), "--port", "0"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, SLUICE_LOG_LEVEL: "error" },
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`sluice did not start: ${out}`)), 120_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /running at (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`sluice exited ${code}: ${out}`)));
  });
  return { child, url, startMs: performance.now() - t0 };
}

async function stop(s: Sluice, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (s.child.exitCode !== null) return;
  const gone = new Promise((r) => s.child.once("exit", r));
  s.child.kill(signal);
  await gone;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

function cpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** CPU seconds of a process's main thread alone (its task whose id is the process's). */
function mainThreadCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

/** User plus system time of a /proc `stat` file (a process's or one thread's). */
function statCpuSeconds(path: string): number {
  const stat = readFileSync(path, "utf8").split(") ")[1].split(" ");
  return (Number(stat[11]) + Number(stat[12])) / 100;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(latencies: number[]): string {
  const s = [...latencies].sort((a, b) => a - b);
  return `p50 ${pct(s, 50).toFixed(1)} ms, p99 ${pct(s, 99).toFixed(1)} ms, max ${s[s.length - 1]?.toFixed(1)} ms (n=${s.length})`;
}

/** The destination: records when each message id arrived (ms since the epoch, sub-ms precision). */
function startReceiver(): Promise<{ port: number; arrivals: Map<string, number>; waitFor(n: number, timeoutMs: number): Promise<void>; close(): void }> {
  const arrivals = new Map<string, number>();
  let waiter: { n: number; resolve: () => void } | undefined;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      arrivals.set(req.headers["upstash-message-id"] as string, performance.timeOrigin + performance.now());
      res.end("ok");
      if (waiter && arrivals.size >= waiter.n) {
        waiter.resolve();
        waiter = undefined;
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as { port: number }).port,
        arrivals,
        waitFor: (n, timeoutMs) =>
          arrivals.size >= n
            ? Promise.resolve()
            : new Promise<void>((res, rej) => {
                const t = setTimeout(() => rej(new Error(`only ${arrivals.size}/${n} delivered in ${timeoutMs} ms`)), timeoutMs);
                waiter = { n, resolve: () => (clearTimeout(t), res()) };
              }),
        close: () => {
          server.closeAllConnections();
          server.close();
        },
      }),
    ),
  );
}

const agent = new Agent({ connections: 128, keepAliveTimeout: 60_000 });

async function publish(base: string, dest: string, headers: Record<string, string> = {}, body = "x"): Promise<string> {
  const res = await request(`${base}/v2/publish/${dest}`, {
    method: "POST",
    dispatcher: agent,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "text/plain", ...headers },
    body,
  });
  const json = (await res.body.json()) as { messageId: string; error?: string };
  if (res.statusCode >= 300) throw new Error(`publish failed ${res.statusCode}: ${json.error}`);
  return json.messageId;
}

async function batch(base: string, items: { destination: string; headers?: Record<string, string>; body?: string }[]): Promise<string[]> {
  const res = await request(`${base}/v2/batch`, {
    method: "POST",
    dispatcher: agent,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(items),
  });
  const json = (await res.body.json()) as { messageId: string }[];
  if (res.statusCode >= 300) throw new Error(`batch failed ${res.statusCode}: ${JSON.stringify(json)}`);
  return json.map((r) => r.messageId);
}

/** Runs `fn(i)` for i in [0, n) with `concurrency` workers. */
async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "sluice-bench-"));
  const recv = await startReceiver();
  const dest = `http://127.0.0.1:${recv.port}/hook`;
  let sluice = await startSluice(dataDir);
  const lines: string[] = [];
  const report = (s: string): void => {
    lines.push(s);
    console.log(s);
  };
  const storeName = DATABASE ? `PostgreSQL (${new URL(DATABASE).host})` : "SQLite file (WAL)";
  report(`Sluice bench — node ${process.version}, store: ${storeName}, started in ${sluice.startMs.toFixed(0)} ms`);
  /**
   * CPU per delivered message over a scenario (Sluice's process, and PostgreSQL's backends when it is the store),
   * and the group commits it took.
   */
  const cpuMeter = async (): Promise<(n: number) => Promise<string>> => {
    const pid = sluice.child.pid!;
    const commitsAt = await commitCounts(sluice.url);
    const sluiceAt = cpuSeconds(pid);
    const mainAt = mainThreadCpuSeconds(pid);
    const pgAt = postgresCpuSeconds();
    return async (n) => {
      const perMessage = (seconds: number): string => ((seconds / n) * 1e6).toFixed(0);
      const total = cpuSeconds(pid) - sluiceAt;
      const main = mainThreadCpuSeconds(pid) - mainAt;
      // The main thread and the rest: the delivery thread, and V8's and libuv's helpers.
      const own = `${perMessage(total)} µs (main thread ${perMessage(main)}, other threads ${perMessage(total - main)})`;
      const pgOwn = DATABASE ? `, PostgreSQL ${perMessage(postgresCpuSeconds() - pgAt)} µs` : "";
      return `CPU/msg: Sluice ${own}${pgOwn}; ${commitsPerMessage([commitsAt], [await commitCounts(sluice.url)], n)}`;
    };
  };
  try {
    // --- batch throughput -------------------------------------------------------------------
    if (runs("batch")) {
      const n = env("BENCH_BATCH_N", 50_000);
      const hundred = (): { destination: string; body: string }[] => Array.from({ length: 100 }, () => ({ destination: dest, body: "x" }));
      // Unmeasured first, as in the latency scenario and peer-bench: a fresh process spends its first seconds compiling.
      const warm = recv.arrivals.size;
      await pool(WARM_UP_BATCHES, 8, async () => void (await batch(sluice.url, hundred())));
      await recv.waitFor(warm + WARM_UP_BATCHES * 100, 300_000);
      const base = recv.arrivals.size;
      const cpu = await cpuMeter();
      const t0 = now();
      const batches = Math.ceil(n / 100);
      await pool(batches, 8, async () => void (await batch(sluice.url, hundred())));
      const published = now();
      await recv.waitFor(base + batches * 100, 300_000);
      const done = now();
      report(
        `batch:    ${n} msgs, publish ${((n / (published - t0)) * 1000).toFixed(0)} msg/s, ` +
          `end-to-end ${((n / (done - t0)) * 1000).toFixed(0)} msg/s delivered, ${await cpu(n)}`,
      );
    }
    // --- flow control: one key vs. 10,000 keys ---------------------------------------------------
    if (runs("keys")) {
      const n = env("BENCH_KEYS_N", 50_000);
      for (const keyCount of [1, 10_000]) {
        const base = recv.arrivals.size;
        const t0 = now();
        await pool(Math.ceil(n / 100), 8, async (b) => {
          await batch(
            sluice.url,
            Array.from({ length: 100 }, (_, i) => ({
              destination: dest,
              headers: { "Upstash-Flow-Control-Key": `k${(b * 100 + i) % keyCount}`, "Upstash-Flow-Control-Value": "parallelism=10" },
            })),
          );
        });
        await recv.waitFor(base + n, 300_000);
        report(`keys:     ${n} msgs over ${keyCount} flow-control key(s), parallelism 10 each, end-to-end ${((n / (now() - t0)) * 1000).toFixed(0)} msg/s`);
      }
    }
    // --- single-publish throughput ------------------------------------------------------------
    if (runs("single")) {
      const n = env("BENCH_SINGLE_N", 20_000);
      const warm = recv.arrivals.size;
      await pool(WARM_UP_SINGLES, 64, async () => void (await publish(sluice.url, dest)));
      await recv.waitFor(warm + WARM_UP_SINGLES, 300_000);
      const base = recv.arrivals.size;
      const cpu = await cpuMeter();
      const t0 = now();
      await pool(n, 64, async () => {
        await publish(sluice.url, dest);
      });
      const published = now();
      await recv.waitFor(base + n, 300_000);
      const done = now();
      report(
        `single:   ${n} msgs, 64 clients, publish ${((n / (published - t0)) * 1000).toFixed(0)} msg/s, ` +
          `end-to-end ${((n / (done - t0)) * 1000).toFixed(0)} msg/s delivered, ${await cpu(n)}`,
      );
    }
    // --- latency at a fixed rate --------------------------------------------------------------
    if (runs("latency")) {
      const seconds = env("BENCH_LATENCY_S", 10);
      const rate = 1000;
      // Paced single publishes; the first 2 s warm the JIT and the connection pools and are not counted.
      const paced = (count: number): Promise<Map<string, number>> => pacedPublishes(() => publish(sluice.url, dest), count, rate, 500);
      await paced(2 * rate);
      const cpu = await cpuMeter();
      const sent = await paced(seconds * rate);
      const lat = [...sent].map(([id, t]) => (recv.arrivals.get(id) ?? NaN) - t).filter((x) => !Number.isNaN(x));
      report(`latency:  ${rate} msg/s for ${seconds} s, publish → delivery ${summary(lat)}, lost ${sent.size - lat.length}, ${await cpu(sent.size)}`);
    }
    // --- delayed precision --------------------------------------------------------------------
    if (runs("delayed")) {
      // Delayed messages with due times spread over 10 s (≈ 1,000 due per second), all published up front.
      const n = env("BENCH_DELAYED_N", 10_000);
      const spreadMs = 10_000;
      const start = Date.now() + 5000;
      const dueOf = new Map<string, number>();
      for (let b = 0; b < n / 100; b++) {
        const dues = Array.from({ length: 100 }, (_, i) => start + Math.floor(((b * 100 + i) / n) * spreadMs));
        const sentAt = Date.now();
        const ids = await batch(
          sluice.url,
          dues.map((due) => ({ destination: dest, headers: { "Upstash-Delay": `${Math.max(0, due - sentAt)}ms` } })),
        );
        ids.forEach((id, i) => dueOf.set(id, dues[i]));
      }
      // For every 10th message, the exact due time the server stored (notBefore, ms), read back before it is due.
      const exactDue = new Map<string, number>();
      for (const id of [...dueOf.keys()].filter((_, i) => i % 10 === 0)) {
        const res = await request(`${sluice.url}/v2/messages/${id}`, { headers: { authorization: `Bearer ${TOKEN}` }, dispatcher: agent });
        const m = (await res.body.json()) as { notBefore?: number };
        if (res.statusCode === 200 && m.notBefore) exactDue.set(id, m.notBefore);
      }
      const base = recv.arrivals.size;
      await recv.waitFor(base + n, 60_000);
      const late = [...exactDue].map(([id, due]) => recv.arrivals.get(id)! - due);
      report(`delayed:  ${n} msgs due over ${spreadMs / 1000} s, arrival after the stored due time ${summary(late)}, early ${late.filter((x) => x < 0).length}`);
      // A burst: many messages due at the same instant; this measures throughput more than timer precision.
      const burst = env("BENCH_BURST_N", 5000);
      const dueSec = Math.ceil(Date.now() / 1000) + 3;
      const burstIds: string[] = [];
      for (let b = 0; b < burst / 100; b++) {
        burstIds.push(
          ...(await batch(sluice.url, Array.from({ length: 100 }, () => ({ destination: dest, headers: { "Upstash-Not-Before": String(dueSec) } })))),
        );
      }
      const base2 = recv.arrivals.size;
      await recv.waitFor(base2 + burstIds.length, 60_000);
      const burstLate = burstIds.map((id) => recv.arrivals.get(id)! - dueSec * 1000);
      report(`burst:    ${burst} msgs due at one instant, arrival after due ${summary(burstLate)}`);
    }
    // --- schedules: many schedules ticking every second --------------------------------------------
    if (runs("schedules")) {
      // Its own server and data folder: when the ticks outrun delivery, the backlog must not skew the other scenarios.
      const schedDir = mkdtempSync(join(tmpdir(), "sluice-bench-sched-"));
      const sched = await startSluice(schedDir);
      try {
        const n = env("BENCH_SCHEDULES_N", 10_000);
        const seconds = env("BENCH_SCHEDULES_S", 10);
        const ids: string[] = [];
        const c0 = now();
        let next = 0;
        await Promise.all(
          Array.from({ length: 32 }, async () => {
            while (next < n && now() - c0 < 120_000) {
              const i = next++;
              const res = await request(`${sched.url}/v2/schedules/${dest}?s=${i}`, {
                method: "POST",
                dispatcher: agent,
                headers: { authorization: `Bearer ${TOKEN}`, "upstash-cron": "* * * * * *" },
                body: "tick",
              });
              ids.push(((await res.body.json()) as { scheduleId: string }).scheduleId);
            }
          }),
        );
        const created = (now() - c0) / 1000;
        const startSec = Math.ceil(Date.now() / 1000) + 1;
        const endSec = startSec + seconds;
        await new Promise((r) => setTimeout(r, startSec * 1000 - Date.now()));
        const cpu0 = cpuSeconds(sched.child.pid!);
        const t0 = now();
        const before = recv.arrivals.size;
        await new Promise((r) => setTimeout(r, endSec * 1000 - Date.now()));
        const cpuShare = (cpuSeconds(sched.child.pid!) - cpu0) / ((now() - t0) / 1000);
        const delivered = recv.arrivals.size - before;
        // Ticks fired in the window and how late their attempts started, from the logs of a sample of schedules.
        const lags: number[] = [];
        let fired = 0;
        let started = 0;
        const sample = ids.slice(0, Math.min(100, ids.length));
        for (const id of sample) {
          const created = new Map<string, number>();
          const active = new Map<string, number>();
          const q = `scheduleId=${id}&count=1000&fromDate=${startSec * 1000}&toDate=${endSec * 1000 + 30_000}`;
          const res = await request(`${sched.url}/v2/logs?${q}`, { dispatcher: agent, headers: { authorization: `Bearer ${TOKEN}` } });
          const body = (await res.body.json()) as { logs: { messageId: string; state: string; time: number }[] };
          for (const l of body.logs) {
            if (l.state === "CREATED") created.set(l.messageId, l.time);
            if (l.state === "ACTIVE" && !active.has(l.messageId)) active.set(l.messageId, l.time);
          }
          for (const [mid, c] of created) {
            if (c >= endSec * 1000) continue;
            fired++;
            const a = active.get(mid);
            if (a !== undefined) {
              started++;
              lags.push(a - Math.floor(c / 1000) * 1000);
            }
          }
        }
        report(
          `schedules: ${ids.length} schedules every second (created in ${created.toFixed(1)} s), ${seconds} s window: ` +
            `${((fired / (sample.length * seconds)) * 100).toFixed(0)}% of a sample's ticks fired in their second, ` +
            `${started}/${fired} started by the time of reading; tick → attempt start ${summary(lags)}; ` +
            `${(delivered / seconds).toFixed(0)} deliveries/s; server CPU ${(cpuShare * 100).toFixed(0)}% of one core`,
        );
      } finally {
        await stop(sched, "SIGKILL");
        rmSync(schedDir, { recursive: true, force: true });
      }
    }
    // --- workflows: runs of a 5-step workflow through the real SDK ------------------------------
    if (runs("workflows") || runs("workflows-minimal")) {
      const wfDir = mkdtempSync(join(tmpdir(), "sluice-bench-wf-"));
      const wf = await startSluice(wfDir);
      try {
        if (runs("workflows")) await workflowScenario(wf.url, report, env("BENCH_WORKFLOW_N", 1000), () => cpuSeconds(wf.child.pid!));
        // Unmeasured first (it matters when this runs alone): a fresh process spends its first seconds compiling.
        await workflowProtocolScenario(wf.url, () => undefined, WARM_UP_RUNS, () => cpuSeconds(wf.child.pid!));
        await workflowProtocolScenario(wf.url, report, env("BENCH_WORKFLOW_N", 1000) * 5, () => cpuSeconds(wf.child.pid!));
      } finally {
        // A profiled server writes its profile only when it exits on its own.
        await stop(wf, process.env.BENCH_NODE_ARGS ? "SIGTERM" : "SIGKILL");
        rmSync(wfDir, { recursive: true, force: true });
      }
    }
    // --- several nodes on one PostgreSQL ----------------------------------------------------------
    if (runs("cluster") && DATABASE) {
      const kit = { database: DATABASE, token: TOKEN, start: startSluice, stop, recv, dest, report, publish, batch, pool, cpuSeconds, summary, env };
      await clusterScenarios(kit);
    }
    // --- a million pending ----------------------------------------------------------------------
    if (runs("pending")) {
      const n = env("BENCH_PENDING_N", 1_000_000);
      const t0 = now();
      await pool(Math.ceil(n / 1000), 4, async () => {
        await batch(
          sluice.url,
          Array.from({ length: 1000 }, () => ({ destination: dest, headers: { "Upstash-Delay": "2h" } })),
        );
      });
      const took = now() - t0;
      (globalThis as { gc?: () => void }).gc?.();
      await new Promise((r) => setTimeout(r, 2000));
      const rss = rssMb(sluice.child.pid!);
      report(`pending:  ${n} delayed msgs stored in ${(took / 1000).toFixed(1)} s (${((n / took) * 1000).toFixed(0)} msg/s), RSS ${rss.toFixed(0)} MB`);
      await stop(sluice, "SIGKILL");
      const t1 = now();
      sluice = await startSluice(dataDir);
      const res = await request(`${sluice.url}/v2/keys`, { headers: { authorization: `Bearer ${TOKEN}` }, dispatcher: agent });
      await res.body.text();
      report(
        `restart:  after kill -9 with ${n} pending, serving again in ${((now() - t1) / 1000).toFixed(2)} s, ` +
          `RSS ${rssMb(sluice.child.pid!).toFixed(0)} MB`,
      );
      report(`cpu:      server process used ${cpuSeconds(sluice.child.pid!).toFixed(1)} s CPU since restart`);
    }
  } finally {
    await stop(sluice);
    recv.close();
    await agent.close();
    rmSync(dataDir, { recursive: true, force: true });
    await dropSchemas();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
