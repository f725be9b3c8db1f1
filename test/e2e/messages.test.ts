import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

/** Management of single messages (SPEC §2.2): get, cancel one / many / by filter / all, legacy delete. */

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

/** The rejection of an SDK call, with its HTTP status and the parsed JSON error body. */
async function failure(p: Promise<unknown>): Promise<{ status: number; body: { error: unknown } }> {
  const err = (await p.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => e,
  )) as { status: number; message: string };
  return { status: err.status, body: JSON.parse(err.message) as { error: unknown } };
}

/** States of a message's log entries, oldest first. */
async function statesOf(s: TestSluice, messageId: string, user = 0): Promise<string[]> {
  const { logs } = await s.client(user).logs({ filter: { messageId } });
  return logs.map((l) => l.state as string).reverse();
}

describe("messages.get", () => {
  it("returns the stored message: canonical header names, body, retries, times, caller ip and labels", async () => {
    const client = sluice.client();
    const before = Date.now();
    const { messageId } = await client.publish({
      url: dest.url("/get/text?q=1"),
      body: "text body ü",
      method: "PUT",
      headers: { "content-type": "text/plain; charset=utf-8", "x-custom-thing": "v1" },
      delay: 3600,
      retries: 2,
      retryDelay: "1000 * (retried + 1)",
      label: ["alpha", "beta"],
    });
    const after = Date.now();
    const m = await client.messages.get(messageId);

    expect(m.messageId).toBe(messageId);
    expect(m.url).toBe(dest.url("/get/text?q=1"));
    expect(m.method).toBe("PUT");
    expect(m.header).toEqual({ "Content-Type": ["text/plain; charset=utf-8"], "X-Custom-Thing": ["v1"] });
    expect(m.body).toBe("text body ü");
    expect(m.bodyBase64).toBeUndefined();
    expect(m.maxRetries).toBe(2);
    expect(m.retryDelayExpression).toBe("1000 * (retried + 1)");
    expect(m.createdAt).toBeGreaterThanOrEqual(before);
    expect(m.createdAt).toBeLessThanOrEqual(after);
    expect(m.notBefore).toBe(m.createdAt + 3_600_000);
    expect(m.callerIp).toBe("127.0.0.1");
    expect((m as unknown as { callerIP: string }).callerIP).toBe("127.0.0.1");
    expect(m.label).toBe("alpha");
    expect(m.labels).toEqual(["alpha", "beta"]);
    expect(m.urlGroup).toBeUndefined();
    expect(m.topicName).toBeUndefined();
  });

  it("shows a binary body as bodyBase64 and no body", async () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x41]);
    const res = await sluice.api("POST", `/v2/publish/${dest.url("/get/binary")}`, {
      body: bytes,
      headers: { "Content-Type": "application/octet-stream", "Upstash-Delay": "1h" },
    });
    expect(res.status).toBe(200);
    const { messageId } = (await res.json()) as { messageId: string };
    const m = await sluice.client().messages.get(messageId);
    expect(m.body).toBeUndefined();
    expect(m.bodyBase64).toBe(bytes.toString("base64"));
    expect(m.header).toEqual({ "Content-Type": ["application/octet-stream"] });
    expect(m.maxRetries).toBe(3);
    expect(m.labels).toBeUndefined();
  });

  it("answers 404 JSON for an unknown id and once the message was delivered", async () => {
    const client = sluice.client();
    const unknown = await failure(client.messages.get("msg_doesnotexist"));
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toEqual(expect.stringContaining("msg_doesnotexist"));

    const { messageId } = await client.publish({ url: dest.url("/get/delivered"), body: "x" });
    await eventually(async () => (await statesOf(sluice, messageId)).includes("DELIVERED"));
    expect((await failure(client.messages.get(messageId))).status).toBe(404);
  });
});

