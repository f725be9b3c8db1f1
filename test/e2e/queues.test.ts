import { QstashError } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver, type Received } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { logsUntil } from "./delivery-support.js";

/**
 * FIFO queues (SPEC §2.3): order, slots held through retries and callbacks, parallelism, pause/resume, the
 * queue API's shapes and errors, batch items with a queue, per-user isolation. Restart: queues-restart.test.ts.
 */

let sluice: TestSluice;

beforeAll(async () => {
  quietSdkErrors();
  sluice = await startSluice();
});
afterAll(async () => {
  await sluice?.close();
});

/** Runs `body` with a fresh receiver, closed afterwards. */
async function withReceiver<T>(body: (dest: TestReceiver) => Promise<T>): Promise<T> {
  const dest = await TestReceiver.start();
  try {
    return await body(dest);
  } finally {
    await dest.close();
  }
}

/** The message index of a request to `/<prefix>/<i>`. */
const indexOf = (r: Received): number => Number(r.path.split("/")[2]);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Tracks how many requests are being held by the receiver right now, and the highest that ever was. */
function concurrency(dest: TestReceiver, holdMs: number) {
  const s = { now: 0, max: 0 };
  dest.respond = () => {
    s.now++;
    s.max = Math.max(s.max, s.now);
    // Registered before the receiver's own reply timer for the same delay, so it runs first: never over-counts.
    setTimeout(() => s.now--, holdMs);
    return { status: 200, delayMs: holdMs };
  };
  return s;
}

async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    expect(e).toBeInstanceOf(QstashError);
    return (e as QstashError).status ?? -1;
  }
}

async function jsonError(res: Response): Promise<string> {
  expect(res.headers.get("content-type")).toMatch(/application\/json/);
  const body = (await res.json()) as { error: unknown };
  expect(typeof body.error).toBe("string");
  return body.error as string;
}

