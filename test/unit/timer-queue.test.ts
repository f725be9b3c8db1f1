import { describe, it, expect, afterEach } from "vitest";
import { TimerQueue } from "../../src/engine/timer-queue.js";

interface Fired {
  id: string;
  atMs: number;
  batch: number;
}

const queues: TimerQueue[] = [];
afterEach(() => {
  for (const q of queues.splice(0)) q.stop();
});

/** A queue on the real clock that records every id it fires, with the time and the batch it came in. */
function recordingQueue(): { q: TimerQueue; fired: Fired[] } {
  const fired: Fired[] = [];
  let batch = 0;
  const q = new TimerQueue(Date.now, (ids) => {
    const atMs = Date.now();
    batch++;
    for (const id of ids) fired.push({ id, atMs, batch });
  });
  queues.push(q);
  return { q, fired };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `cond` every few ms; fails after `timeoutMs` instead of hanging. */
async function waitFor(cond: () => boolean, timeoutMs = 1_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(2);
  }
}

/** Deterministic pseudo-random numbers, so a failure can be reproduced. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("TimerQueue: ordering", () => {
  it.each([
    [1, 10],
    [2, 100],
    [3, 500],
    [4, 1_000],
  ])("seed %d: %d random due times fire in non-decreasing due order, none early", async (seed, count) => {
    const { q, fired } = recordingQueue();
    const rand = lcg(seed);
    const start = Date.now();
    const due = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      const id = `m${i}`;
      const at = start + Math.floor(rand() * 50);
      due.set(id, at);
      q.push(id, at);
    }
    expect(q.size).toBe(count);
    await waitFor(() => fired.length === count);
    expect(new Set(fired.map((f) => f.id)).size).toBe(count);
    for (let i = 1; i < fired.length; i++) {
      expect(due.get(fired[i].id)!).toBeGreaterThanOrEqual(due.get(fired[i - 1].id)!);
    }
    for (const f of fired) expect(f.atMs).toBeGreaterThanOrEqual(due.get(f.id)!);
    expect(q.size).toBe(0);
  });

  it.each([
    ["already past", -1_000],
    ["now", 0],
  ])("entries due %s fire on the next turn, together", async (_, offset) => {
    const { q, fired } = recordingQueue();
    const at = Date.now() + offset;
    q.push("a", at);
    q.push("b", at);
    q.push("c", at - 1);
    await waitFor(() => fired.length === 3, 200);
    expect(fired.map((f) => f.id)).toEqual(["c", expect.any(String), expect.any(String)]);
    expect(new Set(fired.map((f) => f.batch)).size).toBe(1);
  });

  it("an entry pushed earlier than the armed one re-arms the timer", async () => {
    const { q, fired } = recordingQueue();
    const start = Date.now();
    q.push("late", start + 40);
    q.push("early", start + 5);
    await waitFor(() => fired.length === 2);
    expect(fired.map((f) => f.id)).toEqual(["early", "late"]);
    expect(fired[0].atMs).toBeLessThan(start + 40);
  });

  it("entries pushed from inside onDue are handled", async () => {
    const fired: string[] = [];
    const q: TimerQueue = new TimerQueue(Date.now, (ids) => {
      for (const id of ids) {
        fired.push(id);
        if (id === "first") q.push("second", Date.now() + 5);
      }
    });
    queues.push(q);
    q.push("first", Date.now() + 5);
    await waitFor(() => fired.length === 2);
    expect(fired).toEqual(["first", "second"]);
  });
});

describe("TimerQueue: moving and removing", () => {
  it.each<[string, number, number, string[]]>([
    // push "a" at +first, then again at +second; "b" stays at +20
    ["later", 5, 40, ["b", "a"]],
    ["earlier", 40, 5, ["a", "b"]],
    ["same time", 10, 10, ["a", "b"]],
  ])("pushing an existing id moves it (%s)", async (_, first, second, order) => {
    const { q, fired } = recordingQueue();
    const start = Date.now();
    q.push("a", start + first);
    q.push("b", start + 20);
    q.push("a", start + second);
    expect(q.size).toBe(2);
    expect(q.has("a")).toBe(true);
    await waitFor(() => fired.length === 2);
    await sleep(first + 10); // the old slot of "a" must not fire it again
    expect(fired.map((f) => f.id)).toEqual(order);
    expect(fired.find((f) => f.id === "a")!.atMs).toBeGreaterThanOrEqual(start + second);
  });

  it.each<[string, string[], string[]]>([
    ["the earliest", ["a"], ["b", "c"]],
    ["a middle one", ["b"], ["a", "c"]],
    ["the latest", ["c"], ["a", "b"]],
    ["all", ["a", "b", "c"], []],
    ["an unknown id", ["zzz"], ["a", "b", "c"]],
  ])("remove prevents firing: %s", async (_, removed, expected) => {
    const { q, fired } = recordingQueue();
    const start = Date.now();
    q.push("a", start + 5);
    q.push("b", start + 15);
    q.push("c", start + 25);
    for (const id of removed) expect(q.remove(id)).toBe(id !== "zzz");
    expect(q.size).toBe(3 - removed.filter((id) => id !== "zzz").length);
    for (const id of removed) expect(q.has(id)).toBe(false);
    await sleep(50);
    await waitFor(() => fired.length === expected.length);
    expect(fired.map((f) => f.id)).toEqual(expected);
    expect(q.size).toBe(0);
  });

  it("remove then push again fires once, at the new time", async () => {
    const { q, fired } = recordingQueue();
    const start = Date.now();
    q.push("a", start + 5);
    q.remove("a");
    q.push("a", start + 20);
    await waitFor(() => fired.length === 1);
    await sleep(20);
    expect(fired.map((f) => f.id)).toEqual(["a"]);
    expect(fired[0].atMs).toBeGreaterThanOrEqual(start + 20);
  });

  it("has and size track entries until they fire", async () => {
    const { q, fired } = recordingQueue();
    q.push("a", Date.now() + 5);
    expect(q.has("a")).toBe(true);
    expect(q.size).toBe(1);
    await waitFor(() => fired.length === 1);
    expect(q.has("a")).toBe(false);
    expect(q.size).toBe(0);
  });
});

describe("TimerQueue: stop", () => {
  it.each([
    ["before anything is due", 0],
    ["after the first entry fired", 1],
  ])("stop cancels what is left (%s)", async (_, firedBeforeStop) => {
    const { q, fired } = recordingQueue();
    const start = Date.now();
    q.push("a", start + 5);
    q.push("b", start + 40);
    if (firedBeforeStop) await waitFor(() => fired.length === 1);
    q.stop();
    await sleep(60);
    expect(fired.map((f) => f.id)).toEqual(firedBeforeStop ? ["a"] : []);
  });

  it("pushes after stop never fire", async () => {
    const { q, fired } = recordingQueue();
    q.stop();
    q.push("a", Date.now());
    q.push("b", Date.now() + 5);
    await sleep(30);
    expect(fired).toEqual([]);
  });

  it("a far-future entry does not overflow setTimeout", async () => {
    const { q, fired } = recordingQueue();
    q.push("far", Date.now() + 400 * 86_400_000);
    q.push("near", Date.now() + 5);
    await waitFor(() => fired.length === 1);
    await sleep(10);
    expect(fired.map((f) => f.id)).toEqual(["near"]);
    expect(q.has("far")).toBe(true);
  });
});

describe("TimerQueue budget", () => {
  it("hands out at most the budget, stalls while it is zero, and resumes on kick()", async () => {
    let budget = 2;
    const got: string[][] = [];
    const q = new TimerQueue(() => Date.now(), (ids) => got.push(ids), () => budget);
    const now = Date.now();
    for (let i = 0; i < 5; i++) q.push(`m${i}`, now - 10 + i);
    const first = q.takeDue(budget);
    expect(first).toEqual(["m0", "m1"]);
    budget = 0;
    await new Promise((r) => setTimeout(r, 30));
    expect(got).toEqual([]);
    budget = 10;
    q.kick();
    await new Promise((r) => setTimeout(r, 30));
    expect(got.flat()).toEqual(["m2", "m3", "m4"]);
    q.stop();
  });
});
