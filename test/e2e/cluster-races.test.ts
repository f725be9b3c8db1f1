import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startIdleNode, type IdleNode } from "../helpers/idle-node.js";
import { ok, sleep, unique } from "../helpers/api-replies.js";
import { schemaUrl } from "../helpers/postgres.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

/**
 * Two nodes on one PostgreSQL schema changing the same thing at the same moment: `a` is a started server (it
 * leads: dispatches and fires schedules), `b` a second node on the same schema whose engine is never started and
 * whose commits send no news, so `a` learns of b's changes only from the store. Each case races the two nodes'
 * APIs (or b's API against a's timers) and checks that what both meant is what the store ends with. Runs only on
 * PostgreSQL (vitest's "postgres" project).
 */

let a: TestSluice;
let b: IdleNode;
let dest: TestReceiver;

beforeAll(async () => {
  const databaseUrl = schemaUrl();
  a = await startSluice({ databaseUrl });
  b = await startIdleNode(databaseUrl);
  dest = await TestReceiver.start();
});
afterAll(async () => {
  await b?.close();
  await a?.close();
  await dest?.close();
});

function call(base: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(base + path, { method, headers: { Authorization: `Bearer ${a.token()}`, ...headers }, body });
}
const json = (value: unknown): [string, Record<string, string>] => [JSON.stringify(value), { "Content-Type": "application/json" }];

/** How many races each case runs at once: enough that the two writes interleave in most of them. */
const RACES = 12;

describe("queues", () => {
  it("a queue created with settings on one node while another enqueues to it keeps its settings", async () => {
    const names = Array.from({ length: RACES }, () => unique("q-race"));
    await Promise.all(
      names.flatMap((q) => [
        call(a.url, "POST", "/v2/queues", ...json({ queueName: q, parallelism: 5 })).then(ok),
        call(b.url, "POST", `/v2/enqueue/${q}/${dest.url(`/${q}/m`)}`, "queued").then(ok),
      ]),
    );
    const stored = new Map((await b.store.listQueues()).map((q) => [q.name, q]));
    for (const q of names) expect(stored.get(q)?.parallelism, q).toBe(5);
    // Both nodes answer with the stored settings once they have read the store again.
    await Promise.all([a.engine.settings.reload(), b.engine.settings.reload()]);
    for (const q of names) {
      expect((await ok(await call(a.url, "GET", `/v2/queues/${q}`))).parallelism).toBe(5);
      expect((await ok(await call(b.url, "GET", `/v2/queues/${q}`))).parallelism).toBe(5);
    }
    // Every enqueued message is delivered by the leader, once it has read what b stored (b sends no news).
    await a.engine.recheckDue(undefined, true);
    await eventually(() => names.every((q) => dest.at(`/${q}/m`).length === 1), 10_000);
  });

  it("a pause on one node does not undo a parallelism change made on the other at the same moment", async () => {
    const names = Array.from({ length: RACES }, () => unique("q-fields"));
    for (const q of names) await ok(await call(a.url, "POST", "/v2/queues", ...json({ queueName: q, parallelism: 1 })));
    await b.engine.settings.reload();
    await Promise.all(
      names.flatMap((q) => [
        // A pause patches one field; the upsert on b sets both.
        call(a.url, "POST", `/v2/queues/${q}/pause`).then(ok),
        call(b.url, "POST", "/v2/queues", ...json({ queueName: q, parallelism: 4, paused: false })).then(ok),
      ]),
    );
    const stored = new Map((await b.store.listQueues()).map((q) => [q.name, q]));
    for (const q of names) {
      const s = stored.get(q)!;
      // Paused or not depends on which came last (b's upsert sets the pause too); the parallelism is b's either
      // way: the pause must not write back the parallelism it read before b's change.
      expect(s.parallelism, q).toBe(4);
    }
  });
});

