import { createHash } from "node:crypto";
import { Client, Receiver } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEV_KEYS, startSluice, type TestSluice } from "../helpers/sluice.js";
import { finalLogs, logsOf, logsUntil, settle, unb64, withReceiver } from "./delivery-support.js";

let sluice: TestSluice;

beforeAll(async () => {
  sluice = await startSluice();
});
afterAll(async () => {
  await sluice.close();
});

const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

describe("forwarded headers", () => {
  it("SDK headers, client-wide headers and raw Upstash-Forward-* reach the destination with the prefix stripped", async () => {
    await withReceiver(async (dest) => {
      const client = new Client({ baseUrl: sluice.url, token: sluice.token(), headers: { "X-Global": "g" } });
      await client.publish({ url: dest.url("/sdk"), body: "x", headers: { "X-Custom": "abc", "Content-Type": "text/csv" } });
      const [req] = await dest.waitFor(1);
      expect(req.headers["x-custom"]).toBe("abc");
      expect(req.headers["x-global"]).toBe("g");
      expect(req.headers["content-type"]).toBe("text/csv");
      expect(Object.keys(req.headers).filter((h) => h.startsWith("upstash-forward-"))).toEqual([]);

      const res = await sluice.api("POST", `/v2/publish/${dest.url("/raw")}`, {
        body: "y",
        headers: { "Upstash-Forward-X-Raw": "r", "Upstash-Forward-Authorization": "Bearer for-the-destination" },
      });
      expect(res.status).toBe(200);
      await dest.waitFor(2);
      const [raw] = dest.at("/raw");
      expect(raw.headers["x-raw"]).toBe("r");
      expect(raw.headers.authorization).toBe("Bearer for-the-destination");
      expect(raw.headers).not.toHaveProperty("upstash-forward-x-raw");
    });
  });

  it("Upstash-Header-Forward: true forwards every incoming header except Authorization, Host and upstash-*", async () => {
    await withReceiver(async (dest) => {
      const res = await sluice.api("POST", `/v2/publish/${dest.url("/all")}`, {
        body: "z",
        headers: {
          "Upstash-Header-Forward": "true",
          "Upstash-Retries": "0",
          "X-Webhook-Id": "wh-1",
          "X-Signature-256": "sha256=abc",
          "Content-Type": "application/x-www-form-urlencoded",
        },
      });
      expect(res.status).toBe(200);
      const [req] = await dest.waitFor(1);
      expect(req.headers["x-webhook-id"]).toBe("wh-1");
      expect(req.headers["x-signature-256"]).toBe("sha256=abc");
      expect(req.headers["content-type"]).toBe("application/x-www-form-urlencoded");
      expect(req.headers).not.toHaveProperty("authorization");
      expect(req.headers.host).toBe(`127.0.0.1:${dest.port}`);
      expect(req.headers).not.toHaveProperty("upstash-header-forward");
      expect(req.headers).not.toHaveProperty("upstash-retries");
      // Our own delivery headers still win over anything the publisher sent.
      expect(req.headers["user-agent"]).toBe("Upstash-QStash");
      expect(req.headers["upstash-retried"]).toBe("0");
    });
  });

  it("without Upstash-Header-Forward, plain incoming headers are not forwarded", async () => {
    await withReceiver(async (dest) => {
      await sluice.api("POST", `/v2/publish/${dest.url("/plain")}`, { body: "z", headers: { "X-Webhook-Id": "wh-2" } });
      const [req] = await dest.waitFor(1);
      expect(req.headers).not.toHaveProperty("x-webhook-id");
    });
  });
});

describe("configuration through query parameters", () => {
  it("?upstash-retries=0&upstash-delay=1s applies, is not forwarded, and the destination keeps its own query", async () => {
    await withReceiver(async (dest) => {
      dest.respond = () => ({ status: 500 });
      const client = sluice.client();
      const t0 = Date.now();
      const res = await sluice.api("POST", `/v2/publish/${dest.url("/q")}?keep=1&upstash-retries=0&upstash-delay=1s&also=two`, { body: "q" });
      expect(res.status).toBe(200);
      const { messageId, url } = (await res.json()) as { messageId: string; url: string };
      expect(url).toBe(dest.url("/q?keep=1&also=two"));
      const msg = await client.messages.get(messageId);
      expect(msg.maxRetries).toBe(0);
      expect(msg.notBefore! - msg.createdAt).toBe(1000);
      const [req] = await dest.waitFor(1, 3000);
      expect(req.path).toBe("/q?keep=1&also=two");
      expect(req.at - t0).toBeGreaterThanOrEqual(1000);
      const logs = await logsUntil(client, messageId, "FAILED");
      expect(logs.map((l) => l.state)).toEqual(["CREATED", "ACTIVE", "ERROR", "FAILED"]);
      await settle(200);
      expect(dest.requests).toHaveLength(1);
    });
  });

  it("webhook style: token, header forwarding and retries all as query parameters; none of them reaches the destination", async () => {
    await withReceiver(async (dest) => {
      const res = await sluice.api(
        "POST",
        `/v2/publish/${dest.url("/hook")}?id=7&qstash_token=${encodeURIComponent(sluice.token())}&upstash-header-forward=true&upstash-retries=0`,
        { token: null, body: "{}", headers: { "X-Provider-Signature": "t=1,v1=abc", "Content-Type": "application/json" } },
      );
      expect(res.status).toBe(200);
      const { messageId } = (await res.json()) as { messageId: string };
      const [req] = await dest.waitFor(1);
      expect(req.path).toBe("/hook?id=7");
      expect(req.headers["x-provider-signature"]).toBe("t=1,v1=abc");
      expect(req.headers["content-type"]).toBe("application/json");
      expect(req.headers).not.toHaveProperty("authorization");
      const logs = await finalLogs(sluice.client(), messageId);
      expect(logs[0].maxRetries).toBe(0);
    });
  });

  it("a header wins over the same setting given as a query parameter", async () => {
    await withReceiver(async (dest) => {
      const res = await sluice.api("POST", `/v2/publish/${dest.url("/hq")}?upstash-retries=0&upstash-delay=5s`, {
        body: "q",
        headers: { "Upstash-Retries": "2", "Upstash-Delay": "0s" },
      });
      const { messageId } = (await res.json()) as { messageId: string };
      // The header's 0s delay beats the query's 5s, and its 2 retries beat the query's 0.
      const [req] = await dest.waitFor(1, 1000);
      expect(req.path).toBe("/hq");
      const logs = await logsOf(sluice.client(), messageId);
      expect(logs[0].maxRetries).toBe(2);
    });
  });
});

