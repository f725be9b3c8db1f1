import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_USERS, readOnlyTokenFor, tokenFor } from "../../src/config.js";
import { Cluster, TOKEN, type ClusterNode } from "../helpers/cluster.js";
import { CountingReceiver } from "../helpers/counting-receiver.js";
import { adminClient } from "../helpers/postgres.js";
import { eventually, gate } from "../helpers/receiver.js";

/**
 * The reads only the leader answers exactly (src/http/leader-reads.ts: a flow-control key's live counts, the
 * console's overview) asked on a node that does not lead, and `/v2/globalParallelism`, counted from the store, on
 * any node. Two nodes; A leads and advertises (SLUICE_ADVERTISE_URL) a pass-through door on 127.0.0.1 in front of
 * it, so the test sees each read B passes on, with its headers. The lease is 10 s here, not the harness's 2 s: A is
 * frozen for a few seconds to show B answering alone, and must still lead when it is continued.
 */

/** A pass-through to a target set once known, recording the requests it passed on. */
class Door {
  readonly seen: { path: string; headers: IncomingHttpHeaders }[] = [];
  target: URL | undefined;
  private constructor(private readonly server: Server) {}

  static async start(): Promise<Door> {
    const server = createServer();
    const door = new Door(server);
    server.on("request", (req, res) => {
      door.seen.push({ path: req.url ?? "", headers: req.headers });
      const t = door.target;
      if (!t) return void res.writeHead(502).end("no target yet");
      const upstream = request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on("error", (err) => res.writeHead(502).end(String(err)));
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return door;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const OTHER = tokenFor(DEV_USERS[1]);
const THIRD = tokenFor(DEV_USERS[2]);
/** Bounds a read B answers alone while A is frozen: the 2 s B waits for A, its own reads, and a loaded box. */
const FALLBACK_BOUND_MS = 5000;

let cluster: Cluster;
let door: Door;
let receiver: CountingReceiver;
let a: ClusterNode;
let b: ClusterNode;
const held = gate();

beforeAll(async () => {
  door = await Door.start();
  // A trailing slash, which the node drops: the door is then asked for /v2/…, not //v2/….
  cluster = await Cluster.start(1, { SLUICE_CLUSTER_LEASE: "10s", SLUICE_ADVERTISE_URL: `${door.url}/` });
  a = await cluster.leader();
  door.target = new URL(a.url);
  // B advertises the door too (one setting for both), which is only ever used while A leads.
  b = await cluster.add();
  receiver = await CountingReceiver.start(() => cluster.pids());
  receiver.hold = () => held.wait;
}, 60_000);
afterAll(async () => {
  held.open();
  await cluster?.close();
  await receiver?.close();
  await door?.close();
});

async function json<T = any>(res: Promise<Response>, status = 200): Promise<T> {
  const r = await res;
  const body = await r.text();
  expect(r.status, body).toBe(status);
  return JSON.parse(body) as T;
}

const as = (token: string): { headers: Record<string, string> } => ({ headers: { Authorization: `Bearer ${token}` } });

async function publish(node: ClusterNode, path: string, token = TOKEN, headers: Record<string, string> = {}): Promise<void> {
  await json(cluster.api(node, "POST", `/v2/publish/${receiver.url(path)}`, { body: "x", headers: { Authorization: `Bearer ${token}`, "Content-Type": "text/plain", ...headers } }));
}

/** The overview figures that are live counts (the per-minute chart is left out: a minute may turn between reads). */
function live(o: any): Record<string, unknown> {
  return { inFlight: o.inFlight, dueWaiting: o.dueWaiting, notYetDue: o.notYetDue, dlq: o.dlq, activeRuns: o.activeRuns };
}

/** A flow key's figures, without the rate window's start (it has none while no rate is set, but stays out of it). */
function figures(info: any): Record<string, unknown> {
  const { ratePeriodStart: _, ...rest } = info;
  return rest;
}

describe("reads the leader answers, asked on a node that does not lead", () => {
  it("the leader record holds the advertised URL, as given less its trailing slash", async () => {
    const schema = new URL(cluster.databaseUrl).searchParams.get("schema")!;
    const admin = await adminClient();
    try {
      const { rows } = await admin.query<{ node_id: string; url: string }>(`SELECT node_id, info->>'url' AS url FROM "${schema}".sluice_node`);
      expect(rows.map((r) => r.url).sort()).toEqual([door.url, door.url]);
    } finally {
      await admin.end();
    }
    expect((await cluster.readiness(a)).leader).toBe(true);
    expect((await cluster.readiness(b)).leader).toBe(false);
  });

  it("a flow key held open at a slow receiver: B reports the leader's in-flight and waiting figures, with the caller's token", async () => {
    const flow = { "Upstash-Flow-Control-Key": "held", "Upstash-Flow-Control-Value": "parallelism=2" };
    // Published on both nodes: the leader dispatches every flow-controlled message.
    for (let i = 0; i < 5; i++) await publish(i % 2 ? a : b, `/held/${i}`, TOKEN, flow);
    // Another user's key, one message in flight.
    await publish(b, "/other/0", OTHER, { "Upstash-Flow-Control-Key": "other-key", "Upstash-Flow-Control-Value": "parallelism=1" });
    await eventually(() => receiver.deliveries.filter((d) => d.group === "held").length === 2 && receiver.deliveries.some((d) => d.group === "other"), 10_000);
    expect(new Set(receiver.deliveries.map((d) => d.pid))).toEqual(new Set([a.pid]));

    const onA = await json(cluster.api(a, "GET", "/v2/flowControl/held"));
    expect(onA).toMatchObject({ flowControlKey: "held", parallelismMax: 2, parallelismCount: 2, waitListSize: 3, isPaused: false });
    const before = door.seen.length;
    const onB = await json(cluster.api(b, "GET", "/v2/flowControl/held"));
    expect(figures(onB)).toEqual(figures(onA));
    const listA = await json<any[]>(cluster.api(a, "GET", "/v2/flowControl"));
    const listB = await json<any[]>(cluster.api(b, "GET", "/v2/flowControl"));
    expect(listB.map(figures)).toEqual(listA.map(figures));
    expect(listB.map((k) => k.flowControlKey)).toEqual(["held"]);
    const overviewA = await json(cluster.api(a, "GET", "/v2/console/overview"));
    const overviewB = await json(cluster.api(b, "GET", "/v2/console/overview"));
    expect(live(overviewB)).toEqual(live(overviewA));
    // Due and waiting for a slot is known only in the leader's memory: B's own view would call these "not yet due".
    expect(live(overviewB)).toMatchObject({ inFlight: 2, dueWaiting: 3, notYetDue: 0 });

    // B passed each of its three reads to the leader, at the advertised URL, named itself, and sent the caller's token.
    const passed = door.seen.slice(before).filter((s) => s.headers["sluice-forwarded-by"] !== undefined);
    expect(passed.map((s) => s.path)).toEqual(["/v2/flowControl/held", "/v2/flowControl", "/v2/console/overview"]);
    const bId = await cluster.nodeId(b);
    for (const s of passed) expect(s.headers).toMatchObject({ "sluice-forwarded-by": bId, authorization: `Bearer ${TOKEN}` });
    // A does not pass its own reads on (the door saw only B's).
    expect(door.seen.slice(before)).toHaveLength(3);

    // The query goes along: the leader filters.
    expect(await json(cluster.api(b, "GET", "/v2/flowControl?search=nothing-like-it"))).toEqual([]);
    expect((await json<any[]>(cluster.api(b, "GET", "/v2/flowControl?search=hel"))).map((k) => k.flowControlKey)).toEqual(["held"]);
    expect(door.seen.slice(-2).map((s) => s.path)).toEqual(["/v2/flowControl?search=nothing-like-it", "/v2/flowControl?search=hel"]);
  });

  it("passed on with another user's token, the leader answers for that user only", async () => {
    const before = door.seen.length;
    const list = await json<any[]>(cluster.api(b, "GET", "/v2/flowControl", as(OTHER)));
    expect(list.map((k) => [k.flowControlKey, k.parallelismCount])).toEqual([["other-key", 1]]);
    // The first user's key is not another user's to see: the leader's 404 comes back as it is.
    const missing = await json<{ error: string }>(cluster.api(b, "GET", "/v2/flowControl/held", as(OTHER)), 404);
    expect(missing.error).toContain('"held"');
    expect(live(await json(cluster.api(b, "GET", "/v2/console/overview", as(OTHER))))).toMatchObject({ inFlight: 1, dueWaiting: 0 });
    // A user with nothing sees nothing, and the read-only token reads the same.
    expect(await json(cluster.api(b, "GET", "/v2/flowControl", as(THIRD)))).toEqual([]);
    const readOnly = readOnlyTokenFor(DEV_USERS[1])!;
    expect((await json<any[]>(cluster.api(b, "GET", "/v2/flowControl", as(readOnly)))).map((k) => k.flowControlKey)).toEqual(["other-key"]);
    const tokens = door.seen.slice(before).map((s) => s.headers.authorization);
    expect(tokens).toEqual([`Bearer ${OTHER}`, `Bearer ${OTHER}`, `Bearer ${OTHER}`, `Bearer ${THIRD}`, `Bearer ${readOnly}`]);

    // A token in the query instead of the header goes along with the path; a bad token is refused by B itself.
    const viaQuery = await fetch(`${b.url}/v2/flowControl?qstash_token=${encodeURIComponent(OTHER)}`, { signal: AbortSignal.timeout(10_000) });
    expect((await json<any[]>(Promise.resolve(viaQuery))).map((k) => k.flowControlKey)).toEqual(["other-key"]);
    const seenNow = door.seen.length;
    expect((await cluster.api(b, "GET", "/v2/flowControl", as("not-a-token"))).status).toBe(401);
    expect(door.seen.length).toBe(seenNow);
  });

  it("/v2/globalParallelism on either node counts the user's attempts in flight on both", async () => {
    // Plain messages due now are delivered by the node that stored them: 3 in flight on A, 2 on B.
    for (let i = 0; i < 3; i++) await publish(a, `/gp/a${i}`, THIRD);
    for (let i = 0; i < 2; i++) await publish(b, `/gp/b${i}`, THIRD);
    await eventually(() => receiver.deliveries.filter((d) => d.group === "gp").length === 5, 10_000);
    const senders = receiver.deliveries.filter((d) => d.group === "gp").map((d) => (d.pid === a.pid ? "A" : d.pid === b.pid ? "B" : "?"));
    expect(senders.sort()).toEqual(["A", "A", "A", "B", "B"]);
    for (const node of [a, b]) {
      expect(await json(cluster.api(node, "GET", "/v2/globalParallelism", as(THIRD))), node.name).toMatchObject({ parallelismCount: 5 });
    }
    // The first user's count is theirs alone (the two held flow-key messages), asked on either node.
    for (const node of [a, b]) expect((await json(cluster.api(node, "GET", "/v2/globalParallelism"))).parallelismCount, node.name).toBe(2);
  });

  it("with the leader frozen, B answers from its own copy and the store's counts, within the bound, then passes reads on again", async () => {
    const onA = figures(await json(cluster.api(a, "GET", "/v2/flowControl/held")));
    const before = door.seen.length;
    cluster.freeze(a);
    let alone: { took: number; key: any; list: any[]; overview: any; gp: any };
    try {
      const timed = async <T>(read: Promise<T>): Promise<[T, number]> => {
        const t0 = performance.now();
        const value = await read;
        return [value, performance.now() - t0];
      };
      const [[key, t1], [list, t2], [overview, t3], [gp, t4]] = await Promise.all([
        timed(json(cluster.api(b, "GET", "/v2/flowControl/held", { timeoutMs: FALLBACK_BOUND_MS }))),
        timed(json<any[]>(cluster.api(b, "GET", "/v2/flowControl", { timeoutMs: FALLBACK_BOUND_MS }))),
        timed(json(cluster.api(b, "GET", "/v2/console/overview", { timeoutMs: FALLBACK_BOUND_MS }))),
        timed(json(cluster.api(b, "GET", "/v2/globalParallelism", { timeoutMs: FALLBACK_BOUND_MS }))),
      ]);
      alone = { took: Math.max(t1, t2, t3, t4), key, list, overview, gp };
    } finally {
      cluster.thaw(a);
    }
    // Each of the three leader reads went to the door (and waited there for A) before B answered alone.
    expect(door.seen.slice(before).filter((s) => s.headers["sluice-forwarded-by"] !== undefined)).toHaveLength(3);
    expect(alone.took).toBeLessThan(FALLBACK_BOUND_MS);
    // Counts from the store are exact; the settings are B's copy of them.
    expect(alone.key).toMatchObject({ flowControlKey: "held", parallelismCount: 2, waitListSize: 3, isPaused: false });
    // B has no lane or settings for the key (only the leader used it): the store's messages of it make it listed,
    // with the store's counts and the limits of a key with no settings.
    expect(alone.list.map(figures)).toEqual([figures(alone.key)]);
    expect(alone.list[0]).toMatchObject({ flowControlKey: "held", parallelismCount: 2, waitListSize: 3 });
    // In flight is the store's count; which of the rest are due and waiting for a slot only the leader knows.
    expect(alone.overview).toMatchObject({ inFlight: 2 });
    expect(alone.overview.dueWaiting + alone.overview.notYetDue).toBe(3);
    expect(alone.gp.parallelismCount).toBe(2);

    // Continued within its lease, A still leads, and B's reads are the leader's again.
    expect((await cluster.leader(10_000)).name).toBe("A");
    const again = await eventually(async () => {
      const n = door.seen.length;
      const info = await json(cluster.api(b, "GET", "/v2/flowControl/held"));
      return door.seen.length > n ? info : undefined;
    }, 10_000, 100);
    expect(figures(again)).toEqual(onA);
  });

  it("with the leader gone and the proxy at its advertised URL answering 502 for it, B answers alone at once", async () => {
    await cluster.kill(a);
    const before = door.seen.length;
    const t0 = performance.now();
    // Asked before A's lease runs out (10 s): B does not lead yet, and A is still the leader of record.
    const [key, overview] = await Promise.all([
      json(cluster.api(b, "GET", "/v2/flowControl/held", { timeoutMs: FALLBACK_BOUND_MS })),
      json(cluster.api(b, "GET", "/v2/console/overview", { timeoutMs: FALLBACK_BOUND_MS })),
    ]);
    const took = performance.now() - t0;
    expect((await cluster.readiness(b)).leader).toBe(false);
    expect(door.seen.length - before).toBe(2);
    expect(took).toBeLessThan(FALLBACK_BOUND_MS);
    // A's attempts stay counted in flight until the next leader takes them over.
    expect(key).toMatchObject({ flowControlKey: "held", parallelismCount: 2, waitListSize: 3 });
    expect(overview.inFlight).toBe(2);
  });
});
