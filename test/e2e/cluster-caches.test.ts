import { Receiver } from "@upstash/qstash";
import { Client as WorkflowClient } from "@upstash/workflow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UserConfig } from "../../src/config.js";
import { KeyRing } from "../../src/engine/keyring.js";
import { PgStore } from "../../src/store/postgres/pg-store.js";
import type { Store } from "../../src/store/store.js";
import { startIdleNode, type IdleNode } from "../helpers/idle-node.js";
import { ok, sleep, unique } from "../helpers/api-replies.js";
import { schemaUrl } from "../helpers/postgres.js";
import { eventually, gate, TestReceiver, type Received, type Reply } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { WorkflowHost } from "../helpers/workflow.js";

/**
 * Caches that follow what another node changed in the same PostgreSQL schema (issue 10). `a` is a started server:
 * it dispatches, fires schedules and ends waits. `b` is a second node on the same schema whose engine is never
 * started, as a node that is not the leader. Each case changes something through b's API, shows that a still acts
 * on what it had, calls the component's `reload()` on a (what a change notice will trigger) and shows through a's
 * API and deliveries that a now follows the change. Runs only on PostgreSQL (vitest's "postgres" project).
 */

let a: TestSluice;
let b: IdleNode;
let dest: TestReceiver;
/** Replies by path prefix; anything else is answered 200 at once. */
const replies = new Map<string, () => Reply>();

beforeAll(async () => {
  const databaseUrl = schemaUrl();
  a = await startSluice({ databaseUrl });
  b = await startIdleNode(databaseUrl);
  dest = await TestReceiver.start();
  dest.respond = (req) => {
    for (const [prefix, reply] of replies) if (req.path.startsWith(prefix)) return reply();
    return { status: 200, body: "ok" };
  };
});
afterAll(async () => {
  await b?.close();
  await a?.close();
  await dest?.close();
});

function onA(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return a.api(method, path, {
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    headers: { ...(body === undefined || typeof body === "string" ? {} : { "Content-Type": "application/json" }), ...headers },
  });
}

describe("queues", () => {
  it("a queue paused on another node stops its deliveries here once reloaded; resumed there, they go on", async () => {
    const q = unique("q-pause");
    await ok(await onA("POST", "/v2/queues", { queueName: q, parallelism: 1 }));
    await ok(await b.api("POST", `/v2/queues/${q}/pause`));
    expect((await ok(await onA("GET", `/v2/queues/${q}`))).paused).toBe(false); // not heard of yet
    await a.engine.settings.reload();
    expect((await ok(await onA("GET", `/v2/queues/${q}`))).paused).toBe(true);

    await ok(await onA("POST", `/v2/enqueue/${q}/${dest.url(`/${q}`)}`, "held"));
    await sleep(800);
    expect(dest.at(`/${q}`)).toHaveLength(0);

    await ok(await b.api("POST", `/v2/queues/${q}/resume`));
    await a.engine.settings.reload();
    await eventually(() => dest.at(`/${q}`).length === 1, 5000);
    expect((await ok(await onA("GET", `/v2/queues/${q}`))).parallelism).toBe(1);
  });

  it("a queue's parallelism raised on another node lets more of its messages start here at once", async () => {
    const q = unique("q-par");
    const held = gate();
    replies.set(`/${q}`, () => ({ status: 200, until: held.wait }));
    try {
      await ok(await onA("POST", "/v2/queues", { queueName: q, parallelism: 1 }));
      for (let i = 0; i < 3; i++) await ok(await onA("POST", `/v2/enqueue/${q}/${dest.url(`/${q}/${i}`)}`, `m${i}`));
      await eventually(() => dest.at(`/${q}`).length === 1, 5000);
      await sleep(300);
      expect(dest.at(`/${q}`)).toHaveLength(1);

      await ok(await b.api("POST", "/v2/queues", { queueName: q, parallelism: 3 }));
      await a.engine.settings.reload();
      // The first delivery is still held: the other two started beside it.
      await eventually(() => dest.at(`/${q}`).length === 3, 5000);
      expect((await ok(await onA("GET", `/v2/queues/${q}`))).parallelism).toBe(3);
    } finally {
      held.open();
      replies.delete(`/${q}`);
    }
  });

  it("a queue deleted on another node is gone here once reloaded; its cancelled messages never start, and a new enqueue recreates it", async () => {
    const q = unique("q-del");
    await ok(await onA("POST", "/v2/queues", { queueName: q, parallelism: 1, paused: true }));
    for (let i = 0; i < 2; i++) await ok(await onA("POST", `/v2/enqueue/${q}/${dest.url(`/${q}/old`)}`, `old${i}`));
    await ok(await b.api("DELETE", `/v2/queues/${q}`));
    expect((await onA("GET", `/v2/queues/${q}`)).status).toBe(200); // not heard of yet

    await a.engine.settings.reload();
    expect((await onA("GET", `/v2/queues/${q}`)).status).toBe(404);
    expect((await ok(await onA("GET", "/v2/queues"))).map((x: { name: string }) => x.name)).not.toContain(q);

    // Created again by its next enqueue, unpaused (the deleted queue's pause went with it).
    await ok(await onA("POST", `/v2/enqueue/${q}/${dest.url(`/${q}/new`)}`, "new"));
    await eventually(() => dest.at(`/${q}/new`).length === 1, 5000);
    await sleep(300);
    expect(dest.at(`/${q}/old`)).toHaveLength(0);
    expect(await ok(await onA("GET", `/v2/queues/${q}`))).toMatchObject({ paused: false, parallelism: 1 });
  });
});

