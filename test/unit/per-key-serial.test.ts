import { describe, expect, it } from "vitest";
import { PerKeySerial } from "../../src/engine/per-key-serial.js";

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("PerKeySerial", () => {
  it("runs the tasks of one key one after another, in order, and tasks of other keys at once; a failure stops nothing", async () => {
    const serial = new PerKeySerial();
    const log: string[] = [];
    const task = (name: string, ms: number, fail = false) => async () => {
      log.push(`${name} start`);
      await tick(ms);
      log.push(`${name} end`);
      if (fail) throw new Error(name);
      return name;
    };
    const results = Promise.allSettled([
      serial.run("g", task("g1", 30, true)),
      serial.run("g", task("g2", 5)),
      serial.run("h", task("h1", 10)),
    ]);
    expect((await results).map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual(["g1", "g2", "h1"]);
    // h1 ran beside g1; g2 began only once g1, which failed, had ended.
    expect(log).toEqual(["g1 start", "h1 start", "h1 end", "g1 end", "g2 start", "g2 end"]);
  });
});