describe("FIFO order with parallelism 1", () => {
  it("delivers 50 messages in enqueue order while every 7th fails once and is retried", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const queue = client.queue({ queueName: "fifo-retry" });
      await queue.upsert({ parallelism: 1 });
      const failedOnce = new Set<number>();
      dest.respond = (req) => {
        const i = indexOf(req);
        if (i % 7 === 0 && !failedOnce.has(i)) {
          failedOnce.add(i);
          return { status: 500, body: "first time fails" };
        }
        return { status: 200 };
      };
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) {
        const res = await queue.enqueueJSON({ url: dest.url(`/fifo/${i}`), body: { i }, retries: 3, retryDelay: "50" });
        ids.push(res.messageId);
      }
      const expected: number[] = [];
      for (let i = 0; i < 50; i++) expected.push(...(i % 7 === 0 ? [i, i] : [i]));
      await dest.waitFor(expected.length, 15_000);
      // Strictly one at a time: the whole request sequence is each message (twice for the failing ones) in order.
      expect(dest.requests.map(indexOf)).toEqual(expected);
      expect(dest.requests.map((r) => r.headers["upstash-message-id"])).toEqual(expected.map((i) => ids[i]));
      expect(dest.requests.map((r) => r.headers["upstash-retried"])).toEqual(
        expected.map((i, k) => (k > 0 && expected[k - 1] === i ? "1" : "0")),
      );
      await eventually(async () => (await queue.get()).lag === 0);
      await sleep(100);
      expect(dest.requests.length).toBe(expected.length);
    });
  });

  it("holds the next message until the current one's callback has finished", async () => {
    await withReceiver(async (dest) => {
      const queue = sluice.client().queue({ queueName: "fifo-callback" });
      await queue.upsert({ parallelism: 1 });
      dest.respond = (req) => (req.path.startsWith("/cb") ? { status: 200, delayMs: 300 } : { status: 200 });
      await queue.enqueueJSON({ url: dest.url("/m/0"), body: 0, callback: dest.url("/cb/0"), retries: 0 });
      await queue.enqueueJSON({ url: dest.url("/m/1"), body: 1, retries: 0 });
      await eventually(() => dest.at("/m/1").length === 1, 5000);
      const cb = dest.at("/cb/0");
      expect(cb).toHaveLength(1);
      expect(JSON.parse(cb[0].body.toString()).sourceMessageId).toBe(dest.at("/m/0")[0].headers["upstash-message-id"]);
      // The callback was answered 300 ms after it arrived; the next message only then started.
      expect(dest.at("/m/1")[0].at).toBeGreaterThanOrEqual(cb[0].at + 300 - 2);
    });
  });

  it("holds the next message until the current one's failure callback has finished", async () => {
    await withReceiver(async (dest) => {
      const queue = sluice.client().queue({ queueName: "fifo-failure-callback" });
      await queue.upsert({ parallelism: 1 });
      dest.respond = (req) =>
        req.path.startsWith("/fcb") ? { status: 200, delayMs: 300 } : req.path.startsWith("/m/0") ? { status: 500 } : { status: 200 };
      await queue.enqueueJSON({ url: dest.url("/m/0"), body: 0, failureCallback: dest.url("/fcb/0"), retries: 1, retryDelay: "20" });
      await queue.enqueueJSON({ url: dest.url("/m/1"), body: 1, retries: 0 });
      await eventually(() => dest.at("/m/1").length === 1, 5000);
      expect(dest.at("/m/0")).toHaveLength(2);
      const fcb = dest.at("/fcb/0");
      expect(fcb).toHaveLength(1);
      expect(JSON.parse(fcb[0].body.toString()).dlqId).toEqual(expect.any(String));
      expect(dest.at("/m/1")[0].at).toBeGreaterThanOrEqual(fcb[0].at + 300 - 2);
    });
  });

  it("waits for the callbacks of every attempt, also those of a failed attempt still running after the retry succeeded", async () => {
    await withReceiver(async (dest) => {
      const queue = sluice.client().queue({ queueName: "fifo-retry-callbacks" });
      await queue.upsert({ parallelism: 1 });
      let attempts = 0;
      dest.respond = (req) => {
        // The callback of the first (failed) attempt is held longer than the retry takes, the second one less.
        if (req.path.startsWith("/cb")) return { status: 200, delayMs: JSON.parse(req.body.toString()).status === 500 ? 400 : 300 };
        if (req.path.startsWith("/m/0") && attempts++ === 0) return { status: 500 };
        return { status: 200 };
      };
      await queue.enqueueJSON({ url: dest.url("/m/0"), body: 0, callback: dest.url("/cb/0"), retries: 2, retryDelay: "150" });
      await queue.enqueueJSON({ url: dest.url("/m/1"), body: 1, retries: 0 });
      await eventually(() => dest.at("/m/1").length === 1, 5000);
      const cbs = dest.at("/cb/0");
      expect(cbs).toHaveLength(2);
      const ends = cbs.map((c) => c.at + (JSON.parse(c.body.toString()).status === 500 ? 400 : 300));
      expect(dest.at("/m/1")[0].at).toBeGreaterThanOrEqual(Math.max(...ends) - 2);
    });
  });
});

describe("slots given back without an attempt", () => {
  it("cancelling a message waiting for its retry gives the queue slot back", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const queue = client.queue({ queueName: "fifo-cancelled-retry" });
      await queue.upsert({ parallelism: 1 });
      dest.respond = (req) => (req.path.startsWith("/m/0") ? { status: 500 } : { status: 200 });
      const { messageId } = await queue.enqueueJSON({ url: dest.url("/m/0"), body: 0, retries: 3, retryDelay: "60000" });
      await queue.enqueueJSON({ url: dest.url("/m/1"), body: 1, retries: 0 });
      await dest.waitFor(1, 2000);
      await sleep(150);
      expect(dest.requests.map((r) => r.path)).toEqual(["/m/0"]);
      expect((await queue.get()).lag).toBe(2);
      await client.messages.cancel(messageId);
      await eventually(() => dest.at("/m/1").length === 1, 2000);
      await logsUntil(client, messageId, "CANCELLED");
    });
  });

  it("cancelling a callback waiting for its retry gives the queue slot back", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const queue = client.queue({ queueName: "fifo-cancelled-callback" });
      await queue.upsert({ parallelism: 1 });
      dest.respond = (req) => (req.path.startsWith("/cb") ? { status: 500 } : { status: 200 });
      await queue.enqueueJSON({
        url: dest.url("/m/0"),
        body: 0,
        callback: dest.url("/cb/0"),
        retries: 2,
        headers: { "Upstash-Callback-Retry-Delay": "60000" },
      });
      await queue.enqueueJSON({ url: dest.url("/m/1"), body: 1, retries: 0 });
      await dest.waitFor(2, 2000);
      await sleep(200);
      // The callback failed and waits a minute for its retry: the queue waits with it.
      expect(dest.requests.map((r) => r.path)).toEqual(["/m/0", "/cb/0"]);
      const callbackId = dest.at("/cb/0")[0].headers["upstash-message-id"] as string;
      await client.messages.cancel(callbackId);
      await eventually(() => dest.at("/m/1").length === 1, 2000);
    });
  });
});

