import { QstashError } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { settle, withReceiver } from "./delivery-support.js";

let sluice: TestSluice;

beforeAll(async () => {
  sluice = await startSluice();
});
afterAll(async () => {
  await sluice.close();
});

describe("delays", () => {
  it("delay: 1 → the attempt comes ≥ 1000 ms after publish and within ~100 ms of its due time", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const t0 = Date.now();
      const { messageId } = await client.publish({ url: dest.url("/delayed"), body: "x", delay: 1 });
      const msg = await client.messages.get(messageId);
      expect(msg.notBefore! - msg.createdAt).toBe(1000);
      await settle(500);
      expect(dest.requests).toHaveLength(0);
      const [req] = await dest.waitFor(1, 3000);
      expect(req.at - t0).toBeGreaterThanOrEqual(1000);
      expect(req.at).toBeGreaterThanOrEqual(msg.notBefore!);
      expect(req.at - msg.notBefore!).toBeLessThan(100);
    });
  });

  it("notBefore (unix seconds) wins over delay", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const notBefore = Math.ceil(Date.now() / 1000) + 1;
      const { messageId } = await client.publish({ url: dest.url("/nb"), body: "x", delay: 60, notBefore });
      expect((await client.messages.get(messageId)).notBefore).toBe(notBefore * 1000);
      const [req] = await dest.waitFor(1, 3500);
      expect(req.at).toBeGreaterThanOrEqual(notBefore * 1000);
      expect(req.at - notBefore * 1000).toBeLessThan(100);
    });
  });

  it("a delayed message is visible via messages.get until delivered, then 404", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const { messageId } = await client.publish({
        url: dest.url("/visible"),
        body: "still here",
        delay: 1,
        headers: { "X-Kept": "k" },
        retries: 2,
      });
      const msg = await client.messages.get(messageId);
      expect(msg.messageId).toBe(messageId);
      expect(msg.url).toBe(dest.url("/visible"));
      expect(msg.body).toBe("still here");
      expect(msg.header).toMatchObject({ "X-Kept": ["k"] });
      expect(msg.maxRetries).toBe(2);
      expect(msg.method).toBe("POST");
      await dest.waitFor(1, 3000);
      const err = await eventually(async () => {
        const e = await client.messages.get(messageId).then(
          () => undefined,
          (e: unknown) => e,
        );
        return e;
      }, 2000);
      expect(err).toBeInstanceOf(QstashError);
      expect((err as QstashError).status).toBe(404);
    });
  });

  it("a raw Upstash-Delay header is honoured (Sluice also accepts an ms unit: 500ms)", async () => {
    await withReceiver(async (dest) => {
      const t0 = Date.now();
      const res = await sluice.api("POST", `/v2/publish/${dest.url("/raw-delay")}`, { body: "x", headers: { "Upstash-Delay": "500ms" } });
      expect(res.status).toBe(200);
      const [req] = await dest.waitFor(1, 2000);
      expect(req.at - t0).toBeGreaterThanOrEqual(500);
      expect(req.at - t0).toBeLessThan(800);
    });
  });
});
