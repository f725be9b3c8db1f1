import { describe, expect, it } from "vitest";
import { CoalescedReload } from "../../src/engine/coalesced-reload.js";

/** A reload whose runs the test finishes by hand; `soleWriter` as the cache's store has it. */
function manual(soleWriter = false) {
  const runs: { finish: (err?: Error) => void }[] = [];
  const reload = new CoalescedReload(
    () =>
      new Promise<void>((resolve, reject) => {
        runs.push({ finish: (err) => (err ? reject(err) : resolve()) });
      }),
    soleWriter,
  );
  return { reload, runs };
}

const settled = (p: Promise<unknown>) => p.then(() => "done", () => "failed");
const flush = () => new Promise((r) => setImmediate(r));

describe("CoalescedReload", () => {
  it("runs at once when idle, and answers calls made during a run with one more run that begins after it", async () => {
    const { reload, runs } = manual();
    const first = reload.request();
    expect(runs).toHaveLength(1);
    const during = [reload.request(), reload.request(), reload.request()];
    await flush();
    expect(runs).toHaveLength(1); // nothing overlaps the running read
    runs[0].finish();
    await first;
    await flush();
    expect(runs).toHaveLength(2); // one run for the three calls
    let answered = false;
    void Promise.all(during).then(() => (answered = true));
    await flush();
    expect(answered).toBe(false); // not answered by the read that began before them
    runs[1].finish();
    await Promise.all(during);
    expect(runs).toHaveLength(2);
    // Idle again: the next call starts its own run.
    const later = reload.request();
    expect(runs).toHaveLength(3);
    runs[2].finish();
    await later;
  });

  it("a failed run fails its callers only; the next run still happens and can succeed", async () => {
    const { reload, runs } = manual();
    const first = settled(reload.request());
    const next = settled(reload.request());
    runs[0].finish(new Error("store down"));
    expect(await first).toBe("failed");
    await flush();
    expect(runs).toHaveLength(2);
    runs[1].finish();
    expect(await next).toBe("done");
  });

  it("before a change: a run until loaded; then the entry's own read where others write the store, and nothing where this process alone does", async () => {
    const shared = manual(false);
    let entryReads = 0;
    const readEntry = async () => void entryReads++;
    // Not loaded yet: a full run, not the entry's read (memory holds nothing to refresh).
    const firstChange = shared.reload.beforeChange(readEntry);
    expect(shared.runs).toHaveLength(1);
    shared.runs[0].finish();
    await firstChange;
    expect(entryReads).toBe(0);
    await shared.reload.beforeChange(readEntry);
    await shared.reload.beforeChange(readEntry);
    expect(entryReads).toBe(2);
    expect(shared.runs).toHaveLength(1);

    const sole = manual(true);
    // A failed first load leaves memory unloaded: the next change reads again.
    const failed = settled(sole.reload.beforeChange(readEntry));
    expect(sole.runs).toHaveLength(1);
    sole.runs[0].finish(new Error("store down"));
    expect(await failed).toBe("failed");
    const first = sole.reload.beforeChange(readEntry);
    expect(sole.runs).toHaveLength(2);
    sole.runs[1].finish();
    await first;
    await sole.reload.beforeChange(readEntry);
    await sole.reload.beforeChange(readEntry);
    expect(sole.runs).toHaveLength(2);
    expect(entryReads).toBe(2); // the sole writer's memory is the store: no read at all
    // A reload asked for (another node's notice, a periodic check) still runs.
    const asked = sole.reload.request();
    expect(sole.runs).toHaveLength(3);
    sole.runs[2].finish();
    await asked;
  });

  it("news of some entries: a run until loaded, then just those entries' read", async () => {
    const { reload, runs } = manual();
    const entryReads: string[] = [];
    const readEntry = async (userId: string, key: string) => void entryReads.push(`${userId}/${key}`);
    const first = reload.entriesChanged([["u1", "a"]], readEntry);
    expect(runs).toHaveLength(1);
    runs[0].finish();
    await first;
    expect(entryReads).toEqual([]);
    await reload.entriesChanged([["u1", "a"], ["u2", "b"]], readEntry);
    expect([entryReads, runs.length]).toEqual([["u1/a", "u2/b"], 1]);
  });
});