describe("parallelism", () => {
  it("parallelism N: never more than N in flight, N reached with a backlog, started in enqueue order", async () => {
    await withReceiver(async (dest) => {
      const queue = sluice.client().queue({ queueName: "par-3" });
      await queue.upsert({ parallelism: 3 });
      const load = concurrency(dest, 150);
      for (let i = 0; i < 12; i++) await queue.enqueue({ url: dest.url(`/p/${i}`), body: String(i), retries: 0 });
      await dest.waitFor(12, 5000);
      await eventually(async () => (await queue.get()).lag === 0);
      expect(load.max).toBe(3);
      expect(dest.requests.map(indexOf)).toEqual([...Array(12).keys()]);
    });
  });

  it("upsert of an existing queue changes its parallelism at once", async () => {
    await withReceiver(async (dest) => {
      const queue = sluice.client().queue({ queueName: "par-change" });
      await queue.upsert({ parallelism: 1 });
      const load = concurrency(dest, 500);
      for (let i = 0; i < 6; i++) await queue.enqueue({ url: dest.url(`/c/${i}`), body: String(i), retries: 0 });
      await dest.waitFor(1, 2000);
      await sleep(50);
      expect(dest.requests).toHaveLength(1);
      await queue.upsert({ parallelism: 3 });
      // Two more start while the first is still held, without waiting for it.
      await dest.waitFor(3, 2000);
      expect(dest.requests[2].at - dest.requests[0].at).toBeLessThan(500);
      expect((await queue.get()).parallelism).toBe(3);
      await dest.waitFor(6, 3000);
      expect(load.max).toBe(3);
      expect(dest.requests.map(indexOf)).toEqual([0, 1, 2, 3, 4, 5]);
    });
  });
});

describe("pause and resume", () => {
  it("a paused queue accepts and counts lag but delivers nothing; resume delivers in order", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const queue = client.queue({ queueName: "paused-q" });
      await queue.upsert({ parallelism: 1, paused: true });
      expect(await queue.get()).toMatchObject({ paused: true, lag: 0 });
      for (let i = 0; i < 5; i++) {
        const res = await sluice.api("POST", `/v2/enqueue/paused-q/${dest.url(`/z/${i}`)}`, { body: String(i) });
        expect(res.status).toBe(200);
        expect((await res.json()) as object).toMatchObject({ messageId: expect.stringMatching(/^msg_/), url: dest.url(`/z/${i}`) });
      }
      expect(await queue.get()).toMatchObject({ paused: true, lag: 5 });
      await sleep(250);
      expect(dest.requests).toHaveLength(0);
      await queue.resume();
      await queue.resume(); // idempotent
      await dest.waitFor(5, 3000);
      expect(dest.requests.map(indexOf)).toEqual([0, 1, 2, 3, 4]);
      await eventually(async () => (await queue.get()).lag === 0);
      expect((await queue.get()).paused).toBe(false);

      // Pausing again stops deliveries that come after it; pause is idempotent too.
      await queue.pause();
      await queue.pause();
      await queue.enqueue({ url: dest.url("/z/5"), body: "5" });
      await sleep(200);
      expect(dest.requests).toHaveLength(5);
      expect(await queue.get()).toMatchObject({ paused: true, lag: 1 });
      await queue.resume();
      await dest.waitFor(6, 2000);
    });
  });

  it("pause holds the backlog behind a message in flight; resume releases the rest in order", async () => {
    await withReceiver(async (dest) => {
      const queue = sluice.client().queue({ queueName: "pause-midway" });
      await queue.upsert({ parallelism: 1 });
      dest.respond = () => ({ status: 200, delayMs: 300 });
      for (let i = 0; i < 4; i++) await queue.enqueue({ url: dest.url(`/h/${i}`), body: String(i), retries: 0 });
      await dest.waitFor(1, 2000);
      await queue.pause();
      await sleep(500);
      expect(dest.requests.map(indexOf)).toEqual([0]);
      await queue.resume();
      await dest.waitFor(4, 3000);
      expect(dest.requests.map(indexOf)).toEqual([0, 1, 2, 3]);
    });
  });
});

