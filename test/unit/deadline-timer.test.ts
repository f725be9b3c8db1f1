import { afterEach, describe, expect, it } from "vitest";
import { DeadlineTimer } from "../../src/workflow/waiters.js";
import type { StoredWaiter } from "../../src/model/waiter.js";

const timers: DeadlineTimer[] = [];
afterEach(() => {
  for (const t of timers.splice(0)) t.stop();
});

let nextId = 1;
function waiter(deadlineMs: number): StoredWaiter {
  return {
    id: nextId++,
    userId: "u",
    eventId: "e",
    runId: "r",
    createdMs: Date.now(),
    deadlineMs,
    url: "http://x",
    headers: {},
    timeoutUrl: "http://x",
    timeoutHeaders: {},
    step: {},
  };
}

/** A store of waiters where firing a waiter removes it, as `takeWaiter` does; counts how often each id fired. */
function setup(initial: StoredWaiter[]) {
  const rows = [...initial];
  const fired = new Map<number, number>();
  let maxHeld = 0;
  let loads = 0;
  const timer: DeadlineTimer = new DeadlineTimer({
    store: {
      listWaitersDue: async (beforeMs, limit) => {
        loads++;
        return rows
          .filter((w) => w.deadlineMs < beforeMs)
          .sort((a, b) => a.deadlineMs - b.deadlineMs || a.id! - b.id!)
          .slice(0, limit);
      },
    },
    now: Date.now,
    fire: async (w) => {
      maxHeld = Math.max(maxHeld, timer.size);
      fired.set(w.id!, (fired.get(w.id!) ?? 0) + 1);
      const i = rows.indexOf(w);
      if (i !== -1) rows.splice(i, 1);
    },
    track: () => {},
  });
  timers.push(timer);
  return { timer, rows, fired, stats: () => ({ maxHeld, loads }) };
}

/** Polls `cond`; fails after `timeoutMs` instead of hanging. */
async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("DeadlineTimer", () => {
  it("fires stored and newly added waiters at their deadline, and not removed ones", async () => {
    const now = Date.now();
    const stored = [waiter(now + 40), waiter(now - 1000), waiter(now + 10 * 60_000)];
    const { timer, rows, fired } = setup(stored);
    await timer.start();
    const late = waiter(Date.now() + 60);
    rows.push(late);
    timer.added(late);
    const answered = waiter(Date.now() + 30);
    rows.push(answered);
    timer.added(answered);
    timer.removed(answered.id!);
    await until(() => fired.size === 3);
    expect([...fired.keys()].sort()).toEqual([stored[0].id, stored[1].id, late.id].sort());
    // Beyond the horizon: stays in the store only.
    expect(fired.has(stored[2].id!)).toBe(false);
    expect(timer.size).toBe(0);
  });

  it("holds at most 10,000 waiters, and still fires every one of a larger batch", async () => {
    const now = Date.now();
    const many = Array.from({ length: 10_050 }, (_, i) => waiter(now + 20 + (i % 50)));
    const { timer, fired, stats } = setup(many);
    await timer.start();
    expect(timer.size).toBe(10_000);
    await until(() => fired.size === many.length, 10_000);
    expect([...fired.values()].every((n) => n === 1)).toBe(true);
    expect(stats().maxHeld).toBeLessThanOrEqual(10_000);
  });

  it("reload holds waiters stored elsewhere since, lets go of those answered elsewhere, and fires each once", async () => {
    const now = Date.now();
    const answeredElsewhere = waiter(now + 400);
    const { timer, rows, fired } = setup([answeredElsewhere]);
    await timer.start();
    expect(timer.size).toBe(1);
    // Another node answers one waiter and stores two more (one already past its deadline); this timer hears of it
    // only through reload.
    rows.splice(rows.indexOf(answeredElsewhere), 1);
    const soon = waiter(now + 150);
    const overdue = waiter(now - 50);
    rows.push(soon, overdue);
    await Promise.all([timer.reload(), timer.reload(), timer.reload()]);
    await until(() => fired.size === 2);
    expect([...fired.keys()].sort()).toEqual([soon.id, overdue.id].sort());
    await new Promise((r) => setTimeout(r, 400));
    expect(fired.has(answeredElsewhere.id!)).toBe(false);
    expect([...fired.values()]).toEqual([1, 1]);
    expect(timer.size).toBe(0);
  });
});