describe("labels and redaction", () => {
  it("label: [a, b] shows as labels and label in messages.get and in logs", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const { messageId } = await client.publish({ url: dest.url("/l"), body: "x", label: ["a", "b"], delay: 1 });
      const msg = await client.messages.get(messageId);
      expect(msg.labels).toEqual(["a", "b"]);
      expect(msg.label).toBe("a");
      await dest.waitFor(1, 3000);
      const logs = await logsUntil(client, messageId, "DELIVERED");
      for (const l of logs) {
        expect(l.labels).toEqual(["a", "b"]);
        expect(l.label).toBe("a");
      }
      const byLabel = await client.logs({ filter: { label: "b" } });
      expect(byLabel.logs.some((l) => l.messageId === messageId)).toBe(true);
    });
  });

  it("redact: {body, header: [Authorization]} hides them in messages.get and logs, while the destination gets the real values", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const body = "card=4111111111111111";
      const auth = "Bearer very-secret";
      const { messageId } = await client.publish({
        url: dest.url("/r"),
        body,
        headers: { Authorization: auth, "X-Visible": "yes" },
        redact: { body: true, header: ["Authorization"] },
        delay: 1,
      });
      const msg = await client.messages.get(messageId);
      expect(msg.body).toBe(`REDACTED:${sha256(body)}`);
      expect(msg.header!["Authorization"]).toEqual([`REDACTED:${sha256(auth)}`]);
      expect(msg.header!["X-Visible"]).toEqual(["yes"]);

      const [req] = await dest.waitFor(1, 3000);
      expect(req.body.toString()).toBe(body);
      expect(req.headers.authorization).toBe(auth);
      expect(req.headers["x-visible"]).toBe("yes");

      const logs = await logsUntil(client, messageId, "DELIVERED");
      for (const l of logs) {
        expect(unb64(l.body)).toBe(`REDACTED:${sha256(body)}`);
        expect(l.header.Authorization).toEqual([`REDACTED:${sha256(auth)}`]);
        expect(l.header["X-Visible"]).toEqual(["yes"]);
        expect(JSON.stringify(l)).not.toContain("very-secret");
      }
    });
  });
});

describe("headers the HTTP client cannot send", () => {
  it("hop-by-hop headers given to forward (Keep-Alive, Upgrade, Expect, TE, Trailer) are dropped instead of failing every attempt", async () => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      const { messageId } = await client.publish({
        url: dest.url("/hop"),
        body: "x",
        retries: 0,
        headers: { "Keep-Alive": "timeout=5", Upgrade: "h2c", Expect: "100-continue", TE: "trailers", Trailer: "X-T", "X-Ok": "1" },
      });
      const logs = await finalLogs(sluice.client(), messageId);
      expect(logs.map((l) => l.state)).toEqual(["CREATED", "ACTIVE", "DELIVERED"]);
      const [req] = dest.requests;
      expect(req.headers["x-ok"]).toBe("1");
      for (const h of ["keep-alive", "upgrade", "expect", "te", "trailer"]) expect(req.headers).not.toHaveProperty(h);
    });
  });

  it.each([
    { name: "a header value with a line break", headers: { "Upstash-Forward-X-Bad": "a\r\nInjected: yes" } },
    { name: "a header name that is not an HTTP token", headers: { "Upstash-Forward-Bad Name": "v" } },
  ])("a batch item with $name is refused in its slot, not stored to fail forever", async ({ headers }) => {
    await withReceiver(async (dest) => {
      const res = await sluice.api("POST", "/v2/batch", {
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify([
          { destination: dest.url("/bad"), headers, body: "x" },
          { destination: dest.url("/good"), headers: {}, body: "y" },
        ]),
      });
      expect(res.status).toBe(200);
      const replies = (await res.json()) as Record<string, unknown>[];
      expect(replies[0]).toEqual({ error: expect.stringMatching(/header/i) });
      expect(replies[1].messageId).toEqual(expect.any(String));
      await dest.waitFor(1);
      await settle(200);
      expect(dest.requests.map((r) => r.path)).toEqual(["/good"]);
    });
  });
});

describe("method and signature", () => {
  it.each(["GET", "DELETE", "PATCH"] as const)("%s delivery: the signature's body claim matches the body actually delivered", async (method) => {
    await withReceiver(async (dest) => {
      const client = sluice.client();
      await client.publish({ url: dest.url("/m"), body: "with a body", method });
      const [req] = await dest.waitFor(1);
      expect(req.method).toBe(method);
      const receiver = new Receiver({ currentSigningKey: DEV_KEYS.current, nextSigningKey: DEV_KEYS.next });
      await expect(
        receiver.verify({ signature: req.headers["upstash-signature"] as string, body: req.body.toString(), url: dest.url("/m") }),
      ).resolves.toBe(true);
    });
  });
});
