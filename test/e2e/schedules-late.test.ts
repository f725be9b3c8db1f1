import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

/** A process that falls far behind (a frozen VM, a suspended laptop) fires one catch-up tick, not every missed one. */

let offset = 0;
const clock = { now: () => Date.now() + offset };
let sluice: TestSluice;
let dest: TestReceiver;

beforeAll(async () => {
  [sluice, dest] = await Promise.all([startSluice({}, clock), TestReceiver.start()]);
});
afterAll(async () => {
  await sluice.close();
  await dest.close();
});

describe("late ticks", () => {
  it("ticks missed by more than a minute collapse into the latest; the cron then resumes", async () => {
    await sluice.client().schedules.create({ destination: dest.url("/tick"), cron: "* * * * * *", scheduleId: "every-second" });
    await dest.waitFor(2, 5000);
    // The clock jumps five minutes ahead: 300 ticks were missed.
    const before = dest.requests.length;
    offset += 5 * 60_000;
    await eventually(() => dest.requests.length > before, 5000);
    await new Promise((r) => setTimeout(r, 1500));
    const after = dest.requests.length - before;
    // One catch-up tick plus the one or two that came due since, not 300.
    expect(after).toBeGreaterThanOrEqual(1);
    expect(after).toBeLessThanOrEqual(4);
    await sluice.client().schedules.delete("every-second");
  });
});
