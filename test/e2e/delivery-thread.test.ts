import { Receiver } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, startSluice, type TestSluice } from "../helpers/sluice.js";
import { TestReceiver } from "../helpers/receiver.js";
import { unb64 } from "./delivery-support.js";

const receiver = new Receiver({ currentSigningKey: DEV_KEYS.current, nextSigningKey: DEV_KEYS.next });

/** A reply body for message `i`: most are small (a window on Node's Buffer pool), every tenth is 6 KB. */
const replyFor = (i: string): string => (Number(i) % 10 === 0 ? `reply ${i} `.padEnd(6_000, "x") : `reply ${i}`);

// Attempts are sent from the delivery thread by default (on a machine with more than one CPU); switched off, from
// the engine's own thread. Both must deliver the same requests and read back the same responses.
describe.each([
  ["on the delivery thread", true],
  ["on the engine's thread", false],
])("attempts sent %s", (_, deliveryThread) => {
  let sluice: TestSluice;
  let dest: TestReceiver;

  beforeAll(async () => {
    sluice = await startSluice({ deliveryThread });
    dest = await TestReceiver.start();
    dest.respond = (req) => {
      const n = /^\/dest\/(\d+)$/.exec(req.path)?.[1];
      return n === undefined ? { status: 200 } : { status: 200 + (Number(n) % 3), headers: { "X-Of": n }, body: replyFor(n) };
    };
  });
  afterAll(async () => {
    await sluice.close();
    await dest.close();
  });

  it("each of many attempts started together is signed, and its callback carries its own response", async () => {
    const count = 200;
    const items = Array.from({ length: count }, (_, i) => ({
      destination: dest.url(`/dest/${i}`),
      body: `body ${i}`,
      headers: { "Content-Type": "text/plain", "Upstash-Callback": dest.url(`/cb/${i}`) },
    }));
    // Two batches in one go: their attempts start in the same few ticks and cross to the thread together.
    const res = await Promise.all([0, 100].map((from) => sluice.api("POST", "/v2/batch", { body: JSON.stringify(items.slice(from, from + 100)) })));
    expect(res.map((r) => r.status)).toEqual([200, 200]);
    await dest.waitFor(2 * count, 20_000);

    for (let i = 0; i < count; i++) {
      const [delivered] = dest.at(`/dest/${i}`);
      expect(delivered.body.toString()).toBe(`body ${i}`);
      await expect(
        receiver.verify({ signature: delivered.headers["upstash-signature"] as string, body: delivered.body.toString(), url: dest.url(`/dest/${i}`) }),
      ).resolves.toBe(true);
      const [callback] = dest.at(`/cb/${i}`);
      const sent = JSON.parse(callback.body.toString());
      expect(sent.sourceMessageId).toBe(delivered.headers["upstash-message-id"]);
      expect(sent.status).toBe(200 + (i % 3));
      expect(sent.header["X-Of"]).toEqual([String(i)]);
      expect(unb64(sent.body)).toBe(replyFor(String(i)));
    }
  });
});