describe("messages.cancel / delete", () => {
  it("cancel(id) returns {cancelled: 1}, logs CANCEL_REQUESTED and CANCELLED, and the message is never delivered", async () => {
    const client = sluice.client();
    const { messageId } = await client.publish({ url: dest.url("/cancel/one"), body: "never", delay: 1 });
    expect(await client.messages.cancel(messageId)).toEqual({ cancelled: 1 });
    expect((await failure(client.messages.get(messageId))).status).toBe(404);

    expect(await statesOf(sluice, messageId)).toEqual(["CREATED", "CANCEL_REQUESTED", "CANCELLED"]);
    // Both spellings select the cancelled entry; the SDK's State type spells it CANCELED.
    const sdk = await client.logs({ filter: { messageId, state: "CANCELED" } });
    expect(sdk.logs.map((l) => l.state as string)).toEqual(["CANCELLED"]);
    const raw = (await (await sluice.api("GET", `/v2/logs?messageId=${messageId}&state=CANCELLED`)).json()) as {
      logs: { state: string; messageId: string }[];
    };
    expect(raw.logs.map((l) => [l.messageId, l.state])).toEqual([[messageId, "CANCELLED"]]);
    const requested = await client.logs({ filter: { messageId, state: "CANCEL_REQUESTED" as "CANCELED" } });
    expect(requested.logs.map((l) => l.state as string)).toEqual(["CANCEL_REQUESTED"]);

    // A canary published after it with the same delay is due no earlier: once it arrived, the cancelled one would have.
    const canary = await client.publish({ url: dest.url("/cancel/canary"), body: "canary", delay: 1 });
    await eventually(() => dest.at("/cancel/canary").length === 1, 5000);
    expect(dest.at("/cancel/canary")[0].headers["upstash-message-id"]).toBe(canary.messageId);
    expect(dest.at("/cancel/one")).toHaveLength(0);
    expect(await statesOf(sluice, messageId)).toEqual(["CREATED", "CANCEL_REQUESTED", "CANCELLED"]);
  });

  it("the legacy messages.delete(id) cancels too", async () => {
    const client = sluice.client();
    const { messageId } = await client.publish({ url: dest.url("/cancel/legacy"), body: "x", delay: 3600 });
    await expect(client.messages.delete(messageId)).resolves.toBeUndefined();
    expect((await failure(client.messages.get(messageId))).status).toBe(404);
    expect(await statesOf(sluice, messageId)).toEqual(["CREATED", "CANCEL_REQUESTED", "CANCELLED"]);
  });

  it("cancelling an unknown, an already cancelled or a finished message is a 404 JSON error", async () => {
    const client = sluice.client();
    const unknown = await sluice.api("DELETE", "/v2/messages/msg_unknown123");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("content-type")).toMatch(/application\/json/);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/msg_unknown123/);
    expect((await failure(client.messages.cancel("msg_unknown123"))).status).toBe(404);

    const { messageId: delivered } = await client.publish({ url: dest.url("/cancel/finished"), body: "x" });
    await eventually(async () => (await statesOf(sluice, delivered)).includes("DELIVERED"));
    const finished = await failure(client.messages.cancel(delivered));
    expect(finished.status).toBe(404);
    expect(finished.body.error).toEqual(expect.stringContaining(delivered));
    expect(await statesOf(sluice, delivered)).toEqual(["CREATED", "ACTIVE", "DELIVERED"]);

    const { messageId: twice } = await client.publish({ url: dest.url("/cancel/twice"), body: "x", delay: 3600 });
    expect(await client.messages.cancel(twice)).toEqual({ cancelled: 1 });
    expect((await failure(client.messages.cancel(twice))).status).toBe(404);
    expect((await statesOf(sluice, twice)).filter((s) => s === "CANCELLED")).toHaveLength(1);
  });

  it("cancel([ids]) cancels exactly the listed unfinished messages and counts them", async () => {
    const client = sluice.client();
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await client.publish({ url: dest.url(`/cancel/many/${i}`), body: "x", delay: 3600 })).messageId);
    expect(await client.messages.cancel([ids[0], ids[2], "msg_notmine"])).toEqual({ cancelled: 2 });
    expect((await failure(client.messages.get(ids[0]))).status).toBe(404);
    expect((await failure(client.messages.get(ids[2]))).status).toBe(404);
    expect((await client.messages.get(ids[1])).messageId).toBe(ids[1]);
    expect(await client.messages.cancel([ids[0]])).toEqual({ cancelled: 0 });
    expect(await client.messages.cancel([])).toEqual({ cancelled: 0 });
    expect(await client.messages.cancel([ids[1]])).toEqual({ cancelled: 1 });
  });
});