describe("flow-control keys", () => {
  const publishOnA = (key: string, path: string, value: string) =>
    onA("POST", `/v2/publish/${dest.url(path)}`, "x", { "Upstash-Flow-Control-Key": key, "Upstash-Flow-Control-Value": value });

  it("a key paused on another node holds its messages here once reloaded; resumed there, they go on", async () => {
    const key = unique("k-pause");
    await ok(await publishOnA(key, `/${key}/first`, "parallelism=1"));
    await eventually(() => dest.at(`/${key}/first`).length === 1, 5000);

    await ok(await b.api("POST", `/v2/flowControl/${key}/pause`));
    expect((await ok(await onA("GET", `/v2/flowControl/${key}`))).isPaused).toBe(false); // not heard of yet
    await a.engine.settings.reload();
    expect((await ok(await onA("GET", `/v2/flowControl/${key}`))).isPaused).toBe(true);
    await ok(await publishOnA(key, `/${key}/second`, "parallelism=1"));
    await sleep(800);
    expect(dest.at(`/${key}/second`)).toHaveLength(0);

    await ok(await b.api("POST", `/v2/flowControl/${key}/resume`));
    await a.engine.settings.reload();
    await eventually(() => dest.at(`/${key}/second`).length === 1, 5000);
  });

  it("a key pinned on another node limits its deliveries here; unpinned there, the pin is held; reset there, the messages' own parallelism applies again", async () => {
    const key = unique("k-pin");
    await ok(await publishOnA(key, `/${key}/warm`, "parallelism=3"));
    await eventually(() => dest.at(`/${key}/warm`).length === 1, 5000);

    await ok(await b.api("POST", `/v2/flowControl/${key}/pin?parallelism=1`));
    await a.engine.settings.reload();
    expect(await ok(await onA("GET", `/v2/flowControl/${key}`))).toMatchObject({ parallelismMax: 1, isPinnedParallelism: true });

    const held = gate();
    replies.set(`/${key}/held`, () => ({ status: 200, until: held.wait }));
    try {
      for (let i = 0; i < 3; i++) await ok(await publishOnA(key, `/${key}/held/${i}`, "parallelism=3"));
      await eventually(() => dest.at(`/${key}/held`).length === 1, 5000);
      await sleep(400);
      expect(dest.at(`/${key}/held`)).toHaveLength(1);

      // Unpinned on b: the pinned value is held (as a local unpin holds it) until a message with another value.
      await ok(await b.api("POST", `/v2/flowControl/${key}/unpin?parallelism=true`));
      await a.engine.settings.reload();
      expect(await ok(await onA("GET", `/v2/flowControl/${key}`))).toMatchObject({ parallelismMax: 1, isPinnedParallelism: false });
      await sleep(300);
      expect(dest.at(`/${key}/held`)).toHaveLength(1);

      await ok(await b.api("POST", `/v2/flowControl/${key}/reset`));
      await a.engine.settings.reload();
      await eventually(() => dest.at(`/${key}/held`).length === 3, 5000);
      expect(await ok(await onA("GET", `/v2/flowControl/${key}`))).toMatchObject({ parallelismMax: 3, isPinnedParallelism: false });
    } finally {
      held.open();
      replies.delete(`/${key}/held`);
    }
  });

  it("a key's rate window reset on another node lets the next message start here at once", async () => {
    const key = unique("k-rate");
    await ok(await publishOnA(key, `/${key}/1`, "rate=1, period=60s"));
    await eventually(() => dest.at(`/${key}/1`).length === 1, 5000);
    await ok(await publishOnA(key, `/${key}/2`, "rate=1, period=60s"));
    await sleep(600);
    expect(dest.at(`/${key}/2`)).toHaveLength(0); // the window's one start is spent for a minute

    await ok(await b.api("POST", `/v2/flowControl/${key}/resetRate`));
    await a.engine.settings.reload();
    await eventually(() => dest.at(`/${key}/2`).length === 1, 3000);
    expect((await ok(await onA("GET", `/v2/flowControl/${key}`))).rateCount).toBe(1);
  });
});