describe("queue API", () => {
  it("get has the documented shape; list returns every queue of the user", async () => {
    const client = sluice.client();
    const before = Date.now();
    await client.queue({ queueName: "shape-a" }).upsert({ parallelism: 2 });
    await client.queue({ queueName: "shape-b" }).upsert({ parallelism: 1, paused: true });
    const a = await client.queue({ queueName: "shape-a" }).get();
    expect(Object.keys(a).sort()).toEqual(["createdAt", "lag", "name", "parallelism", "paused", "updatedAt"]);
    expect(a).toMatchObject({ name: "shape-a", parallelism: 2, lag: 0, paused: false });
    expect(a.createdAt).toBeGreaterThanOrEqual(before);
    expect(a.updatedAt).toBeGreaterThanOrEqual(a.createdAt);
    await sleep(5);
    await client.queue({ queueName: "shape-a" }).upsert({ parallelism: 4 });
    const a2 = await client.queue({ queueName: "shape-a" }).get();
    expect(a2).toMatchObject({ name: "shape-a", parallelism: 4, createdAt: a.createdAt });
    expect(a2.updatedAt).toBeGreaterThan(a.updatedAt);

    const list = await client.queue().list();
    expect(Array.isArray(list)).toBe(true);
    const byName = new Map(list.map((q) => [q.name, q]));
    expect(byName.get("shape-a")).toEqual(a2);
    expect(byName.get("shape-b")).toMatchObject({ name: "shape-b", parallelism: 1, paused: true, lag: 0 });
    for (const q of list) expect(Object.keys(q).sort()).toEqual(["createdAt", "lag", "name", "parallelism", "paused", "updatedAt"]);
  });

  it("delete removes the queue (get 404) and cancels its unfinished messages", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const queue = client.queue({ queueName: "doomed" });
      await queue.upsert({ parallelism: 1, paused: true });
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await queue.enqueue({ url: dest.url(`/d/${i}`), body: String(i) })).messageId);
      expect((await queue.get()).lag).toBe(3);
      await queue.delete();
      expect(await statusOf(queue.get())).toBe(404);
      expect((await client.queue().list()).map((q) => q.name)).not.toContain("doomed");
      for (const id of ids) {
        const logs = await logsUntil(client, id, "CANCELLED");
        expect(logs.map((l) => l.state)).not.toContain("DELIVERED");
      }
      expect(await statusOf(client.messages.get(ids[0]))).toBe(404);
      // The same name again is a new, unpaused queue: the cancelled messages stay cancelled.
      await queue.enqueue({ url: dest.url("/d/new"), body: "new" });
      await dest.waitFor(1, 2000);
      await sleep(100);
      expect(dest.requests.map((r) => r.path)).toEqual(["/d/new"]);
      expect(await queue.get()).toMatchObject({ name: "doomed", parallelism: 1, paused: false });
    });
  });

  it("an unknown queue is a 404 JSON error for get, pause, resume and delete", async () => {
    const queue = sluice.client().queue({ queueName: "no-such-queue" });
    expect(await statusOf(queue.get())).toBe(404);
    expect(await statusOf(queue.pause())).toBe(404);
    expect(await statusOf(queue.resume())).toBe(404);
    expect(await statusOf(queue.delete())).toBe(404);
    for (const [method, path] of [
      ["GET", "/v2/queues/no-such-queue"],
      ["POST", "/v2/queues/no-such-queue/pause"],
      ["POST", "/v2/queues/no-such-queue/resume"],
      ["DELETE", "/v2/queues/no-such-queue"],
    ]) {
      const res = await sluice.api(method, path);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await jsonError(res)).toMatch(/no-such-queue/);
    }
    // pause/resume of an unknown queue did not create it.
    expect((await sluice.client().queue().list()).map((q) => q.name)).not.toContain("no-such-queue");
  });

  it("enqueue to a new queue name creates it with parallelism 1", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const queue = client.queue({ queueName: "auto-created" });
      expect(await statusOf(queue.get())).toBe(404);
      const load = concurrency(dest, 100);
      for (let i = 0; i < 3; i++) await queue.enqueue({ url: dest.url(`/a/${i}`), body: String(i) });
      expect(await queue.get()).toMatchObject({ name: "auto-created", parallelism: 1, paused: false });
      await dest.waitFor(3, 2000);
      expect(load.max).toBe(1);
      expect(dest.requests.map(indexOf)).toEqual([0, 1, 2]);
    });
  });

  it("concurrent enqueues into a new queue are delivered in message-id order", async () => {
    await withReceiver(async (dest) => {
      dest.respond = () => ({ status: 200, delayMs: 20 });
      for (let k = 0; k < 5; k++) {
        const queue = sluice.client().queue({ queueName: `race-new-${k}` });
        const replies = await Promise.all([0, 1, 2, 3].map((i) => queue.enqueue({ url: dest.url(`/race/${k}/${i}`), body: String(i) })));
        await dest.waitFor(4 * (k + 1), 3000);
        const delivered = dest.requests.slice(4 * k).map((r) => r.headers["upstash-message-id"]);
        expect(delivered).toEqual(replies.map((r) => r.messageId).sort());
      }
    });
  });

  it("a queue name the raw client percent-encodes still reaches the right destination", async () => {
    await withReceiver(async (dest) => {
      // `%2D` is "-": the queue is "enc-q" and the destination is the rest of the raw path.
      const res = await sluice.api("POST", `/v2/enqueue/enc%2Dq/${dest.url("/enc/0?x=1")}`, { body: "e" });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ url: dest.url("/enc/0?x=1") });
      await dest.waitFor(1, 2000);
      expect(dest.requests[0].path).toBe("/enc/0?x=1");
      expect(await sluice.client().queue({ queueName: "enc-q" }).get()).toMatchObject({ name: "enc-q" });
    });
  });
});

