import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

let sluice: TestSluice;
let dest: TestReceiver;
beforeAll(async () => {
  // Few attempts in flight and a small in-memory waiting room, so a backlog must live in the store.
  sluice = await startSluice({ maxInFlight: 20, maxWaiting: 100 });
  dest = await TestReceiver.start();
  dest.respond = () => ({ status: 200, delayMs: 5 });
});
afterAll(async () => {
  await sluice.close();
  await dest.close();
});

describe("a backlog larger than the in-memory waiting room", () => {
  it("is delivered completely, in the store rather than in memory, with keys and plain messages alike", async () => {
    const client = sluice.client();
    let maxWaiting = 0;
    const sampler = setInterval(() => (maxWaiting = Math.max(maxWaiting, sluice.engine.dispatcher.waitingCount)), 2);
    const ids: string[] = [];
    for (let b = 0; b < 10; b++) {
      const replies = await client.batchJSON(
        Array.from({ length: 200 }, (_, i) => ({
          url: dest.url(`/b/${b}/${i}`),
          body: { b, i },
          ...(i % 2 ? { flowControl: { key: `k${i % 4}`, parallelism: 5 } } : {}),
        })),
      );
      ids.push(...replies.map((r) => (r as { messageId: string }).messageId));
    }
    await dest.waitFor(2000, 30_000);
    clearInterval(sampler);
    const delivered = new Set(dest.requests.map((r) => r.headers["upstash-message-id"]));
    expect(ids.every((id) => delivered.has(id))).toBe(true);
    expect(maxWaiting).toBeGreaterThan(0);
    expect(maxWaiting).toBeLessThanOrEqual(100);
  }, 40_000);
});
