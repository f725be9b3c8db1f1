import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

/** POST /v2/batch (SPEC §2.1): one reply per item in order, per-item errors, whole-request errors. */

let sluice: TestSluice;
let dest: TestReceiver;

beforeAll(async () => {
  quietSdkErrors();
  [sluice, dest] = await Promise.all([startSluice(), TestReceiver.start()]);
});
afterAll(async () => {
  await sluice?.close();
  await dest?.close();
});

type Reply = { messageId?: string; url?: string; deduplicated?: boolean; error?: string };

async function postBatch(body: string | unknown[]): Promise<Response> {
  return sluice.api("POST", "/v2/batch", {
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { "Content-Type": "application/json" },
  });
}

async function logCount(url: string): Promise<number> {
  return (await sluice.client().logs({ filter: { url } })).logs.length;
}

describe("batch", () => {
  it("batchJSON publishes every item and replies in order; each is delivered with its own settings", async () => {
    const client = sluice.client();
    const replies = await client.batchJSON([
      { url: dest.url("/batch/ok/0"), body: { n: 0 } },
      { url: dest.url("/batch/ok/1"), body: { n: 1 }, method: "PUT", headers: { "X-Item": "one" } },
      { url: dest.url("/batch/ok/2"), body: { n: 2 }, delay: 3600, label: "later" },
    ]);
    expect(replies).toHaveLength(3);
    const r = replies as Reply[];
    expect(r.map((x) => x.url)).toEqual([dest.url("/batch/ok/0"), dest.url("/batch/ok/1"), dest.url("/batch/ok/2")]);
    expect(new Set(r.map((x) => x.messageId)).size).toBe(3);
    for (const x of r) expect(x.messageId).toMatch(/^msg_/);

    await eventually(() => dest.at("/batch/ok/").length === 2);
    const first = dest.at("/batch/ok/0")[0];
    expect(JSON.parse(first.body.toString())).toEqual({ n: 0 });
    expect(first.headers["content-type"]).toBe("application/json");
    expect(first.headers["upstash-message-id"]).toBe(r[0].messageId);
    const second = dest.at("/batch/ok/1")[0];
    expect(second.method).toBe("PUT");
    expect(second.headers["x-item"]).toBe("one");
    expect(JSON.parse(second.body.toString())).toEqual({ n: 1 });

    const delayed = await client.messages.get(r[2].messageId!);
    expect(delayed.labels).toEqual(["later"]);
    expect(delayed.notBefore! - delayed.createdAt).toBe(3_600_000);
    expect(dest.at("/batch/ok/2")).toHaveLength(0);
    await client.messages.cancel(r[2].messageId!);
  });

  it("a bad item gets {error} in its slot while the others are published and delivered", async () => {
    const good = (i: number) => dest.url(`/batch/mixed/good${i}`);
    const res = await postBatch([
      { destination: good(0), body: "g0", headers: { "upstash-forward-x-n": "0" } },
      { destination: "not a url", body: "bad" },
      { destination: dest.url("/batch/mixed/bad-delay"), headers: { "Upstash-Delay": "soon" }, body: "bad" },
      { destination: good(1), body: "g1" },
      { destination: dest.url("/batch/mixed/bad-label"), headers: { "Upstash-Label": "bad label!" }, body: "bad" },
      { destination: "ftp://127.0.0.1/x", body: "bad" },
      { destination: dest.url("/batch/mixed/bad-header"), headers: { "Upstash-Retries": 3 }, body: "bad" },
      { destination: good(2), body: "g2" },
    ]);
    expect(res.status).toBe(200);
    const replies = (await res.json()) as Reply[];
    expect(replies).toHaveLength(8);
    const errorSlots = [1, 2, 4, 5, 6];
    for (const i of errorSlots) {
      expect(replies[i].messageId, `slot ${i}`).toBeUndefined();
      expect(replies[i].error, `slot ${i}`).toEqual(expect.any(String));
    }
    expect(replies[1].error).toMatch(/destination/);
    expect(replies[2].error).toMatch(/Upstash-Delay/);
    expect(replies[4].error).toMatch(/Upstash-Label/);
    expect(replies[5].error).toMatch(/destination/);
    expect(replies[6].error).toMatch(/Upstash-Retries/);
    expect([replies[0].url, replies[3].url, replies[7].url]).toEqual([good(0), good(1), good(2)]);

    await eventually(() => dest.at("/batch/mixed/good").length === 3);
    const byPath = Object.fromEntries(dest.at("/batch/mixed/good").map((q) => [q.path, q]));
    expect(byPath["/batch/mixed/good0"].body.toString()).toBe("g0");
    expect(byPath["/batch/mixed/good0"].headers["x-n"]).toBe("0");
    expect(byPath["/batch/mixed/good0"].headers["upstash-message-id"]).toBe(replies[0].messageId);
    expect(byPath["/batch/mixed/good2"].headers["upstash-message-id"]).toBe(replies[7].messageId);
    for (const path of ["/batch/mixed/bad-delay", "/batch/mixed/bad-label", "/batch/mixed/bad-header"]) {
      expect(await logCount(dest.url(path)), path).toBe(0);
    }
    expect(dest.at("/batch/mixed/bad")).toHaveLength(0);
  });

  it("the SDK's batch returns the per-item error instead of throwing", async () => {
    const replies = (await sluice.client().batch([
      { url: dest.url("/batch/sdk/good"), body: "fine" },
      { url: dest.url("/batch/sdk/bad"), body: "nope", headers: { "Upstash-Retries": "-1" } },
    ])) as Reply[];
    expect(replies[0].messageId).toMatch(/^msg_/);
    expect(replies[1].error).toMatch(/Upstash-Retries/);
    await eventually(() => dest.at("/batch/sdk/good").length === 1);
    expect(await logCount(dest.url("/batch/sdk/bad"))).toBe(0);
  });

  it("rejects a whole batch that is empty, not JSON, or not an array with 400 JSON, storing nothing", async () => {
    const cases: [string, string | unknown[], RegExp][] = [
      ["empty array", [], /at least one/],
      ["not JSON", "[{destination: nope", /JSON/],
      ["empty body", "", /JSON/],
      ["an object", JSON.stringify({ destination: dest.url("/batch/whole/obj"), body: "x" }), /array/],
      ["a string", JSON.stringify("hello"), /array/],
    ];
    for (const [what, body, message] of cases) {
      const res = await postBatch(body);
      expect(res.status, what).toBe(400);
      expect(res.headers.get("content-type"), what).toMatch(/application\/json/);
      const json = (await res.json()) as { error: string };
      expect(json.error, what).toMatch(message);
    }
    expect(await logCount(dest.url("/batch/whole/obj"))).toBe(0);
  });

  it("an item that is not an object gets its own error", async () => {
    const res = await postBatch([42, { destination: dest.url("/batch/obj/ok"), body: "x" }]);
    expect(res.status).toBe(200);
    const replies = (await res.json()) as Reply[];
    expect(replies[0].error).toMatch(/item 0/);
    expect(replies[1].messageId).toMatch(/^msg_/);
  });
});
