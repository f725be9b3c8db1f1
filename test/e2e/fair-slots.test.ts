import { afterEach, describe, expect, it } from "vitest";
import type { Client } from "@upstash/qstash";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { sleep, Tracker, uniqueKey } from "./flow-support.js";

/**
 * Fair shares of the process's delivery slots: one user's hung destination holds at most their share of
 * `maxInFlight`, and another user's messages start at once in the slots left (userMaxInFlightShare).
 */

/** Longer than any test here: a request held this long is, for the test, never answered. */
const NEVER_MS = 60_000;

let sluice: TestSluice | undefined;
let receivers: TestReceiver[] = [];
const receiver = async (): Promise<TestReceiver> => {
  const r = await TestReceiver.start();
  receivers.push(r);
  return r;
};

afterEach(async () => {
  // Receivers first: closing them ends the held requests, so the server's stop does not wait for them.
  for (const r of receivers) await r.close();
  receivers = [];
  await sluice?.close();
  sluice = undefined;
});

/**
 * Alice's backlog: `n` messages spread over plain publishes, a flow-control key and a queue, so her share is
 * counted across every kind of lane. Returns once every publish is accepted.
 */
async function publishBacklog(alice: Client, url: (path: string) => string, n: number): Promise<void> {
  const queueName = uniqueKey("fair-q");
  await alice.queue({ queueName }).upsert({ parallelism: n });
  const key = uniqueKey("fair-key");
  const third = Math.ceil(n / 3);
  await Promise.all([
    alice.batchJSON(Array.from({ length: third }, (_, i) => ({ url: url(`/free/${i}`), body: { i }, retries: 0 }))),
    alice.batchJSON(Array.from({ length: third }, (_, i) => ({ url: url(`/key/${i}`), body: { i }, retries: 0, flowControl: { key, parallelism: n } }))),
    (async () => {
      for (let i = 0; i < n - 2 * third; i++) await alice.queue({ queueName }).enqueueJSON({ url: url(`/queue/${i}`), body: { i }, retries: 0 });
    })(),
  ]);
}

/** Bob publishes `n` messages one after another; returns, for each, the ms from its publish call to its arrival. */
async function bobLatencies(bob: Client, dest: TestReceiver, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const before = Date.now();
    await bob.publishJSON({ url: dest.url(`/bob/${i}`), body: { i } });
    const arrival = await eventually(() => dest.at(`/bob/${i}`)[0], 5000, 2);
    out.push(arrival.at - before);
  }
  return out;
}

/**
 * A server with 10 slots (and the given share), alice's receiver that never answers with `backlog` of her
 * messages sent to it, and a fast receiver for bob. Resolves once alice holds `share` requests there and,
 * 300 ms later, still no more: every request it counts is still open, so what it counts is what alice holds.
 */
async function aliceHoldsHerShare(share: number, backlog: number, userMaxInFlightShare?: number) {
  sluice = await startSluice({ maxInFlight: 10, ...(userMaxInFlightShare === undefined ? {} : { userMaxInFlightShare }) });
  const hung = await receiver();
  const open = new Tracker([hung]);
  open.reply = () => ({ status: 200, delayMs: NEVER_MS });
  const fast = await receiver();
  await publishBacklog(sluice.client(0), (p) => hung.url(p), backlog);
  await open.waitFor(share);
  await sleep(300);
  expect(open.arrivals.length).toBe(share);
  expect(open.max()).toBe(share);
  return { open, fast, bob: sluice.client(1) };
}

/** Every one of bob's latencies is within the bound: he never waits for alice's hung attempts. */
function expectPrompt(latencies: number[]): void {
  for (const ms of latencies) expect(ms, `bob's latencies ${latencies.join(", ")} ms`).toBeLessThan(1000);
}

describe("fair slots", () => {
  it("a user whose destination never answers holds at most their share; another user's messages arrive at once", async () => {
    // maxInFlight 10 with the default share 0.8: alice may hold 8, two stay free for everyone else.
    const { open, fast, bob } = await aliceHoldsHerShare(8, 60);

    expectPrompt(await bobLatencies(bob, fast, 10));
    // A batch, more messages than the free slots: they take turns in those slots, each well within the bound.
    const before = Date.now();
    await bob.batchJSON(Array.from({ length: 20 }, (_, i) => ({ url: fast.url(`/bob-batch/${i}`), body: { i } })));
    await eventually(() => fast.at("/bob-batch/").length === 20, 5000, 2);
    for (const r of fast.at("/bob-batch/")) expect(r.at - before).toBeLessThan(1000);

    // Alice never got past her share while bob ran, and her backlog is still waiting.
    expect(open.max()).toBe(8);
    expect(open.arrivals.length).toBe(8);
    expect(sluice!.engine.dispatcher.userCount("defaultUser")).toBe(8);
  });

  it("the share is a setting: with 0.5 of 10 slots a hung user holds 5", async () => {
    const { open, fast, bob } = await aliceHoldsHerShare(5, 30, 0.5);

    expectPrompt(await bobLatencies(bob, fast, 5));
    expect(open.max()).toBe(5);
    // The SDK's view of the user's limit is the share that applies, with the count of what is in flight.
    expect(await sluice!.client(0).flowControl.getGlobalParallelism()).toEqual({ parallelismMax: 5, parallelismCount: 5 });
  });

  it("a user alone works through a backlog at their share: lanes held back by the share start as slots free", async () => {
    sluice = await startSluice({ maxInFlight: 10 });
    const slow = await receiver();
    const t = new Tracker([slow]);
    t.reply = () => ({ status: 200, delayMs: 100 });

    await publishBacklog(sluice.client(0), (p) => slow.url(p), 48);
    // 48 messages, 8 at a time, 100 ms each: about 0.6 s.
    await t.waitFor(48, 10_000);
    expect(t.max()).toBe(8);
    expect(new Set(t.arrivals.map((a) => a.id)).size).toBe(48);
    await eventually(() => sluice!.engine.dispatcher.userCount("defaultUser") === 0, 2000);
  });
});