describe("URL groups", () => {
  it("a group changed on another node is what the next publish here fans out to; deleted there, it is gone here", async () => {
    const group = unique("g");
    const [e1, e2] = [dest.url(`/${group}/e1`), dest.url(`/${group}/e2`)];
    await ok(await onA("POST", `/v2/topics/${group}/endpoints`, { endpoints: [{ url: e1 }] }));
    // b changes the group from what the store has (e1), not from what it had loaded (nothing).
    await ok(await b.api("POST", `/v2/topics/${group}/endpoints`, { endpoints: [{ url: e2 }] }));
    await ok(await b.api("DELETE", `/v2/topics/${group}/endpoints`, { endpoints: [{ url: e1 }] }));
    expect((await ok(await onA("GET", `/v2/topics/${group}`))).endpoints).toEqual([{ url: e1 }]); // not heard of yet

    await a.engine.urlGroups.reload();
    expect((await ok(await onA("GET", `/v2/topics/${group}`))).endpoints).toEqual([{ url: e2 }]);
    await ok(await onA("POST", `/v2/publish/${group}`, "fan out"));
    await eventually(() => dest.at(`/${group}/e2`).length === 1, 5000);
    await sleep(300);
    expect(dest.at(`/${group}/e1`)).toHaveLength(0);

    await ok(await b.api("DELETE", `/v2/topics/${group}`));
    await a.engine.urlGroups.reload();
    expect((await onA("POST", `/v2/publish/${group}`, "nobody")).status).toBe(404);
  });

  it("a change here reads the group it changes from the store: created or deleted on another node a moment ago, with no reload", async () => {
    const group = unique("g-cross");
    const [e1, e2] = [dest.url(`/${group}/e1`), dest.url(`/${group}/e2`)];
    await ok(await onA("POST", `/v2/topics/${group}/endpoints`, { endpoints: [{ url: e1 }, { url: e2 }] }));
    // b has not heard of the group, yet removing an endpoint and then the group there works: each read it first.
    await ok(await b.api("DELETE", `/v2/topics/${group}/endpoints`, { endpoints: [{ url: e1 }] }));
    expect((await ok(await b.api("GET", `/v2/topics/${group}`))).endpoints).toEqual([{ url: e2 }]);
    await ok(await b.api("DELETE", `/v2/topics/${group}`));
    // a still holds the group; removing from it there finds it gone.
    expect((await onA("DELETE", `/v2/topics/${group}/endpoints`, { endpoints: [{ url: e2 }] })).status).toBe(404);
    expect((await onA("GET", `/v2/topics/${group}`)).status).toBe(404);
  });
});

