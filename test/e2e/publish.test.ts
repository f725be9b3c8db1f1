import { Receiver } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, startSluice, type TestSluice } from "../helpers/sluice.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";

let sluice: TestSluice;
let dest: TestReceiver;

beforeAll(async () => {
  sluice = await startSluice();
  dest = await TestReceiver.start();
});
afterAll(async () => {
  await sluice.close();
  await dest.close();
});

describe("publish and delivery", () => {
  it("delivers a publish with forwarded headers, method and a signature the SDK Receiver verifies", async () => {
    const client = sluice.client();
    const res = await client.publish({
      url: dest.url("/hook?x=1&y=two"),
      body: "hello world",
      method: "PUT",
      headers: { "X-Custom": "abc", "Content-Type": "text/plain" },
    });
    expect(res.messageId).toMatch(/^msg_/);
    const [req] = (await dest.waitFor(1)).filter((r) => r.headers["upstash-message-id"] === res.messageId);
    expect(req.method).toBe("PUT");
    expect(req.path).toBe("/hook?x=1&y=two");
    expect(req.body.toString()).toBe("hello world");
    expect(req.headers["x-custom"]).toBe("abc");
    expect(req.headers["content-type"]).toBe("text/plain");
    expect(req.headers["user-agent"]).toBe("Upstash-QStash");
    expect(req.headers["upstash-retried"]).toBe("0");
    const receiver = new Receiver({ currentSigningKey: DEV_KEYS.current, nextSigningKey: DEV_KEYS.next });
    await expect(
      receiver.verify({ signature: req.headers["upstash-signature"] as string, body: req.body.toString(), url: dest.url("/hook?x=1&y=two") }),
    ).resolves.toBe(true);
    await expect(
      receiver.verify({ signature: req.headers["upstash-signature"] as string, body: "tampered" }),
    ).rejects.toThrow();
  });

  it("publishJSON sends JSON with its content type and logs CREATED, ACTIVE, DELIVERED", async () => {
    const client = sluice.client();
    const { messageId } = await client.publishJSON({ url: dest.url("/json"), body: { a: 1 } });
    await eventually(() => dest.at("/json").length === 1);
    const req = dest.at("/json")[0];
    expect(JSON.parse(req.body.toString())).toEqual({ a: 1 });
    expect(req.headers["content-type"]).toBe("application/json");
    const states = await eventually(async () => {
      const { logs } = await client.logs({ filter: { messageId } });
      const s = logs.map((l) => l.state).reverse();
      return s.includes("DELIVERED") ? s : undefined;
    });
    expect(states).toEqual(["CREATED", "ACTIVE", "DELIVERED"]);
  });
});
