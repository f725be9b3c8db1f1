import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { publishMany, uniqueKey } from "./flow-support.js";

/** waitListSize counts every due message of a key, also when the backlog is larger than the lanes hold (`maxWaiting`). */

let sluice: TestSluice;
let dest: TestReceiver;

beforeAll(async () => {
  [sluice, dest] = await Promise.all([startSluice({ maxWaiting: 100 }), TestReceiver.start()]);
  dest.respond = () => ({ status: 200, delayMs: 3000 });
});
afterAll(async () => {
  await sluice.close();
  await dest.close();
});

describe("waitListSize under a backlog", () => {
  it("counts the due messages kept in the store, not only those held in memory", async () => {
    const client = sluice.client();
    const key = uniqueKey("backlog");
    for (let b = 0; b < 5; b++) await publishMany(client, 100, (i) => dest.url(`/b${b}/${i}`), { key, parallelism: 1 });
    await dest.waitFor(1, 5000);
    const info = await eventually(async () => {
      const i = await client.flowControl.get(key);
      return i.parallelismCount === 1 && i;
    }, 5000);
    // 500 published, one in flight: 499 wait, although the lanes hold at most 100.
    expect(info.waitListSize).toBe(499);
    const all = (await (await sluice.api("GET", `/v2/flowControl?search=${key}`)).json()) as { flowControlKey: string; waitListSize: number }[];
    expect(all.find((k) => k.flowControlKey === key)?.waitListSize).toBe(499);
  });
});