describe("batch with queues", () => {
  it("batch items with queueName go to that queue in order; items without one are published as usual", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      await client.queue({ queueName: "batch-q" }).upsert({ parallelism: 1 });
      const load = { queue: 0, max: 0 };
      dest.respond = (req) => {
        if (!req.path.startsWith("/bq")) return { status: 200 };
        load.queue++;
        load.max = Math.max(load.max, load.queue);
        setTimeout(() => load.queue--, 20);
        return { status: 200, delayMs: 20 };
      };
      const items = Array.from({ length: 40 }, (_, i) =>
        i % 4 === 3 ? { url: dest.url(`/free/${i}`), body: { i } } : { queueName: "batch-q", url: dest.url(`/bq/${i}`), body: { i } },
      );
      const replies = await client.batchJSON(items);
      expect(replies).toHaveLength(40);
      for (const r of replies) expect(r).toMatchObject({ messageId: expect.stringMatching(/^msg_/) });
      const queued = items.map((_, i) => i).filter((i) => i % 4 !== 3);
      await eventually(() => dest.at("/bq").length === queued.length && dest.at("/free").length === 10, 5000);
      expect(dest.at("/bq").map(indexOf)).toEqual(queued);
      expect(dest.at("/bq").map((r) => r.headers["upstash-message-id"])).toEqual(queued.map((i) => (replies[i] as { messageId: string }).messageId));
      expect(load.max).toBe(1);
    });
  });

  it("a batch into a paused queue counts lag; a batch into a new queue creates it", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const queue = client.queue({ queueName: "batch-paused" });
      await queue.upsert({ parallelism: 2, paused: true });
      await client.batchJSON([
        { queueName: "batch-paused", url: dest.url("/bp/0"), body: 0 },
        { queueName: "batch-paused", url: dest.url("/bp/1"), body: 1 },
        { queueName: "batch-new", url: dest.url("/bn/0"), body: 0 },
      ]);
      expect((await queue.get()).lag).toBe(2);
      await dest.waitFor(1, 2000);
      expect(dest.requests.map((r) => r.path)).toEqual(["/bn/0"]);
      expect(await client.queue({ queueName: "batch-new" }).get()).toMatchObject({ parallelism: 1, paused: false });
      await queue.resume();
      await dest.waitFor(3, 2000);
    });
  });
});