describe("schedules", () => {
  const EVERY_SECOND = "*/1 * * * * *";
  const createOnB = (path: string, id?: string) =>
    fetch(`${b.url}/v2/schedules/${dest.url(path)}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${a.token()}`, "Upstash-Cron": EVERY_SECOND, ...(id ? { "Upstash-Schedule-Id": id } : {}) },
      body: "tick",
    });

  it("a schedule created on another node fires here once reloaded, and follows its pause, resume, replacement and delete there", async () => {
    const path = `/${unique("s")}`;
    const { scheduleId } = await ok(await createOnB(path));
    await sleep(1600);
    expect(dest.at(path)).toHaveLength(0); // b fires nothing, and a has not heard of it

    await a.scheduler.reload();
    await eventually(() => dest.at(path).length >= 2, 5000);

    await ok(await b.api("POST", `/v2/schedules/${scheduleId}/pause`));
    await a.scheduler.reload();
    expect((await ok(await onA("GET", `/v2/schedules/${scheduleId}`))).isPaused).toBe(true);
    await sleep(300);
    const whilePaused = dest.at(path).length;
    await sleep(2200);
    expect(dest.at(path)).toHaveLength(whilePaused);

    await ok(await b.api("POST", `/v2/schedules/${scheduleId}/resume`));
    await a.scheduler.reload();
    await eventually(() => dest.at(path).length >= whilePaused + 1, 5000);

    // Replaced on b (same id, another destination): a's ticks follow the replacement.
    const moved = `/${unique("s-moved")}`;
    await ok(await createOnB(moved, scheduleId));
    await a.scheduler.reload();
    await eventually(() => dest.at(moved).length >= 1, 5000);
    await sleep(300);
    const before = dest.at(path).length;
    await sleep(1500);
    expect(dest.at(path)).toHaveLength(before);

    await ok(await b.api("DELETE", `/v2/schedules/${scheduleId}`));
    await a.scheduler.reload();
    expect((await onA("GET", `/v2/schedules/${scheduleId}`)).status).toBe(404);
    await sleep(300);
    const after = dest.at(moved).length;
    await sleep(2200);
    expect(dest.at(moved)).toHaveLength(after);

    // Every tick fired once: no message id arrived twice.
    const ids = dest.at(path).concat(dest.at(moved)).map((r: Received) => r.headers["upstash-message-id"]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("a change here reads the schedule it changes from the store: created, replaced or deleted on another node a moment ago, with no reload", async () => {
    const YEARLY = "0 0 1 1 *";
    const create = (node: { url: string }, path: string, headers: Record<string, string>) =>
      fetch(`${node.url}/v2/schedules/${dest.url(path)}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${a.token()}`, "Upstash-Cron": YEARLY, ...headers },
        body: "tick",
      });
    const id = unique("scd-cross");
    const { scheduleId } = await ok(await create(a, "/cross", { "Upstash-Schedule-Id": id }));
    expect(scheduleId).toBe(id);
    // b has not heard of it, yet pausing it there works: the pause read it first.
    await ok(await b.api("POST", `/v2/schedules/${id}/pause`));
    expect((await ok(await b.api("GET", `/v2/schedules/${id}`))).isPaused).toBe(true);
    // a still holds it unpaused; replacing it there keeps the pause b stored (and the creation time).
    const created = (await ok(await onA("GET", `/v2/schedules/${id}`))).createdAt;
    expect((await ok(await onA("GET", `/v2/schedules/${id}`))).isPaused).toBe(false);
    await ok(await create(a, "/cross-moved", { "Upstash-Schedule-Id": id }));
    const replaced = await ok(await onA("GET", `/v2/schedules/${id}`));
    expect([replaced.isPaused, replaced.createdAt, replaced.destination]).toEqual([true, created, dest.url("/cross-moved")]);
    // Deleted on a: b, which holds it, finds it gone when it tries to change it, and forgets it.
    await ok(await onA("DELETE", `/v2/schedules/${id}`));
    expect((await b.api("POST", `/v2/schedules/${id}/resume`)).status).toBe(404);
    expect((await b.api("GET", `/v2/schedules/${id}`)).status).toBe(404);

    // Deduplication compares with what the store has of the user's recent schedules, not with what b has loaded.
    const dedupId = unique("dedup");
    const first = await ok(await create(a, "/dedup", { "Upstash-Deduplication-Id": dedupId }));
    const again = await ok(await create(b, "/dedup", { "Upstash-Deduplication-Id": dedupId }));
    expect(again.scheduleId).toBe(first.scheduleId);
    const byContent = { "Upstash-Content-Based-Deduplication": "true" };
    const firstByContent = await ok(await create(a, "/dedup-content", byContent));
    expect((await ok(await create(b, "/dedup-content", byContent))).scheduleId).toBe(firstByContent.scheduleId);
    expect((await ok(await create(b, "/dedup-other", byContent))).scheduleId).not.toBe(firstByContent.scheduleId);
  });

  it("a scheduler that served without firing starts firing from the store when started, and stops when stopped", async () => {
    const path = `/${unique("s-start")}`;
    // Created through b, which a never reloads in this case: only b's own start makes it fire.
    const { scheduleId } = await ok(await createOnB(path));
    await sleep(1300);
    expect(dest.at(path)).toHaveLength(0);
    await b.scheduler.start();
    try {
      await eventually(() => dest.at(path).length >= 2, 5000);
    } finally {
      b.scheduler.stop();
    }
    await sleep(300);
    const stopped = dest.at(path).length;
    await sleep(1800);
    expect(dest.at(path)).toHaveLength(stopped);
    await ok(await b.api("DELETE", `/v2/schedules/${scheduleId}`));
  });
});

