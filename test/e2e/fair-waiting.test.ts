import { afterEach, describe, expect, it } from "vitest";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function setup(): Promise<{ s: TestSluice; dest: TestReceiver }> {
  // Two slots and ten places in the lanes per user (half of each), so one user's backlog fills their share quickly.
  const s = await startSluice({ maxInFlight: 4, maxWaiting: 20, userMaxInFlightShare: 0.5 });
  const dest = await TestReceiver.start();
  open.push(s, dest);
  return { s, dest };
}

describe("the lanes' room is shared between users", () => {
  it("one user's due backlog behind a hung destination does not keep another user's delayed messages out", async () => {
    const { s, dest } = await setup();
    let release!: () => void;
    const hung = new Promise<void>((r) => (release = r));
    dest.respond = (req) => (req.path.startsWith("/alice/") ? { status: 200, until: hung } : { status: 200 });

    const alice = s.client(0);
    const sent = await alice.batchJSON(Array.from({ length: 60 }, (_, i) => ({ url: dest.url(`/alice/${i}`), body: { i } })));
    expect(sent).toHaveLength(60);
    await eventually(() => dest.at("/alice/").length === 2, 5000);
    // Alice holds her two slots and her ten places; the rest of her backlog waits in the store.
    expect(s.engine.dispatcher.waitingOf("defaultUser")).toBeLessThanOrEqual(10);

    // Bob's messages come due while alice's backlog is still there: they get into the lanes and start at once.
    const bob = s.client(1);
    const publishedAt = Date.now();
    for (let i = 0; i < 5; i++) await bob.publishJSON({ url: dest.url(`/bob/${i}`), body: { i }, delay: "300ms" as never });
    await eventually(() => dest.at("/bob/").length === 5, 5000, 10);
    const latest = Math.max(...dest.at("/bob/").map((r) => r.at));
    expect(latest - publishedAt).toBeLessThan(1500);

    // Nothing of alice's was lost by waiting in the store: once her destination answers, all 60 arrive.
    release();
    await eventually(() => new Set(dest.at("/alice/").map((r) => r.path)).size === 60, 15_000, 20);
  });

  it("a new enqueue does not start ahead of its queue's messages held back in the store", async () => {
    const { s, dest } = await setup();
    let release!: () => void;
    const hung = new Promise<void>((r) => (release = r));
    dest.respond = (req) => (req.path.startsWith("/key/") ? { status: 200, until: hung } : { status: 200 });
    const client = s.client(0);
    // A key of parallelism 1 whose destination hangs: one in flight, ten waiting (the user's share), one held back.
    const flowControl = { key: "hung", parallelism: 1 };
    await client.batchJSON(Array.from({ length: 12 }, (_, i) => ({ url: dest.url(`/key/${i}`), body: { i }, flowControl })));
    await eventually(() => dest.at("/key/").length === 1, 5000);

    // The user still has a free slot. q/0 starts at once; q/1, enqueued while q/0 holds the queue, is held back.
    const queue = client.queue({ queueName: "q" });
    let q0Done!: () => void;
    const q0 = new Promise<void>((r) => (q0Done = r));
    dest.respond = (req) => (req.path.startsWith("/key/") ? { status: 200, until: hung } : req.path === "/q/0" ? { status: 200, until: q0 } : { status: 200 });
    await queue.enqueueJSON({ url: dest.url("/q/0"), body: 0 });
    await eventually(() => dest.at("/q/").length === 1, 5000);
    await queue.enqueueJSON({ url: dest.url("/q/1"), body: 1 });
    q0Done();
    await eventually(async () => (await (await s.api("GET", "/v2/queues/q")).json()).lag === 1, 5000);
    // The queue's slot is free now, but q/2 must not start ahead of q/1.
    await queue.enqueueJSON({ url: dest.url("/q/2"), body: 2 });
    await new Promise((r) => setTimeout(r, 200));
    expect(dest.at("/q/").map((r) => r.path)).toEqual(["/q/0"]);

    // The key's backlog is cancelled: the user has room again, and the queue goes on in order.
    await client.messages.cancel({ filter: { flowControlKey: "hung" } });
    release();
    await eventually(() => dest.at("/q/").length === 3, 5000, 10);
    expect(dest.at("/q/").map((r) => r.path)).toEqual(["/q/0", "/q/1", "/q/2"]);
  });

  it("a queue held back in the store keeps its order", async () => {
    const { s, dest } = await setup();
    dest.respond = () => ({ status: 200, delayMs: 5 });
    const queue = s.client(0).queue({ queueName: "ordered" });
    for (let i = 0; i < 40; i++) await queue.enqueueJSON({ url: dest.url(`/q/${i}`), body: { i } });
    // A burst due at once as well, so the user's share of the lanes fills while the queue waits.
    await s.client(0).batchJSON(Array.from({ length: 30 }, (_, i) => ({ url: dest.url(`/burst/${i}`), body: { i } })));
    await eventually(() => dest.at("/q/").length === 40 && dest.at("/burst/").length === 30, 20_000, 20);
    expect(dest.at("/q/").map((r) => r.path)).toEqual(Array.from({ length: 40 }, (_, i) => `/q/${i}`));
  });
});
