import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { settle, withReceiver } from "./delivery-support.js";

let sluice: TestSluice;

beforeAll(async () => {
  sluice = await startSluice();
});
afterAll(async () => {
  await sluice.close();
});

const unique = (): string => `dedup-${Date.now()}-${Math.random().toString(36).slice(2)}`;

describe("deduplication", () => {
  it("the same deduplicationId twice: the second reply is deduplicated with the first id, and only one delivery happens", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const deduplicationId = unique();
      const first = await client.publish({ url: dest.url("/d"), body: "one", deduplicationId });
      expect(first.deduplicated).toBeFalsy();
      const second = await client.publish({ url: dest.url("/d"), body: "two", deduplicationId });
      expect(second).toMatchObject({ messageId: first.messageId, deduplicated: true });
      await dest.waitFor(1);
      await settle(300);
      expect(dest.requests).toHaveLength(1);
      expect(dest.requests[0].body.toString()).toBe("one");
      expect(dest.requests[0].headers["upstash-message-id"]).toBe(first.messageId);
    });
  });

  it("a duplicate raw publish is answered 202 with deduplicated: true and the first id", async () => {
    await withReceiver(async (dest) => {
      const headers = { "Upstash-Deduplication-Id": unique() };
      const path = `/v2/publish/${dest.url("/raw")}`;
      const r1 = await sluice.api("POST", path, { body: "a", headers });
      expect(r1.status).toBe(200);
      const b1 = (await r1.json()) as Record<string, unknown>;
      expect(b1).not.toHaveProperty("deduplicated");
      const r2 = await sluice.api("POST", path, { body: "a", headers });
      expect(r2.status).toBe(202);
      expect(await r2.json()).toEqual({ messageId: b1.messageId, url: dest.url("/raw"), deduplicated: true });
      await dest.waitFor(1);
      await settle(300);
      expect(dest.requests).toHaveLength(1);
    });
  });

  it("contentBasedDeduplication: same body twice is deduplicated, a different body is not", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const body = unique();
      const a = await client.publish({ url: dest.url("/cbd"), body, contentBasedDeduplication: true });
      const b = await client.publish({ url: dest.url("/cbd"), body, contentBasedDeduplication: true });
      const c = await client.publish({ url: dest.url("/cbd"), body: `${body}-other`, contentBasedDeduplication: true });
      expect(a.deduplicated).toBeFalsy();
      expect(b).toMatchObject({ messageId: a.messageId, deduplicated: true });
      expect(c.deduplicated).toBeFalsy();
      expect(c.messageId).not.toBe(a.messageId);
      await dest.waitFor(2);
      await settle(300);
      expect(dest.requests.map((r) => r.body.toString()).sort()).toEqual([body, `${body}-other`].sort());
    });
  });

  it("contentBasedDeduplication also tells apart different destinations and forwarded headers", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const body = unique();
      const a = await client.publish({ url: dest.url("/one"), body, contentBasedDeduplication: true });
      const b = await client.publish({ url: dest.url("/two"), body, contentBasedDeduplication: true });
      const c = await client.publish({ url: dest.url("/one"), body, headers: { "X-Variant": "1" }, contentBasedDeduplication: true });
      expect([a, b, c].map((r) => r.deduplicated ?? false)).toEqual([false, false, false]);
      await dest.waitFor(3);
    });
  });

  it("batch items are deduplicated too, against each other and against earlier publishes", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const id1 = unique();
      const id2 = unique();
      const earlier = await client.publish({ url: dest.url("/b"), body: "earlier", deduplicationId: id2 });
      const res = await client.batch([
        { url: dest.url("/b"), body: "first", deduplicationId: id1 },
        { url: dest.url("/b"), body: "again", deduplicationId: id1 },
        { url: dest.url("/b"), body: "late", deduplicationId: id2 },
        { url: dest.url("/b"), body: "free" },
      ]);
      const replies = res as { messageId: string; deduplicated?: boolean }[];
      expect(replies).toHaveLength(4);
      expect(replies[0].deduplicated).toBeFalsy();
      expect(replies[1]).toMatchObject({ messageId: replies[0].messageId, deduplicated: true });
      expect(replies[2]).toMatchObject({ messageId: earlier.messageId, deduplicated: true });
      expect(replies[3].deduplicated).toBeFalsy();
      await dest.waitFor(3);
      await settle(300);
      expect(dest.requests.map((r) => r.body.toString()).sort()).toEqual(["earlier", "first", "free"]);
    });
  });
});
