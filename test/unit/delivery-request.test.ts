import { describe, expect, it } from "vitest";
import { Receiver } from "@upstash/qstash";
import { deliveredBody, deliveryRequest, headerOf, signedHeaders, type HeaderList } from "../../src/protocol/delivery-request.js";
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


/** The header names of a list, in order. */
const namesOf = (headers: HeaderList): string[] => headers.filter((_, i) => i % 2 === 0) as string[];

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
    expect(namesOf(req.headers)).toEqual(names.filter((name) => name !== "Upstash-Signature"));
    expect(namesOf(signedHeaders(req))).toEqual(names);
    expect(headerOf(req.headers, "User-Agent")).toBe("Upstash-QStash");
    expect(headerOf(req.headers, "Upstash-Message-Id")).toBe(msg.id);
    expect(headerOf(req.headers, "Upstash-Retried")).toBe(String(msg.retried));
    // One value is sent as a string, several as a list (one header line each).
    expect(headerOf(req.headers, "Content-Type")).toBe("text/plain");
    expect(headerOf(req.headers, "X-Many")).toEqual(["a", "b"]);
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
    await expect(receiver.verify({ signature: headerOf(signedHeaders(req), "Upstash-Signature") as string, body: sent, url: msg.url })).resolves.toBe(true);
  });

  it("replaces a header of the message that the delivery sets itself, and keeps those it does not set", () => {
    const header = {
      "User-Agent": ["mine"],
      "Upstash-Signature": ["forged"],
      "Upstash-Topic-Name": ["kept: the message is not a group's"],
      Traceparent: ["00-11111111111111111111111111111111-2222222222222222-01"],
    };
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const headers = signedHeaders(deliveryRequest(message({ header }), Buffer.from("x"), KEY, NOW, 0, 5_000, traceparent));
    const values = (name: string) => headers.filter((_, i) => i % 2 === 1 && headers[i - 1] === name);
    expect(values("User-Agent")).toEqual(["Upstash-QStash"]);
    expect(values("Upstash-Signature")).toHaveLength(1);
    expect(values("Upstash-Signature")[0]).not.toBe("forged");
    expect(values("Upstash-Topic-Name")).toEqual(["kept: the message is not a group's"]);
    expect(values("Traceparent")).toEqual([traceparent]);
  });

  it("sends the body it is given (a workflow step list), not the message's own", () => {
    const req = deliveryRequest(message(), Buffer.from("[]"), KEY, NOW, 0, 5_000);
    expect(Buffer.from(req.body).toString()).toBe("[]");
  });
});