describe("waits", () => {
  it("a waiter registered on another node times out here once reloaded (and only then), once", async () => {
    // The workflow's SDK talks to b, so its wait is registered on b; a delivers the run's first step. (Before the
    // signing-key cases: the host verifies deliveries with the dev keys.)
    const host = await WorkflowHost.start({ url: b.url, token: () => a.token() } as unknown as TestSluice);
    try {
      const eventId = unique("evt");
      const seen: unknown[] = [];
      const url = host.add("/wait", async (ctx) => {
        const r = await ctx.waitForEvent("wait briefly", eventId, { timeout: "1s" });
        await ctx.run("record", () => {
          seen.push(r);
        });
      });
      await new WorkflowClient({ baseUrl: a.url, token: a.token() }).trigger({ url });
      const waiters = await eventually(async () => {
        const list = await ok(await b.api("GET", `/v2/waiters/${eventId}`));
        return list.length === 1 && list;
      }, 5000);
      // Past the deadline: b has no deadline timer, and a has not read the waiter yet.
      await sleep(Math.max(0, waiters[0].deadline * 1000 - Date.now()) + 1200);
      expect(seen).toEqual([]);

      await a.waits.reload();
      await eventually(() => seen.length === 1, 5000);
      expect(seen).toEqual([{ eventData: undefined, timeout: true }]);
      await sleep(500);
      expect(seen).toHaveLength(1);
      expect(await ok(await b.api("GET", `/v2/waiters/${eventId}`))).toEqual([]);
    } finally {
      await host.close();
    }
  });
});