describe("bulk cancel by filter and all", () => {
  let bulk: TestSluice;
  beforeAll(async () => {
    bulk = await startSluice();
  });
  afterAll(async () => {
    await bulk?.close();
  });

  async function publish(user: number, path: string, label?: string): Promise<string> {
    const res = await bulk.client(user).publish({ url: dest.url(path), body: "x", delay: 3600, ...(label ? { label } : {}) });
    return res.messageId;
  }

  it("filters by label and url (several values too), all:true cancels the rest, and other users keep theirs", async () => {
    const a = bulk.client(0);
    const b = bulk.client(1);
    const redA = [await publish(0, "/bulk/a", "red"), await publish(0, "/bulk/a", "red")];
    const blueB = [await publish(0, "/bulk/b", "blue"), await publish(0, "/bulk/b", "blue")];
    const greenC = [await publish(0, "/bulk/c", "green"), await publish(0, "/bulk/d", "green")];
    const plain = await publish(0, "/bulk/e");
    const otherUser = [await publish(1, "/bulk/a", "red"), await publish(1, "/bulk/b", "blue"), await publish(1, "/bulk/e")];

    expect(await a.messages.cancel({ filter: { label: "red" } })).toEqual({ cancelled: 2 });
    for (const id of redA) expect((await failure(a.messages.get(id))).status).toBe(404);
    expect(await a.messages.cancel({ filter: { label: "red" } })).toEqual({ cancelled: 0 });

    expect(await a.messages.cancel({ filter: { url: dest.url("/bulk/b") } })).toEqual({ cancelled: 2 });
    for (const id of blueB) expect((await failure(a.messages.get(id))).status).toBe(404);

    // Several values of one filter match any of them; separate filters are combined with AND.
    expect(await a.messages.cancel({ filter: { url: dest.url("/bulk/c"), label: "blue" } })).toEqual({ cancelled: 0 });
    expect(await a.messages.cancel({ filter: { url: [dest.url("/bulk/c"), dest.url("/bulk/d")] } })).toEqual({ cancelled: 2 });
    for (const id of greenC) expect((await failure(a.messages.get(id))).status).toBe(404);

    expect(await a.messages.get(plain)).toMatchObject({ messageId: plain });
    // A filter sent without a value must not widen a bulk cancel to everything.
    for (const query of ["label=", "messageIds=", "url=&label=", "messageIds[]="]) {
      const res = await bulk.api("DELETE", `/v2/messages?${query}`);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { error: string }).error, query).toMatch(/no value/);
    }
    expect(await a.messages.get(plain)).toMatchObject({ messageId: plain });
    expect(await a.messages.cancel({ all: true })).toEqual({ cancelled: 1 });
    expect((await failure(a.messages.get(plain))).status).toBe(404);
    expect(await a.messages.cancel({ all: true })).toEqual({ cancelled: 0 });

    // None of user 0's bulk cancels touched user 1's messages, even those matching the same filters.
    for (const id of otherUser) expect((await b.messages.get(id)).messageId).toBe(id);
    expect(await b.messages.cancel({ filter: { label: ["red", "blue"] } })).toEqual({ cancelled: 2 });
    expect(await b.messages.cancel({ all: true })).toEqual({ cancelled: 1 });
    const states = await statesOf(bulk, otherUser[2], 1);
    expect(states).toEqual(["CREATED", "CANCEL_REQUESTED", "CANCELLED"]);
  });

  it("a bulk cancel with comma-joined values over raw HTTP counts every match", async () => {
    const ids = [await publish(2, "/bulk/x", "one"), await publish(2, "/bulk/y", "two"), await publish(2, "/bulk/z", "three")];
    const res = await bulk.api("DELETE", "/v2/messages?label=one,two", { token: bulk.token(2) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ cancelled: 2 });
    expect((await bulk.client(2).messages.get(ids[2])).messageId).toBe(ids[2]);
    const byIds = await bulk.api("DELETE", `/v2/messages?messageIds=${ids[2]},${ids[0]}`, { token: bulk.token(2) });
    expect(await byIds.json()).toEqual({ cancelled: 1 });
  });
});
