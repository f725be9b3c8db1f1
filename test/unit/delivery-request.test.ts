import { describe, expect, it } from "vitest";
import { Receiver } from "@upstash/qstash";
import { deliveredBody, deliveryRequest, signedHeaders } from "../../src/protocol/delivery-request.js";
import type { MessageRecord } from "../../src/model/message.js";

const KEY = "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r";
const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);

function message(over: Partial<MessageRecord> = {}): MessageRecord {
  return {
    id: "msg_1",
    userId: "u",
    kind: "publish",
    url: "https://example.com/hook",
    method: "POST",
    header: { "Content-Type": ["text/plain"], "X-Many": ["a", "b"] },
    body: Buffer.from("hello"),
    maxRetries: 3,
    notBeforeMs: NOW,
    createdAtMs: NOW,
    callerIp: "",
    labels: [],
    state: "active",
    retried: 0,
    dueMs: NOW,
    ...over,
  };
}


describe("deliveryRequest", () => {
  it.each([
    ["a plain message", message(), {}, ["Content-Type", "X-Many", "User-Agent", "Upstash-Message-Id", "Upstash-Retried", "Upstash-Signature"]],
    [
      "a URL-group message of a schedule, with its caller and a trace",
      message({ topicName: "grp", scheduleId: "scd_1", callerIp: "10.0.0.1", retried: 2 }),
      { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
      [
        "Content-Type",
        "X-Many",
        "User-Agent",
        "Upstash-Message-Id",
        "Upstash-Retried",
        "Upstash-Topic-Name",
        "Upstash-Schedule-Id",
        "Upstash-Caller-Ip",
        "Traceparent",
        "Upstash-Signature",
      ],
    ],
  ])("%s carries exactly its delivery headers", (_, msg, extra: { traceparent?: string }, names) => {
    const req = deliveryRequest(msg, msg.body, KEY, NOW, 0, 5_000, extra.traceparent);
    // Unsigned until the deliverer signs it, on the thread that sends it.
    expect(Object.keys(req.headers)).toEqual(names.filter((name) => name !== "Upstash-Signature"));
    expect(Object.keys(signedHeaders(req))).toEqual(names);
    expect(req.headers["User-Agent"]).toBe("Upstash-QStash");
    expect(req.headers["Upstash-Message-Id"]).toBe(msg.id);
    expect(req.headers["Upstash-Retried"]).toBe(String(msg.retried));
    // One value is sent as a string, several as a list (one header line each).
    expect(req.headers["Content-Type"]).toBe("text/plain");
    expect(req.headers["X-Many"]).toEqual(["a", "b"]);
    expect(req).toMatchObject({ url: msg.url, method: msg.method, timeoutMs: 5_000 });
  });

  it.each([
    ["POST", "hello", "hello"],
    ["PUT", "hello", "hello"],
    ["GET", "hello", ""],
    ["HEAD", "hello", ""],
  ])("a %s signs the bytes it sends (%j → %j), and the SDK's Receiver accepts them", async (method, body, sent) => {
    const msg = message({ method });
    const req = deliveryRequest(msg, Buffer.from(body), KEY, Date.now(), 0, 5_000);
    expect(Buffer.from(deliveredBody(method, req.body)).toString()).toBe(sent);
    const receiver = new Receiver({ currentSigningKey: KEY, nextSigningKey: "sig_other" });
    await expect(receiver.verify({ signature: signedHeaders(req)["Upstash-Signature"] as string, body: sent, url: msg.url })).resolves.toBe(true);
  });

  it("sends the body it is given (a workflow step list), not the message's own", () => {
    const req = deliveryRequest(message(), Buffer.from("[]"), KEY, NOW, 0, 5_000);
    expect(Buffer.from(req.body).toString()).toBe("[]");
  });
});
