import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../src/config.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { RawHttpClient, within } from "../helpers/raw-http.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

/**
 * What one client can hold of the server: body bytes in memory across all requests (maxInflightBodyBytes),
 * and its socket (headersTimeout, requestTimeout, and no waiting for the body of a refused request).
 */

const KiB = 1024;
const MAX_BODY = 256 * KiB;
const BUDGET = 512 * KiB;
const BODY = 200 * KiB; // two fit the budget, a third does not

let sluice: TestSluice;
let dest: TestReceiver;

const bounds = (b: Partial<Config["requestBounds"]>): Config["requestBounds"] => ({
  maxInflightBodyBytes: BUDGET,
  headersTimeoutMs: 2_000,
  requestTimeoutMs: 5_000,
  keepAliveTimeoutMs: 5_000,
  ...b,
});

beforeAll(async () => {
  [sluice, dest] = await Promise.all([
    startSluice({ limits: { maxBodyBytes: MAX_BODY } as Config["limits"], requestBounds: bounds({}) }),
    TestReceiver.start(),
  ]);
});
afterAll(async () => {
  await sluice?.close();
  await dest?.close();
});

/** The request line and headers of an authorised publish to the receiver. */
function publishHead(path: string, headers: Record<string, string>, token = sluice.token()): string {
  const lines = [`POST /v2/publish/${dest.url(path)} HTTP/1.1`, "Host: 127.0.0.1", `Authorization: Bearer ${token}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return lines.join("\r\n") + "\r\n\r\n";
}

/** Opens a publish that declares `BODY` bytes and sends only the first KiB of them. */
async function heldPublish(path: string): Promise<RawHttpClient> {
  const c = await RawHttpClient.open(sluice.port);
  c.write(publishHead(path, { "Content-Length": String(BODY), "Content-Type": "application/octet-stream" }));
  c.write(Buffer.alloc(KiB, 1));
  return c;
}

const publish = (path: string, bytes: number) => sluice.api("POST", `/v2/publish/${dest.url(path)}`, { body: Buffer.alloc(bytes, 7) });

describe("in-flight body budget", () => {
  it("refuses a body that would not fit with 503 and Retry-After, serves the held ones, and returns to zero", async () => {
    const held = [await heldPublish("/held/0"), await heldPublish("/held/1")];
    await eventually(() => sluice.app.bodyBudget.inUse === 2 * BODY, 3_000);

    const refused = await publish("/refused", BODY);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect((await refused.json()).error).toMatch(/maxInflightBodyBytes.*524288 bytes/);
    // The refused body was never taken: the budget holds only the two bodies still arriving.
    expect(sluice.app.bodyBudget.inUse).toBe(2 * BODY);

    for (const c of held) c.write(Buffer.alloc(BODY - KiB, 1));
    for (const c of held) await eventually(() => c.status, 3_000);
    expect(held.map((c) => c.status)).toEqual([200, 200]);
    await eventually(() => sluice.app.bodyBudget.inUse === 0, 3_000);
    for (const c of held) c.destroy();

    await dest.waitFor(2);
    expect(dest.requests.map((r) => r.path).sort()).toEqual(["/held/0", "/held/1"]);
    expect(dest.requests.every((r) => r.body.length === BODY)).toBe(true);
    expect((await publish("/after", BODY)).status).toBe(200);
    await dest.waitFor(3);
  });

  it("counts a body without Content-Length as it arrives and refuses it once it would not fit", async () => {
    const held = [await heldPublish("/chunked-held/0"), await heldPublish("/chunked-held/1")];
    await eventually(() => sluice.app.bodyBudget.inUse === 2 * BODY, 3_000);

    const chunked = await RawHttpClient.open(sluice.port);
    chunked.write(publishHead("/chunked", { "Transfer-Encoding": "chunked", "Content-Type": "application/octet-stream" }));
    const chunk = Buffer.alloc(64 * KiB, 3);
    // 64 KiB chunks: the second one no longer fits next to the two held bodies (512 - 400 = 112 KiB free).
    for (let i = 0; i < 4 && chunked.status === undefined; i++) {
      chunked.write(`${chunk.length.toString(16)}\r\n`);
      chunked.write(chunk);
      chunked.write("\r\n");
      await new Promise((r) => setTimeout(r, 50));
    }
    await eventually(() => chunked.status, 3_000);
    expect(chunked.status).toBe(503);
    expect(chunked.header("retry-after")).toBe("1");
    await within(chunked.closed, 3_000, "closing the refused chunked request");
    await eventually(() => sluice.app.bodyBudget.inUse === 2 * BODY, 3_000);

    for (const c of held) c.destroy();
    await eventually(() => sluice.app.bodyBudget.inUse === 0, 3_000);
  });

  it("gives back the bytes of a client that goes away mid-body", async () => {
    const before = dest.requests.length;
    const c = await heldPublish("/aborted");
    await eventually(() => sluice.app.bodyBudget.inUse === BODY, 3_000);
    c.destroy();
    await eventually(() => sluice.app.bodyBudget.inUse === 0, 3_000);
    expect((await publish("/after-abort", KiB)).status).toBe(200);
    await dest.waitFor(before + 1);
    expect(dest.requests.slice(before).map((r) => r.path)).toEqual(["/after-abort"]);
  });

  it("stays up under many concurrent large bodies: each is published or refused with 503, then all is released", async () => {
    const statuses = await Promise.all(Array.from({ length: 12 }, (_, i) => publish(`/storm/${i}`, BODY).then((r) => r.status)));
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    await eventually(() => sluice.app.bodyBudget.inUse === 0, 3_000);
    expect((await publish("/after-storm", BODY)).status).toBe(200);
  });
});

describe("refused requests do not wait for their body", () => {
  it("answers a bad token with 401 and closes the socket while the big body is still coming", async () => {
    const c = await RawHttpClient.open(sluice.port);
    c.write(publishHead("/bad-token", { "Content-Length": String(50 * 1024 * KiB) }, "not-a-token"));
    c.write(Buffer.alloc(64 * KiB, 1));
    // Well under the 2 s headers and 5 s request timeouts: closed because it was refused, not because it timed out.
    await within(c.closed, 1_500, "closing the unauthorised request");
    expect(c.status).toBe(401);
    expect(c.header("connection")).toBe("close");
    expect(c.json().error).toBe("invalid token");
    expect(sluice.app.bodyBudget.inUse).toBe(0);
  });

  it("answers a body over maxBodyBytes with 413 before reading it and closes the socket", async () => {
    const c = await RawHttpClient.open(sluice.port);
    c.write(publishHead("/too-large", { "Content-Length": String(MAX_BODY + 1) }));
    await within(c.closed, 1_500, "closing the oversized request");
    expect(c.status).toBe(413);
    expect(c.json().error).toMatch(/maxBodyBytes/);
    expect(dest.requests.some((r) => r.path === "/too-large")).toBe(false);
  });
});

describe("request timeouts", () => {
  let slow: TestSluice;
  beforeAll(async () => {
    slow = await startSluice({ requestBounds: bounds({ headersTimeoutMs: 300, requestTimeoutMs: 800 }) });
  });
  afterAll(async () => slow?.close());

  it("cuts off a client that never finishes its headers with 408", async () => {
    const c = await RawHttpClient.open(slow.port);
    c.write("POST /v2/publish/http://127.0.0.1:1/x HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    const after = await within(c.closed, 3_000, "cutting off the unfinished headers");
    expect(after).toBeGreaterThanOrEqual(250);
    expect(c.status).toBe(408);
    expect(c.json().error).toMatch(/headersTimeout \(300ms\)/);
  });

  it("cuts off a client that trickles its body", async () => {
    const c = await RawHttpClient.open(slow.port);
    c.write(
      `POST /v2/publish/${dest.url("/trickle")} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${slow.token()}\r\nContent-Length: 1000\r\n\r\n`,
    );
    // One byte every 50 ms would take 50 s; bounded to 60 writes, well past the 800 ms request timeout.
    for (let i = 0; i < 60 && c.write("x"); i++) await new Promise((r) => setTimeout(r, 50));
    const after = await within(c.closed, 3_000, "cutting off the trickled body");
    expect(after).toBeLessThan(3_000);
    expect(c.status).toBe(408);
    expect(dest.requests.some((r) => r.path === "/trickle")).toBe(false);
    await eventually(() => slow.app.bodyBudget.inUse === 0, 3_000);
    const ok = await slow.api("GET", "/v2/queues");
    expect(ok.status).toBe(200);
  });
});