describe("URL groups", () => {
  type Edit = (group: string) => ["POST" | "DELETE", string];

  /** Adds (POST) or removes (DELETE) one endpoint (a path on `dest`) of each group on a and on b, all at once. */
  async function race(groups: string[], onA: Edit, onB: Edit): Promise<void> {
    const edit = (base: string, [method, path]: ["POST" | "DELETE", string], g: string) =>
      call(base, method, `/v2/topics/${g}/endpoints`, ...json({ endpoints: [{ url: dest.url(path) }] })).then(ok);
    await Promise.all(groups.flatMap((g) => [edit(a.url, onA(g), g), edit(b.url, onB(g), g)]));
  }

  async function expectStoredUrls(groups: string[], paths: (group: string) => string[]): Promise<void> {
    const stored = new Map((await b.store.listUrlGroups()).map((g) => [g.name, g]));
    for (const g of groups) expect(stored.get(g)?.endpoints.map((e) => e.url).sort(), g).toEqual(paths(g).map((p) => dest.url(p)).sort());
  }

  it("endpoints added to one group on two nodes at once all end up in it", async () => {
    const groups = Array.from({ length: RACES }, () => unique("g-race"));
    await race(groups, (g) => ["POST", `/${g}/a`], (g) => ["POST", `/${g}/b`]);
    await expectStoredUrls(groups, (g) => [`/${g}/a`, `/${g}/b`]);
    // A publish to each group on a reaches both endpoints.
    await a.engine.urlGroups.reload();
    for (const g of groups) await ok(await call(a.url, "POST", `/v2/publish/${g}`, "fan-out"));
    await eventually(() => groups.every((g) => dest.at(`/${g}/a`).length === 1 && dest.at(`/${g}/b`).length === 1), 10_000);
  });

  it("an endpoint removed on one node while another adds one keeps the added one", async () => {
    const groups = Array.from({ length: RACES }, () => unique("g-remove"));
    for (const g of groups) {
      await ok(await call(a.url, "POST", `/v2/topics/${g}/endpoints`, ...json({ endpoints: [{ url: dest.url(`/${g}/old`) }, { url: dest.url(`/${g}/kept`) }] })));
    }
    await b.engine.urlGroups.reload();
    await race(groups, (g) => ["DELETE", `/${g}/old`], (g) => ["POST", `/${g}/new`]);
    await expectStoredUrls(groups, (g) => [`/${g}/kept`, `/${g}/new`]);
  });
});

describe("schedules", () => {
  it("a schedule replaced on another node with the same next tick fires that tick in its new version only", async () => {
    const path = `/${unique("s-replace")}`;
    const create = (base: string, body: string, id?: string) =>
      call(base, "POST", `/v2/schedules/${dest.url(path)}`, body, { "Upstash-Cron": "* * * * * *", ...(id ? { "Upstash-Schedule-Id": id } : {}) });
    const { scheduleId } = await ok(await create(a.url, "old"));
    await eventually(() => dest.at(path).length >= 2, 5000);

    // Replaced on b: same cron, so the same next tick a is waiting for; a hears nothing of it (b sends no news).
    await ok(await create(b.url, "new", scheduleId));
    const replacedAt = Date.now();
    const onB = (await b.store.listSchedules()).find((s) => s.id === scheduleId)!;
    const onA = a.scheduler.get("defaultUser", scheduleId);
    // The race this case is about: a still holds the old version, and it expects the tick the new one starts with.
    expect(onA.body.toString()).toBe("old");
    expect(onA.nextMs).toBe(onB.nextMs);

    await sleep(3000);
    const later = dest.at(path).filter((r) => r.at > replacedAt + 500);
    expect(later.length).toBeGreaterThanOrEqual(2);
    // Every tick after the replacement went out in the new version: the old one's fire was fenced out, and a
    // followed the store.
    expect(later.map((r) => r.body.toString())).toEqual(later.map(() => "new"));
    expect(a.scheduler.get("defaultUser", scheduleId).body.toString()).toBe("new");
    // Once per tick: no second delivery of one tick (at most one a second, with a second of slack for timing).
    expect(later.length).toBeLessThanOrEqual(Math.ceil((Date.now() - replacedAt - 500) / 1000) + 1);
    await ok(await call(a.url, "DELETE", `/v2/schedules/${scheduleId}`));
  });
});