describe("signing keys", () => {
  it("keys rotated on another node sign the next delivery made here once reloaded", async () => {
    const before = await ok(await onA("GET", "/v2/keys"));
    const rotated = await ok(await b.api("POST", "/v2/keys/rotate"));
    expect(rotated.current).toBe(before.next);
    expect(await ok(await onA("GET", "/v2/keys"))).toEqual(before); // not heard of yet

    await a.engine.keys.reload();
    expect(await ok(await onA("GET", "/v2/keys"))).toEqual(rotated);
    const path = `/${unique("signed")}`;
    await ok(await onA("POST", `/v2/publish/${dest.url(path)}`, "signed"));
    const [req] = await eventually(() => dest.at(path).length === 1 && dest.at(path), 5000);
    const verify = (key: string) =>
      new Receiver({ currentSigningKey: key, nextSigningKey: key })
        .verify({ signature: String(req.headers["upstash-signature"]), body: "signed", url: dest.url(path) })
        .catch(() => false);
    expect(await verify(rotated.current)).toBe(true);
    expect(await verify(before.current)).toBe(false);
  });

  it("a rotation from a stale cache rotates the stored pair; one that loses a race answers with the pair that won", async () => {
    const current = await ok(await onA("GET", "/v2/keys"));
    // b rotates; a, not reloaded, still has the old pair and rotates from what the store has.
    const first = await ok(await b.api("POST", "/v2/keys/rotate"));
    const second = await ok(await onA("POST", "/v2/keys/rotate"));
    expect(first.current).toBe(current.next);
    expect(second.current).toBe(first.next);
    expect(await b.store.getSigningKeys(a.config.users[0].userId)).toEqual(second);

    // A rotation that reads the pair, then finds another node's rotation of that pair stored before its own write.
    const userId = a.config.users[0].userId;
    const other = await KeyRing.load(b.store, a.config.users);
    let armed = false;
    const racing: Store = Object.create(b.store, {
      getSigningKeys: {
        value: async (u: string) => {
          const read = await b.store.getSigningKeys(u);
          if (armed) {
            armed = false;
            await other.rotate(u); // lands between this read and the write that follows it
          }
          return read;
        },
      },
    });
    const ring = await KeyRing.load(racing, a.config.users);
    armed = true;
    const lost = await ring.rotate(userId);
    const won = await b.store.getSigningKeys(userId);
    expect(won!.current).toBe(second.next); // one rotation, the other node's
    expect(lost).toEqual(won);
    expect(ring.get(userId)).toEqual(won);
  });

  it("nodes starting at once for a user without keys all use the pair stored first", async () => {
    const databaseUrl = schemaUrl();
    const users: UserConfig[] = [{ userId: "fresh", password: "pw" }];
    const stores: PgStore[] = [];
    try {
      for (let i = 0; i < 3; i++) stores.push(await PgStore.open(databaseUrl));
      const rings = await Promise.all(stores.map((s) => KeyRing.load(s, users)));
      const stored = await stores[0].getSigningKeys("fresh");
      expect(stored).toBeDefined();
      for (const ring of rings) expect(ring.get("fresh")).toEqual(stored);
      // Only the node whose pair was stored shows it as generated by this start.
      expect(rings.filter((r) => r.generatedFor.includes("fresh"))).toHaveLength(1);
    } finally {
      for (const s of stores) await s.close();
    }
  });

  it("in a cluster, a rotation on one node is sent to the others with it: the leader signs with the new key without being told to reload", async () => {
    const databaseUrl = schemaUrl();
    const first = await startSluice({ databaseUrl });
    const second = await startSluice({ databaseUrl });
    try {
      await eventually(() => first.node!.lease.leading() || second.node!.lease.leading(), 10_000);
      const [leader, other] = first.node!.lease.leading() ? [first, second] : [second, first];
      const rotated = await ok(await other.api("POST", "/v2/keys/rotate"));
      await eventually(async () => JSON.stringify(await ok(await leader.api("GET", "/v2/keys"))) === JSON.stringify(rotated), 3000);
      const path = `/${unique("signed-by-leader")}`;
      // A delayed message: the leader's due loader delivers it, whichever node stored it.
      await ok(await other.api("POST", `/v2/publish/${dest.url(path)}`, { body: "later", headers: { "Upstash-Delay": "1s" } }));
      const [req] = await eventually(() => dest.at(path).length === 1 && dest.at(path), 8000);
      const signedWith = await new Receiver({ currentSigningKey: rotated.current, nextSigningKey: rotated.current })
        .verify({ signature: String(req.headers["upstash-signature"]), body: "later", url: dest.url(path) })
        .catch(() => false);
      expect(signedWith).toBe(true);
    } finally {
      await second.close();
      await first.close();
    }
  });
});

