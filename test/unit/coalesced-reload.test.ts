import { describe, expect, it } from "vitest";
import { CoalescedReload } from "../../src/engine/coalesced-reload.js";

/** A reload whose runs the test finishes by hand. */
function manual() {
  const runs: { finish: (err?: Error) => void }[] = [];
  const reload = new CoalescedReload(
    () =>
      new Promise<void>((resolve, reject) => {
        runs.push({ finish: (err) => (err ? reject(err) : resolve()) });
      }),
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
});
