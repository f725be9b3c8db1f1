import { Receiver } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, startSluice, type TestSluice } from "../helpers/sluice.js";
import type { Received } from "../helpers/receiver.js";
import { b64, closedPort, dlqEntryOf, settle, unb64, withReceiver } from "./delivery-support.js";

let sluice: TestSluice;
const receiver = new Receiver({ currentSigningKey: DEV_KEYS.current, nextSigningKey: DEV_KEYS.next });

beforeAll(async () => {
  sluice = await startSluice();
});
afterAll(async () => {
  await sluice.close();
});

/** Fields every callback body carries (SPEC §3.4); callerIP and callerIp both (DECISIONS #6). */
const CALLBACK_FIELDS = [
  "status",
  "header",
  "body",
  "retried",
  "maxRetries",
  "sourceMessageId",
  "url",
  "method",
  "sourceHeader",
  "sourceBody",
  "notBefore",
  "createdAt",
  "callerIP",
  "callerIp",
].sort();

const json = (r: Received): Record<string, any> => JSON.parse(r.body.toString("utf8"));

async function expectSigned(r: Received, url: string): Promise<void> {
  expect(r.headers["upstash-signature"]).toEqual(expect.any(String));
  await expect(receiver.verify({ signature: r.headers["upstash-signature"] as string, body: r.body.toString("utf8"), url })).resolves.toBe(true);
}

describe("callbacks", () => {
  it("a callback follows every attempt with the exact SPEC §3.4 fields, signed, as JSON POST", async () => {
    await withReceiver(async (dest) => {
      dest.respond = (req) => {
        if (!req.path.startsWith("/dest")) return { status: 200 };
        const n = dest.at("/dest").length;
        return n === 1
          ? { status: 500, headers: { "X-Resp": "first" }, body: "bad" }
          : { status: 201, headers: { "X-Resp": "second" }, body: "good" };
      };
      const client = sluice.client();
      const { messageId } = await client.publish({
        url: dest.url("/dest?q=1"),
        body: "source payload",
        method: "PUT",
        headers: { "Content-Type": "text/plain", "X-Src": "s1" },
        retries: 2,
        retryDelay: "0",
        callback: dest.url("/cb"),
      });
      await dest.waitFor(4);
      await settle(150);
      expect(dest.at("/dest")).toHaveLength(2);
      const cbs = dest.at("/cb").sort((a, b) => json(a).retried - json(b).retried);
      expect(cbs).toHaveLength(2);

      for (const [i, cb] of cbs.entries()) {
        expect(cb.method).toBe("POST");
        expect(cb.headers["content-type"]).toBe("application/json");
        expect(cb.headers["upstash-message-id"]).not.toBe(messageId);
        await expectSigned(cb, dest.url("/cb"));
        const body = json(cb);
        expect(Object.keys(body).sort()).toEqual(CALLBACK_FIELDS);
        expect(body.retried).toBe(i);
        expect(body.maxRetries).toBe(2);
        expect(body.sourceMessageId).toBe(messageId);
        expect(body.url).toBe(dest.url("/dest?q=1"));
        expect(body.method).toBe("PUT");
        expect(body.sourceHeader).toEqual({ "Content-Type": ["text/plain"], "X-Src": ["s1"] });
        expect(body.sourceBody).toBe(b64("source payload"));
        expect(body.callerIP).toBe("127.0.0.1");
        expect(body.callerIp).toBe("127.0.0.1");
        expect(typeof body.notBefore).toBe("number");
        expect(typeof body.createdAt).toBe("number");
        expect(body.notBefore).toBe(body.createdAt);
        expect(Math.abs(body.createdAt - Date.now())).toBeLessThan(10_000);
      }
      const [first, second] = cbs.map(json);
      expect(first.status).toBe(500);
      expect(unb64(first.body)).toBe("bad");
      expect(first.header["X-Resp"]).toEqual(["first"]);
      expect(second.status).toBe(201);
      expect(unb64(second.body)).toBe("good");
      expect(second.header["X-Resp"]).toEqual(["second"]);
      expect(first.createdAt).toBe(second.createdAt);
    });
  });

  it("a failure callback arrives once, after the final attempt, with the callback fields plus dlqId, signed", async () => {
    await withReceiver(async (dest) => {
      dest.respond = (req) =>
        req.path.startsWith("/dest") ? { status: 502, headers: { "X-Last": String(dest.at("/dest").length) }, body: "gateway" } : { status: 200 };
      const client = sluice.client();
      const { messageId } = await client.publishJSON({
        url: dest.url("/dest"),
        body: { hello: "world" },
        retries: 1,
        retryDelay: "0",
        callback: dest.url("/cb"),
        failureCallback: dest.url("/failure"),
        headers: { "Upstash-Failure-Callback-Forward-X-Fc": "fc-value" },
      });
      const entry = await dlqEntryOf(client, messageId);
      await dest.waitFor(5);
      await settle(200);
      expect(dest.at("/dest")).toHaveLength(2);
      expect(dest.at("/cb")).toHaveLength(2);
      const failures = dest.at("/failure");
      expect(failures).toHaveLength(1);
      const [fc] = failures;
      // It came after the last attempt.
      expect(fc.at).toBeGreaterThanOrEqual(dest.at("/dest")[1].at);
      await expectSigned(fc, dest.url("/failure"));
      expect(fc.headers["x-fc"]).toBe("fc-value");
      const body = json(fc);
      expect(Object.keys(body).sort()).toEqual([...CALLBACK_FIELDS, "dlqId"].sort());
      expect(body.dlqId).toBe(entry.dlqId);
      expect(body.status).toBe(502);
      expect(unb64(body.body)).toBe("gateway");
      expect(body.header["X-Last"]).toEqual(["2"]);
      expect(body.retried).toBe(1);
      expect(body.maxRetries).toBe(1);
      expect(body.sourceMessageId).toBe(messageId);
      expect(body.url).toBe(dest.url("/dest"));
      expect(body.method).toBe("POST");
      expect(body.sourceHeader).toEqual({ "Content-Type": ["application/json"] });
      expect(JSON.parse(unb64(body.sourceBody))).toEqual({ hello: "world" });
      // The plain callbacks do not carry a dlqId.
      for (const cb of dest.at("/cb")) expect(json(cb)).not.toHaveProperty("dlqId");
    });
  });

  it("no failure callback when the message is delivered", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      await client.publish({ url: dest.url("/dest"), body: "x", failureCallback: dest.url("/failure"), callback: dest.url("/cb") });
      await dest.waitFor(2);
      await settle(200);
      expect(dest.at("/dest")).toHaveLength(1);
      expect(dest.at("/cb")).toHaveLength(1);
      expect(dest.at("/failure")).toHaveLength(0);
    });
  });

  it("Upstash-Callback-Method / -Forward-X / -Retries / -Retry-Delay configure the callback message", async () => {
    await withReceiver(async (dest) => {
      dest.respond = (req) => (req.path.startsWith("/cb") ? { status: 500 } : { status: 200 });
      const client = sluice.client();
      const { messageId } = await client.publish({
        url: dest.url("/dest"),
        body: "x",
        retries: 3,
        callback: dest.url("/cb"),
        headers: {
          "Upstash-Callback-Method": "PUT",
          "Upstash-Callback-Forward-X-Cb": "cb-value",
          "Upstash-Callback-Retries": "1",
          "Upstash-Callback-Retry-Delay": "0",
        },
      });
      await dest.waitFor(3);
      await settle(300);
      const cbs = dest.at("/cb");
      // Callback-Retries 1 → two attempts, even though the source allowed 3 retries.
      expect(cbs).toHaveLength(2);
      expect(cbs.map((c) => c.headers["upstash-retried"])).toEqual(["0", "1"]);
      for (const cb of cbs) {
        expect(cb.method).toBe("PUT");
        expect(cb.headers["x-cb"]).toBe("cb-value");
        expect(json(cb).sourceMessageId).toBe(messageId);
      }
      // The callback message that failed for good has its own DLQ entry.
      const callbackId = cbs[0].headers["upstash-message-id"] as string;
      expect((await dlqEntryOf(client, callbackId)).url).toBe(dest.url("/cb"));
    });
  });

  it("without Upstash-Callback-Retries the callback inherits the source's retries", async () => {
    await withReceiver(async (dest) => {
      dest.respond = (req) => (req.path.startsWith("/cb") ? { status: 500 } : { status: 200 });
      const client = sluice.client();
      await client.publish({
        url: dest.url("/dest"),
        body: "x",
        retries: 2,
        callback: dest.url("/cb"),
        headers: { "Upstash-Callback-Retry-Delay": "0" },
      });
      await dest.waitFor(4);
      await settle(300);
      expect(dest.at("/cb").map((c) => c.headers["upstash-retried"])).toEqual(["0", "1", "2"]);
    });
  });

  it("with no response at all the callback and failure callback carry status 0 and the error text", async () => {
    await withReceiver(async (dest) => {
      const port = await closedPort();
      const client = sluice.client();
      const { messageId } = await client.publish({
        url: `http://127.0.0.1:${port}/gone`,
        body: "x",
        retries: 0,
        callback: dest.url("/cb"),
        failureCallback: dest.url("/failure"),
      });
      await dest.waitFor(2);
      const [fc] = dest.at("/failure");
      const body = json(fc);
      expect(Object.keys(body).sort()).toEqual([...CALLBACK_FIELDS, "dlqId", "error"].sort());
      expect(body.status).toBe(0);
      expect(body.error).toMatch(/ECONNREFUSED|refused/i);
      expect(body.header).toEqual({});
      expect(body.body).toBe("");
      expect(body.sourceMessageId).toBe(messageId);
      expect(body.dlqId).toBe((await dlqEntryOf(client, messageId)).dlqId);
      const cb = json(dest.at("/cb")[0]);
      expect(cb.status).toBe(0);
      expect(cb.error).toMatch(/ECONNREFUSED|refused/i);
    });
  });
});