describe("news of a change names what it changed", () => {
  const EVERY_SECOND = "*/1 * * * * *";
  const createSchedule = (node: { url: string }, path: string) =>
    fetch(`${node.url}/v2/schedules/${dest.url(path)}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${a.token()}`, "Upstash-Cron": EVERY_SECOND },
      body: "tick",
    });

  // `planted` is written through an idle node, which sends no news: it is only in the store. A node that read every
  // schedule or group again on hearing of another one would have it too.
  it("a schedule, URL group or queue changed on another node is read alone here: the leader follows it, and not one it was not told of", async () => {
    const databaseUrl = schemaUrl();
    const first = await startSluice({ databaseUrl });
    const second = await startSluice({ databaseUrl });
    const silent = await startIdleNode(databaseUrl);
    try {
      await eventually(() => first.node!.lease.leading() || second.node!.lease.leading(), 10_000);
      const [leader, other] = first.node!.lease.leading() ? [first, second] : [second, first];
      const planted = `/${unique("planted")}`;
      await ok(await createSchedule(silent, planted));
      await ok(await silent.api("POST", "/v2/topics/planted-group/endpoints", { endpoints: [{ url: dest.url(`${planted}-group`) }] }));
      await ok(await silent.api("POST", "/v2/queues", { queueName: "planted-queue", parallelism: 2 }));

      const told = `/${unique("told")}`;
      const { scheduleId } = await ok(await createSchedule(other, told));
      await eventually(() => dest.at(told).length >= 2, 8000);
      expect(dest.at(planted)).toHaveLength(0);

      const endpoints = JSON.stringify({ endpoints: [{ url: dest.url(`${told}-group`) }] });
      await ok(await other.api("POST", "/v2/topics/told-group/endpoints", { body: endpoints, headers: { "Content-Type": "application/json" } }));
      await eventually(async () => (await leader.api("POST", "/v2/publish/told-group", { body: "fan" })).status === 200, 3000);
      await eventually(() => dest.at(`${told}-group`).length >= 1, 5000);
      expect((await leader.api("POST", "/v2/publish/planted-group", { body: "fan" })).status).toBe(404);

      // A queue made there (by its first enqueue) is listed here; the planted one is not.
      await ok(await other.api("POST", `/v2/enqueue/told-queue/${dest.url(`${told}-queue`)}`, { body: "queued" }));
      const listed = async () => ((await ok(await leader.api("GET", "/v2/queues"))) as { name: string }[]).map((q) => q.name);
      await eventually(async () => (await listed()).includes("told-queue"), 3000);
      expect(await listed()).not.toContain("planted-queue");
      await eventually(() => dest.at(`${told}-queue`).length === 1, 5000);
      // Deleted there, it leaves the list here.
      await ok(await other.api("DELETE", "/v2/queues/told-queue"));
      await eventually(async () => !(await listed()).includes("told-queue"), 3000);

      // Deleted there: the leader reads that one schedule again, finds it gone, and stops firing it.
      await ok(await other.api("DELETE", `/v2/schedules/${scheduleId}`));
      await eventually(async () => (await leader.api("GET", `/v2/schedules/${scheduleId}`)).status === 404, 3000);
      await sleep(300);
      const fired = dest.at(told).length;
      await sleep(1500);
      expect(dest.at(told)).toHaveLength(fired);

      // What was planted is valid: a whole reload finds it and fires it.
      expect(dest.at(planted)).toHaveLength(0);
      await leader.scheduler.reload();
      await eventually(() => dest.at(planted).length >= 1, 5000);
      await leader.engine.settings.reload();
      expect(await listed()).toContain("planted-queue");
    } finally {
      await silent.close();
      await second.close();
      await first.close();
    }
  });
});
