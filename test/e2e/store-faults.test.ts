import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Publishes one message through the API; resolves with the response and its parsed JSON. */
async function publish(s: TestSluice, url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await s.api("POST", `/v2/publish/${url}`, { body, headers: { "Content-Type": "text/plain", ...headers } });
  return { status: res.status, json: await res.json() };
}

describe("one bad write does not fail the others", () => {
  it("a write the store refuses fails only its caller: every publish of its group commits and is delivered", async () => {
    // Few slots: a start leaked by a failed commit would soon stall every delivery.
    const s = await startSluice({ maxInFlight: 4, userMaxInFlightShare: 1 });
    const dest = await TestReceiver.start();
    cleanups.push(() => s.close(), () => dest.close());

    // Alice's queue upsert with a parallelism the store cannot hold, queued on every turn of the event loop while
    // bob's publishes, their starts and their outcomes are committed: each group commit holds a refused write.
    let injecting = true;
    const refused: Promise<unknown>[] = [];
    const bad = { op: "putQueue" as const, queue: { userId: "alice", name: "huge", parallelism: 1e308, paused: false, createdAtMs: 0, updatedAtMs: 0 } };
    const inject = (): void => {
      if (!injecting) return;
      refused.push(s.engine.committer.run([bad]).then(() => "committed", (e: unknown) => e));
      setImmediate(inject);
    };
    inject();

    const bob = s.token(1);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        s.api("POST", `/v2/publish/${dest.url(`/bob/${i}`)}`, { body: `m${i}`, token: bob }).then(async (r) => ({ status: r.status, json: await r.json() })),
      ),
    );
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    await dest.waitFor(200, 15_000);
    injecting = false;

    const outcomes = await Promise.all(refused);
    expect(outcomes.length).toBeGreaterThan(10);
    expect(outcomes.every((o) => o instanceof Error)).toBe(true);
    expect(new Set(dest.requests.map((r) => r.path)).size).toBe(200);
    // Every start was given back: nothing in flight, and the store logged each delivery.
    await eventually(() => s.engine.inFlightCount === 0, 5000);
    const logs = (await (await s.api("GET", "/v2/logs?state=DELIVERED&count=1000", { token: bob })).json()) as { logs: unknown[] };
    expect(logs.logs.length).toBe(200);
    // The refused queue was not stored, and the engine keeps delivering.
    expect((await s.api("GET", "/v2/queues/huge", { token: s.token(0) })).status).toBe(404);
    expect((await publish(s, dest.url("/after"), "after")).status).toBe(200);
    await dest.waitFor(201, 5000);
  });
});

describe("a full disk", () => {
  it("refuses new writes with a 507, keeps serving reads, loses nothing acknowledged and resumes by itself", async () => {
    // A small tmpfs of our own, so the disk really fills (mounting needs root, as CI and these machines have).
    const mountPoint = mkdtempSync(join(tmpdir(), "sluice-full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mountPoint]);
    cleanups.push(() => {
      execFileSync("umount", ["-l", mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    });
    const dataDir = join(mountPoint, "data");
    mkdirSync(dataDir);
    const s = await startSluice({ dataDir, maxInFlight: 4, userMaxInFlightShare: 1 });
    const dest = await TestReceiver.start();
    cleanups.push(() => dest.close(), () => s.close());

    // The first four attempts are held in flight until the disk is full; their outcomes are written then.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    dest.respond = (_req, i) => (i < 4 ? { status: 200, until: held } : { status: 200 });
    const acked = new Set<string>();
    for (let i = 0; i < 4; i++) acked.add((await publish(s, dest.url(`/held/${i}`), `held ${i}`)).json.messageId);
    await dest.waitFor(4, 5000);
    // These come due while the disk is full: their starts cannot be written until space returns.
    for (let i = 0; i < 10; i++) {
      acked.add((await publish(s, dest.url(`/later/${i}`), `later ${i}`, { "Upstash-Delay": "1500ms" })).json.messageId);
    }

    // Fill the disk.
    const filler = join(mountPoint, "filler");
    const fd = openSync(filler, "w");
    const chunk = Buffer.alloc(256 * 1024, 1);
    try {
      for (let i = 0; i < 200; i++) writeSync(fd, chunk);
      throw new Error("the tmpfs never filled up");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
    } finally {
      closeSync(fd);
    }

    // Writes are refused once the store cannot grow; what was accepted before that is acknowledged.
    const big = "x".repeat(512 * 1024);
    let refusal: { status: number; json: any } | undefined;
    for (let i = 0; i < 100 && !refusal; i++) {
      const r = await publish(s, dest.url(`/big/${i}`), big);
      if (r.status === 200) acked.add(r.json.messageId);
      else refusal = r;
    }
    expect(refusal?.status).toBe(507);
    expect(refusal?.json.error).toMatch(/out of disk space/);
    // Small writes still fit in what is left for a while; use that up too, so the engine's own writes fail next.
    let small = 0;
    for (; small < 2000; small++) {
      const r = await publish(s, dest.url(`/small/${small}`), "s");
      if (r.status !== 200) break;
      acked.add(r.json.messageId);
    }
    expect(small).toBeLessThan(2000);

    // Reads keep working.
    const first = [...acked][0];
    expect((await s.api("GET", `/v2/messages/${first}`)).status).toBe(200);
    expect((await s.api("GET", "/v2/logs?count=10")).status).toBe(200);

    // The held attempts end while the disk is full, and the delayed messages come due.
    release();
    await new Promise((r) => setTimeout(r, 2500));

    // Space returns: writes resume by themselves.
    rmSync(filler);
    await eventually(async () => {
      const r = await publish(s, dest.url("/resumed"), "resumed");
      if (r.status === 200) acked.add(r.json.messageId);
      return r.status === 200;
    }, 15_000, 200);

    // Nothing acknowledged was lost, and no slot leaked: every message is delivered, then a fresh burst too.
    await eventually(() => {
      const seen = new Set(dest.requests.map((r) => r.headers["upstash-message-id"]));
      return [...acked].every((id) => seen.has(id));
    }, 20_000, 100);
    const burst: string[] = [];
    for (let i = 0; i < 20; i++) burst.push((await publish(s, dest.url(`/burst/${i}`), `burst ${i}`)).json.messageId as string);
    await eventually(() => {
      const seen = new Set(dest.requests.map((r) => r.headers["upstash-message-id"]));
      return burst.every((id) => seen.has(id));
    }, 10_000, 50);
    await eventually(() => s.engine.inFlightCount === 0, 10_000);
    const delivered = (await (await s.api("GET", "/v2/logs?state=DELIVERED&count=1000")).json()) as { logs: { messageId: string }[] };
    const deliveredIds = new Set(delivered.logs.map((l) => l.messageId));
    expect([...acked].filter((id) => !deliveredIds.has(id))).toEqual([]);
  }, 90_000);
});