describe("callback configuration is validated at publish", () => {
  it.each([
    { name: "Upstash-Callback-Retries: abc", headers: { "Upstash-Callback-Retries": "abc" } },
    { name: "Upstash-Callback-Retries over the limit", headers: { "Upstash-Callback-Retries": "100000" } },
    { name: "Upstash-Failure-Callback-Timeout: soon", headers: { "Upstash-Failure-Callback-Timeout": "soon" } },
    { name: "Upstash-Callback-Retry-Delay: nope(", headers: { "Upstash-Callback-Retry-Delay": "nope(" } },
    { name: "Upstash-Callback-Method: TELEPORT", headers: { "Upstash-Callback-Method": "TELEPORT" } },
  ] as { name: string; headers: Record<string, string> }[])("$name is refused instead of silently losing the callback later", async ({ headers }) => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const err = await client
        .publish({ url: dest.url("/dest"), body: "x", callback: dest.url("/cb"), failureCallback: dest.url("/failure"), headers })
        .then(
          () => undefined,
          (e: unknown) => e as { status?: number; message: string },
        );
      expect(err?.status).toBeGreaterThanOrEqual(400);
      expect(err?.status).toBeLessThan(500);
      expect(err?.message).toMatch(new RegExp(Object.keys(headers)[0], "i"));
      await settle(100);
      expect(dest.requests).toHaveLength(0);
    });
  });
});