describe("isolation between users", () => {
  it("user 1 neither sees user 0's queues nor enqueues into them: the same name is its own queue", async () => {
    await withReceiver(async (dest) => {
      const u0 = sluice.client(0);
      const u1 = sluice.client(1);
      await u0.queue({ queueName: "iso-q" }).upsert({ parallelism: 1, paused: true });
      await u0.queue({ queueName: "iso-q" }).enqueue({ url: dest.url("/u0/0"), body: "0" });

      expect((await u1.queue().list()).map((q) => q.name)).not.toContain("iso-q");
      expect(await statusOf(u1.queue({ queueName: "iso-q" }).get())).toBe(404);
      expect(await statusOf(u1.queue({ queueName: "iso-q" }).resume())).toBe(404);
      expect(await statusOf(u1.queue({ queueName: "iso-q" }).delete())).toBe(404);

      // User 1 enqueues under the same name: a new queue of its own, not paused, delivered at once.
      await u1.queue({ queueName: "iso-q" }).enqueue({ url: dest.url("/u1/0"), body: "1" });
      await dest.waitFor(1, 2000);
      expect(dest.requests.map((r) => r.path)).toEqual(["/u1/0"]);
      expect(await u1.queue({ queueName: "iso-q" }).get()).toMatchObject({ name: "iso-q", parallelism: 1, paused: false });
      await u1.queue({ queueName: "iso-q" }).pause();
      await u1.queue({ queueName: "iso-q" }).delete();

      // User 0's queue is untouched: still paused, its message still waiting.
      expect(await u0.queue({ queueName: "iso-q" }).get()).toMatchObject({ paused: true, lag: 1 });
      await sleep(100);
      expect(dest.requests).toHaveLength(1);
      await u0.queue({ queueName: "iso-q" }).resume();
      await dest.waitFor(2, 2000);
      expect(dest.requests[1].path).toBe("/u0/0");
    });
  });
});

describe("bad input", () => {
  const cases: { name: string; body: string }[] = [
    { name: "queue name with a space and !", body: JSON.stringify({ queueName: "bad name!" }) },
    { name: "queue name empty", body: JSON.stringify({ queueName: "" }) },
    { name: "queue name missing", body: JSON.stringify({ parallelism: 1 }) },
    { name: "queue name not a string", body: JSON.stringify({ queueName: 5 }) },
    { name: "parallelism 0", body: JSON.stringify({ queueName: "bad-par", parallelism: 0 }) },
    { name: "parallelism -1", body: JSON.stringify({ queueName: "bad-par", parallelism: -1 }) },
    { name: "parallelism a word", body: JSON.stringify({ queueName: "bad-par", parallelism: "x" }) },
    { name: "parallelism fractional", body: JSON.stringify({ queueName: "bad-par", parallelism: 1.5 }) },
    { name: "parallelism a numeric string", body: JSON.stringify({ queueName: "bad-par", parallelism: "2" }) },
    { name: "paused a word", body: JSON.stringify({ queueName: "bad-par", paused: "yes" }) },
    { name: "body not JSON", body: "{queueName: nope" },
    { name: "body a JSON array", body: JSON.stringify([{ queueName: "bad-par" }]) },
    { name: "body a JSON string", body: JSON.stringify("bad-par") },
  ];
  for (const c of cases) {
    it(`POST /v2/queues: ${c.name} → 400 JSON`, async () => {
      const res = await sluice.api("POST", "/v2/queues", { body: c.body, headers: { "Content-Type": "application/json" } });
      expect(res.status).toBe(400);
      await jsonError(res);
    });
  }

  it("nothing was created by the bad upserts", async () => {
    const names = (await sluice.client().queue().list()).map((q) => q.name);
    expect(names).not.toContain("bad-par");
    expect(names).not.toContain("bad name!");
  });

  it("enqueue into a badly named queue is a 400 JSON error and nothing is delivered", async () => {
    await withReceiver(async (dest) => {
      for (const name of ["bad%20name", "bad!name", "bad%2Fname"]) {
        const res = await sluice.api("POST", `/v2/enqueue/${name}/${dest.url("/never")}`, { body: "x" });
        expect(res.status, name).toBe(400);
        expect(await jsonError(res)).toMatch(/queue/i);
      }
      const batch = await sluice.api("POST", "/v2/batch", {
        body: JSON.stringify([
          { destination: dest.url("/never"), headers: {}, body: "x", queue: "bad name!" },
          { destination: dest.url("/fine"), headers: {}, body: "y", queue: "fine-q" },
        ]),
        headers: { "Content-Type": "application/json" },
      });
      expect(batch.status).toBe(200);
      const [bad, good] = (await batch.json()) as [{ error?: string }, { messageId?: string }];
      expect(bad.error).toMatch(/queue/i);
      expect(good.messageId).toMatch(/^msg_/);
      await dest.waitFor(1, 2000);
      await sleep(100);
      expect(dest.requests.map((r) => r.path)).toEqual(["/fine"]);
      expect((await sluice.client().queue().list()).map((q) => q.name)).not.toContain("bad name!");
    });
  });
});
