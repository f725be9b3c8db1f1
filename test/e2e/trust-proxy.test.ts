import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { TestReceiver } from "../helpers/receiver.js";

/** Behind a reverse proxy, a message records the caller's address only when the proxy is trusted. */
let receiver: TestReceiver;
const servers: TestSluice[] = [];
let published = 0;
beforeAll(async () => {
  receiver = await TestReceiver.start();
});
afterAll(async () => {
  for (const s of servers) await s.close();
  await receiver.close();
});

async function callerIpOfPublish(sluice: TestSluice, path: string): Promise<{ stored: string; delivered: unknown }> {
  const res = await sluice.api("POST", `/v2/publish/${receiver.url(path)}`, { body: "x", headers: { "X-Forwarded-For": "203.0.113.7, 10.9.9.9" } });
  expect(res.status).toBe(200);
  const { messageId } = (await res.json()) as { messageId: string };
  const message = (await (await sluice.api("GET", `/v2/messages/${messageId}`)).json()) as { callerIp?: string; callerIP?: string };
  published++;
  const delivered = (await receiver.waitFor(published)).find((r) => r.path === path);
  return { stored: message.callerIp ?? message.callerIP ?? "", delivered: delivered?.headers["upstash-caller-ip"] };
}

describe("trustProxy", () => {
  it("records the X-Forwarded-For address when the request comes from a trusted proxy", async () => {
    const sluice = await startSluice({ trustProxy: ["127.0.0.1"] });
    servers.push(sluice);
    // The nearest untrusted hop is the caller: 10.9.9.9 is not a configured proxy.
    expect(await callerIpOfPublish(sluice, "/trusted")).toEqual({ stored: "10.9.9.9", delivered: "10.9.9.9" });
  });

  it("trusts every hop in a listed CIDR, so the client's own address is recorded", async () => {
    const sluice = await startSluice({ trustProxy: ["127.0.0.0/8", "10.0.0.0/8"] });
    servers.push(sluice);
    expect(await callerIpOfPublish(sluice, "/cidr")).toEqual({ stored: "203.0.113.7", delivered: "203.0.113.7" });
  });

  it("ignores X-Forwarded-For by default: anyone could claim any address", async () => {
    const sluice = await startSluice();
    servers.push(sluice);
    expect(await callerIpOfPublish(sluice, "/untrusted")).toEqual({ stored: "127.0.0.1", delivered: "127.0.0.1" });
  });
});
