import { Client, Receiver } from "@upstash/qstash";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killHard, spawnSluice, type SluiceProcess } from "../helpers/process.js";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver, type Received } from "../helpers/receiver.js";
import { DEV_KEYS, DEV_TOKEN, startSluice, type TestSluice } from "../helpers/sluice.js";
import { finalLogs, settle, unb64, type LogEntry } from "./delivery-support.js";

/**
 * URL groups (SPEC §2.5, historic name "topics"): management through the SDK and raw HTTP, fan-out of publish /
 * publishJSON / batch / enqueue (§2.1, DECISIONS #1: the reply is an array), `Upstash-Topic-Name` on deliveries
 * (§3.1), topicName/endpointName in messages, logs, DLQ and callbacks (§3.4), per-endpoint dedup and retries,
 * per-user isolation, bad input, and persistence across a kill -9.
 */

let sluice: TestSluice;
let dest: TestReceiver;
let client: Client;
const signatures = new Receiver({ currentSigningKey: DEV_KEYS.current, nextSigningKey: DEV_KEYS.next });

beforeAll(async () => {
  quietSdkErrors();
  [sluice, dest] = await Promise.all([startSluice(), TestReceiver.start()]);
  client = sluice.client();
  dest.respond = (req) => (req.path.includes("/fail") ? { status: 500, body: "endpoint down" } : { status: 200, body: "ok" });
});
afterAll(async () => {
  await sluice?.close();
  await dest?.close();
});

type RawGroup = { name: string; createdAt: number; updatedAt: number; endpoints: { name?: string; url: string }[] };

/** Asserts a JSON error reply with `status` and returns its message. */
async function jsonError(res: Response, status: number): Promise<string> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/application\/json/);
  const body = (await res.json()) as { error?: unknown };
  expect(typeof body.error).toBe("string");
  return body.error as string;
}

/** The status of an SDK call that is expected to fail. */
async function sdkStatus(p: Promise<unknown>): Promise<number | undefined> {
  const err = (await p.then(
    () => ({ status: undefined }),
    (e: { status?: number }) => e,
  )) as { status?: number };
  return err.status;
}

const header = (r: Received, name: string): string | undefined => r.headers[name.toLowerCase()] as string | undefined;

describe("url group management", () => {
  it("addEndpoints creates the group with named and unnamed endpoints; get and list show it", async () => {
    const before = Date.now();
    await client.urlGroups.addEndpoints({
      name: "mgmt-create",
      endpoints: [{ name: "first", url: dest.url("/mgmt/a") }, { url: dest.url("/mgmt/b") }],
    });
    const g = await client.urlGroups.get("mgmt-create");
    expect(g).toEqual({
      name: "mgmt-create",
      createdAt: expect.any(Number),
      updatedAt: expect.any(Number),
      endpoints: [{ name: "first", url: dest.url("/mgmt/a") }, { url: dest.url("/mgmt/b") }],
    });
    // Timestamps are unix ms.
    expect(g.createdAt).toBeGreaterThanOrEqual(before - 1000);
    expect(g.createdAt).toBeLessThanOrEqual(Date.now() + 1000);
    expect(g.updatedAt).toBe(g.createdAt);
    // An unnamed endpoint has no name key at all (not null, not "").
    expect(Object.keys(g.endpoints[1])).toEqual(["url"]);

    const listed = await client.urlGroups.list();
    expect(Array.isArray(listed)).toBe(true);
    expect(listed.find((x) => x.name === "mgmt-create")).toEqual(g);
  });

  it("adding again merges: existing endpoints are kept once, new ones appended, createdAt kept, updatedAt moves", async () => {
    await client.urlGroups.addEndpoints({ name: "mgmt-merge", endpoints: [{ name: "a", url: dest.url("/merge/a") }, { url: dest.url("/merge/b") }] });
    const first = await client.urlGroups.get("mgmt-merge");
    await settle(5);
    await client.urlGroups.addEndpoints({
      name: "mgmt-merge",
      endpoints: [{ name: "a", url: dest.url("/merge/a") }, { url: dest.url("/merge/b") }, { name: "c", url: dest.url("/merge/c") }],
    });
    const merged = await client.urlGroups.get("mgmt-merge");
    expect(merged.endpoints).toEqual([
      { name: "a", url: dest.url("/merge/a") },
      { url: dest.url("/merge/b") },
      { name: "c", url: dest.url("/merge/c") },
    ]);
    expect(merged.createdAt).toBe(first.createdAt);
    expect(merged.updatedAt).toBeGreaterThan(first.updatedAt);
    // Adding exactly what is there changes nothing in the list.
    await client.urlGroups.addEndpoints({ name: "mgmt-merge", endpoints: [{ url: dest.url("/merge/b") }] });
    expect((await client.urlGroups.get("mgmt-merge")).endpoints).toHaveLength(3);
  });

  it("removeEndpoints by name and by url; removing the last endpoint removes the group", async () => {
    await client.urlGroups.addEndpoints({
      name: "mgmt-remove",
      endpoints: [{ name: "x", url: dest.url("/rm/x") }, { name: "y", url: dest.url("/rm/y") }, { url: dest.url("/rm/z") }],
    });
    await client.urlGroups.removeEndpoints({ name: "mgmt-remove", endpoints: [{ name: "x" }] });
    expect((await client.urlGroups.get("mgmt-remove")).endpoints).toEqual([{ name: "y", url: dest.url("/rm/y") }, { url: dest.url("/rm/z") }]);
    await client.urlGroups.removeEndpoints({ name: "mgmt-remove", endpoints: [{ url: dest.url("/rm/z") }] });
    expect((await client.urlGroups.get("mgmt-remove")).endpoints).toEqual([{ name: "y", url: dest.url("/rm/y") }]);

    // The raw reply of a removal that leaves endpoints is JSON too.
    await client.urlGroups.addEndpoints({ name: "mgmt-remove", endpoints: [{ url: dest.url("/rm/w") }] });
    const raw = await sluice.api("DELETE", "/v2/topics/mgmt-remove/endpoints", {
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ endpoints: [{ url: dest.url("/rm/w") }] }),
    });
    expect(raw.status).toBe(200);
    expect(((await raw.json()) as RawGroup).endpoints).toEqual([{ name: "y", url: dest.url("/rm/y") }]);

    await client.urlGroups.removeEndpoints({ name: "mgmt-remove", endpoints: [{ name: "y" }] });
    expect(await sdkStatus(client.urlGroups.get("mgmt-remove"))).toBe(404);
    expect((await client.urlGroups.list()).map((g) => g.name)).not.toContain("mgmt-remove");
    // Publishing to it now is a 404 too.
    await jsonError(await sluice.api("POST", "/v2/publish/mgmt-remove", { body: "x" }), 404);
  });

  it("delete removes the group", async () => {
    await client.urlGroups.addEndpoints({ name: "mgmt-delete", endpoints: [{ url: dest.url("/del/a") }, { url: dest.url("/del/b") }] });
    const pending = await client.publish({ urlGroup: "mgmt-delete", body: "later", delay: 3600 });
    await client.urlGroups.delete("mgmt-delete");
    // Messages already published to the group are not removed with it.
    for (const p of pending) expect((await client.messages.get(p.messageId)).urlGroup).toBe("mgmt-delete");
    await client.messages.cancel(pending.map((p) => p.messageId));
    expect(await sdkStatus(client.urlGroups.get("mgmt-delete"))).toBe(404);
    expect((await client.urlGroups.list()).map((g) => g.name)).not.toContain("mgmt-delete");
    // Deleting twice is a 404; re-creating afterwards starts fresh.
    expect(await sdkStatus(client.urlGroups.delete("mgmt-delete"))).toBe(404);
    await client.urlGroups.addEndpoints({ name: "mgmt-delete", endpoints: [{ url: dest.url("/del/c") }] });
    expect((await client.urlGroups.get("mgmt-delete")).endpoints).toEqual([{ url: dest.url("/del/c") }]);
  });

  it("concurrent changes to one group are all applied: none undoes another", async () => {
    await client.urlGroups.addEndpoints({ name: "mgmt-race", endpoints: [{ url: dest.url("/race/0") }] });
    // Sent together, each round removes the previous endpoint and adds the next one: a change that started from
    // the state before the other one would bring the removed endpoint back or drop the added one.
    for (let i = 1; i <= 5; i++) {
      await Promise.all([
        client.urlGroups.addEndpoints({ name: "mgmt-race", endpoints: [{ url: dest.url(`/race/${i}`) }] }),
        client.urlGroups.removeEndpoints({ name: "mgmt-race", endpoints: [{ url: dest.url(`/race/${i - 1}`) }] }),
        client.urlGroups.addEndpoints({ name: "mgmt-race", endpoints: [{ name: `n${i}`, url: dest.url(`/race/named/${i}`) }] }),
      ]);
    }
    const urls = (await client.urlGroups.get("mgmt-race")).endpoints.map((e) => e.url);
    expect([...urls].sort()).toEqual([...[1, 2, 3, 4, 5].map((i) => dest.url(`/race/named/${i}`)), dest.url("/race/5")].sort());
  });

  it("an endpoint name already used for another URL in the group is a 400; the group is unchanged", async () => {
    await client.urlGroups.addEndpoints({ name: "mgmt-names", endpoints: [{ name: "dup", url: dest.url("/names/1") }] });
    const res = await sluice.api("POST", "/v2/topics/mgmt-names/endpoints", {
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ endpoints: [{ url: dest.url("/names/0") }, { name: "dup", url: dest.url("/names/2") }] }),
    });
    expect(await jsonError(res, 400)).toMatch(/dup/);
    expect((await client.urlGroups.get("mgmt-names")).endpoints).toEqual([{ name: "dup", url: dest.url("/names/1") }]);
  });

  it("an unknown group: get, delete and removeEndpoints are 404 JSON errors", async () => {
    expect(await jsonError(await sluice.api("GET", "/v2/topics/no-such-group"), 404)).toMatch(/no-such-group/);
    await jsonError(await sluice.api("DELETE", "/v2/topics/no-such-group"), 404);
    await jsonError(
      await sluice.api("DELETE", "/v2/topics/no-such-group/endpoints", {
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ endpoints: [{ name: "x" }] }),
      }),
      404,
    );
    expect(await sdkStatus(client.urlGroups.get("no-such-group"))).toBe(404);
    expect(await sdkStatus(client.urlGroups.delete("no-such-group"))).toBe(404);
    expect(await sdkStatus(client.urlGroups.removeEndpoints({ name: "no-such-group", endpoints: [{ url: dest.url("/x") }] }))).toBe(404);
  });
});

describe("fan-out", () => {
  it("publish replies with an array, one distinct id per endpoint; each endpoint gets its own signed delivery", async () => {
    const endpoints = [
      { name: "alpha", url: dest.url("/fan/alpha?k=1") },
      { name: "beta", url: dest.url("/fan/beta") },
      { url: dest.url("/fan/gamma") },
    ];
    await client.urlGroups.addEndpoints({ name: "fan", endpoints });
    const res = await client.publish({ urlGroup: "fan", body: "to everyone", headers: { "X-Extra": "e" } });
    expect(Array.isArray(res)).toBe(true);
    expect(res).toHaveLength(3);
    expect(res.map((r) => r.url)).toEqual(endpoints.map((e) => e.url));
    for (const r of res) {
      expect(r.messageId).toMatch(/^msg_/);
      expect(r.deduplicated).toBeUndefined();
    }
    expect(new Set(res.map((r) => r.messageId)).size).toBe(3);

    await eventually(() => dest.at("/fan/").length >= 3);
    await settle(150);
    const got = dest.at("/fan/");
    expect(got).toHaveLength(3);
    for (const [i, e] of endpoints.entries()) {
      const path = new URL(e.url).pathname;
      const [req] = got.filter((r) => r.path.split("?")[0] === path);
      expect(req, path).toBeDefined();
      expect(req.path).toBe(path + new URL(e.url).search);
      expect(header(req, "Upstash-Topic-Name")).toBe("fan");
      expect(header(req, "Upstash-Message-Id")).toBe(res[i].messageId);
      expect(header(req, "X-Extra")).toBe("e");
      expect(req.body.toString()).toBe("to everyone");
      await expect(signatures.verify({ signature: header(req, "Upstash-Signature")!, body: "to everyone", url: e.url })).resolves.toBe(true);
    }
  });

  it("publishJSON to a group fans out JSON", async () => {
    await client.urlGroups.addEndpoints({ name: "fan-json", endpoints: [{ url: dest.url("/fanjson/1") }, { url: dest.url("/fanjson/2") }] });
    const res = await client.publishJSON({ urlGroup: "fan-json", body: { hello: "group" } });
    expect(res).toHaveLength(2);
    const got = await eventually(() => (dest.at("/fanjson/").length === 2 ? dest.at("/fanjson/") : undefined));
    for (const req of got) {
      expect(JSON.parse(req.body.toString())).toEqual({ hello: "group" });
      expect(header(req, "content-type")).toBe("application/json");
      expect(header(req, "Upstash-Topic-Name")).toBe("fan-json");
    }
    expect(got.map((r) => header(r, "Upstash-Message-Id")).sort()).toEqual(res.map((r) => r.messageId).sort());
  });

  it("messages.get shows urlGroup/topicName and endpointName for each endpoint message", async () => {
    await client.urlGroups.addEndpoints({ name: "fan-pending", endpoints: [{ name: "named", url: dest.url("/pending/a") }, { url: dest.url("/pending/b") }] });
    const res = await client.publish({ urlGroup: "fan-pending", body: "later", delay: 3600 });
    const [a, b] = await Promise.all(res.map((r) => client.messages.get(r.messageId)));
    expect(a).toMatchObject({ messageId: res[0].messageId, url: dest.url("/pending/a"), urlGroup: "fan-pending", topicName: "fan-pending", endpointName: "named" });
    expect(b).toMatchObject({ messageId: res[1].messageId, url: dest.url("/pending/b"), urlGroup: "fan-pending", topicName: "fan-pending" });
    expect(b.endpointName).toBeUndefined();
    const raw = (await (await sluice.api("GET", `/v2/messages/${res[0].messageId}`)).json()) as Record<string, unknown>;
    expect(raw.topicName).toBe("fan-pending");
    expect(raw.endpointName).toBe("named");
    // Cancelling one endpoint message leaves the other.
    await client.messages.delete(res[0].messageId);
    expect(await sdkStatus(client.messages.get(res[0].messageId))).toBe(404);
    expect((await client.messages.get(res[1].messageId)).messageId).toBe(res[1].messageId);
    await client.messages.delete(res[1].messageId);
  });

  it("logs carry topicName and endpointName and can be filtered by urlGroup / topicName", async () => {
    await client.urlGroups.addEndpoints({ name: "fan-logs", endpoints: [{ name: "one", url: dest.url("/flogs/1") }, { name: "two", url: dest.url("/flogs/2") }] });
    const res = await client.publish({ urlGroup: "fan-logs", body: "log me" });
    for (const [i, r] of res.entries()) {
      const logs = await finalLogs(client, r.messageId);
      expect(logs.map((l) => l.state)).toEqual(["CREATED", "ACTIVE", "DELIVERED"]);
      for (const l of logs) {
        expect(l).toMatchObject({ topicName: "fan-logs", urlGroup: "fan-logs", endpointName: i === 0 ? "one" : "two", url: res[i].url });
      }
    }
    const { logs } = await client.logs({ filter: { urlGroup: "fan-logs" } });
    expect(new Set(logs.map((l) => l.messageId))).toEqual(new Set(res.map((r) => r.messageId)));
    expect(logs).toHaveLength(6);
    const raw = (await (await sluice.api("GET", "/v2/logs?topicName=fan-logs&state=DELIVERED")).json()) as { logs: LogEntry[] };
    expect(raw.logs.map((l) => l.endpointName).sort()).toEqual(["one", "two"]);
    const byEndpoint = (await (await sluice.api("GET", "/v2/events?topicName=fan-logs&endpointName=two&state=DELIVERED")).json()) as { events: LogEntry[] };
    expect(byEndpoint.events.map((l) => l.messageId)).toEqual([res[1].messageId]);
  });

  it("callbacks of each endpoint message carry topicName and endpointName", async () => {
    await client.urlGroups.addEndpoints({ name: "fan-cb", endpoints: [{ name: "n1", url: dest.url("/fcb/1") }, { url: dest.url("/fcb/2") }] });
    const res = await client.publish({ urlGroup: "fan-cb", body: "with callback", callback: dest.url("/fcb-callback") });
    const cbs = await eventually(() => (dest.at("/fcb-callback").length >= 2 ? dest.at("/fcb-callback") : undefined));
    await settle(100);
    expect(dest.at("/fcb-callback")).toHaveLength(2);
    const bodies = cbs.map((r) => JSON.parse(r.body.toString()) as Record<string, unknown>);
    const bySource = new Map(bodies.map((b) => [b.sourceMessageId, b]));
    const first = bySource.get(res[0].messageId)!;
    const second = bySource.get(res[1].messageId)!;
    expect(first).toMatchObject({ status: 200, topicName: "fan-cb", endpointName: "n1", url: dest.url("/fcb/1") });
    expect(unb64(first.sourceBody as string)).toBe("with callback");
    expect(second).toMatchObject({ status: 200, topicName: "fan-cb", url: dest.url("/fcb/2") });
    expect(second.endpointName).toBeUndefined();
  });

  it("a failing endpoint retries on its own and ends in the DLQ with topicName/endpointName; the others are delivered once", async () => {
    await client.urlGroups.addEndpoints({
      name: "fan-fail",
      endpoints: [{ name: "good", url: dest.url("/ffail/good") }, { name: "bad", url: dest.url("/ffail/fail") }],
    });
    const res = await client.publish({ urlGroup: "fan-fail", body: "some fail", retries: 2, retryDelay: "10" });
    const [good, bad] = res;
    const badLogs = await finalLogs(client, bad.messageId);
    expect(badLogs.at(-1)!.state).toBe("FAILED");
    expect(badLogs.at(-1)).toMatchObject({ topicName: "fan-fail", endpointName: "bad" });
    const attempts = dest.at("/ffail/fail");
    expect(attempts.map((r) => header(r, "Upstash-Retried"))).toEqual(["0", "1", "2"]);
    for (const r of attempts) {
      expect(header(r, "Upstash-Message-Id")).toBe(bad.messageId);
      expect(header(r, "Upstash-Topic-Name")).toBe("fan-fail");
    }
    expect((await finalLogs(client, good.messageId)).at(-1)!.state).toBe("DELIVERED");
    expect(dest.at("/ffail/good")).toHaveLength(1);
    expect(header(dest.at("/ffail/good")[0], "Upstash-Message-Id")).toBe(good.messageId);

    const { messages } = await eventually(async () => {
      const r = await client.dlq.listMessages({ filter: { urlGroup: "fan-fail" } });
      return r.messages.length ? r : undefined;
    });
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ messageId: bad.messageId, topicName: "fan-fail", urlGroup: "fan-fail", url: dest.url("/ffail/fail"), responseStatus: 500 });
    expect((messages[0] as unknown as Record<string, unknown>).endpointName).toBe("bad");
  });

  it("deduplication applies per endpoint message: the second publish is all deduplicated with the first ids", async () => {
    await client.urlGroups.addEndpoints({ name: "fan-dedup", endpoints: [{ url: dest.url("/fdedup/1") }, { url: dest.url("/fdedup/2") }] });
    const first = await client.publish({ urlGroup: "fan-dedup", body: "once", deduplicationId: "group-dedup-1" });
    const second = await client.publish({ urlGroup: "fan-dedup", body: "once", deduplicationId: "group-dedup-1" });
    expect(first.every((r) => !r.deduplicated)).toBe(true);
    expect(second).toEqual(first.map((r) => ({ messageId: r.messageId, url: r.url, deduplicated: true })));
    // A raw duplicate publish is a 2xx array as well.
    const raw = await sluice.api("POST", "/v2/publish/fan-dedup", { body: "once", headers: { "Upstash-Deduplication-Id": "group-dedup-1" } });
    expect(raw.ok).toBe(true);
    expect(await raw.json()).toEqual(second);

    await eventually(() => dest.at("/fdedup/").length >= 2);
    await settle(150);
    expect(dest.at("/fdedup/1")).toHaveLength(1);
    expect(dest.at("/fdedup/2")).toHaveLength(1);
  });

  it("two endpoints sharing a URL are separate destinations for deduplication, and neither collides with a direct publish", async () => {
    const url = dest.url("/fdedup-shared");
    await client.urlGroups.addEndpoints({ name: "fan-shared", endpoints: [{ url, name: "one" }, { url, name: "two" }, { url }] });
    const direct = await client.publish({ url, body: "d", deduplicationId: "shared-1" });
    const replies = await client.publish({ urlGroup: "fan-shared", body: "d", deduplicationId: "shared-1" });
    expect(replies).toHaveLength(3);
    expect(replies.every((r) => !r.deduplicated)).toBe(true);
    expect(new Set([direct.messageId, ...replies.map((r) => r.messageId)]).size).toBe(4);
    await eventually(() => dest.at("/fdedup-shared").length >= 4);
    await settle(150);
    expect(dest.at("/fdedup-shared")).toHaveLength(4);
  });

  it("batchJSON: a urlGroup item's slot is an array, a url item's slot an object", async () => {
    await client.urlGroups.addEndpoints({ name: "fan-batch", endpoints: [{ name: "b1", url: dest.url("/fbatch/1") }, { url: dest.url("/fbatch/2") }] });
    const res = await client.batchJSON([
      { urlGroup: "fan-batch", body: { n: 1 } },
      { url: dest.url("/fbatch/single"), body: { n: 2 } },
    ]);
    expect(res).toHaveLength(2);
    const groupSlot = res[0] as unknown as { messageId: string; url: string }[];
    expect(Array.isArray(groupSlot)).toBe(true);
    expect(groupSlot.map((r) => r.url)).toEqual([dest.url("/fbatch/1"), dest.url("/fbatch/2")]);
    expect(new Set(groupSlot.map((r) => r.messageId)).size).toBe(2);
    expect(Array.isArray(res[1])).toBe(false);
    expect(res[1]).toMatchObject({ messageId: expect.stringMatching(/^msg_/), url: dest.url("/fbatch/single") });

    await eventually(() => dest.at("/fbatch/").length >= 3);
    for (const [i, r] of groupSlot.entries()) {
      const [req] = dest.at(`/fbatch/${i + 1}`);
      expect(header(req, "Upstash-Message-Id")).toBe(r.messageId);
      expect(header(req, "Upstash-Topic-Name")).toBe("fan-batch");
      expect(JSON.parse(req.body.toString())).toEqual({ n: 1 });
    }
    expect(header(dest.at("/fbatch/single")[0], "Upstash-Topic-Name")).toBeUndefined();

    // A group that does not exist fails only its own slot.
    const mixed = await sluice.api("POST", "/v2/batch", {
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify([{ destination: "no-such-group-b" }, { destination: "fan-batch", body: "b" }]),
    });
    expect(mixed.status).toBe(200);
    const slots = (await mixed.json()) as unknown[];
    expect(slots[0]).toEqual({ error: expect.stringMatching(/no-such-group-b/) });
    expect(Array.isArray(slots[1]) && slots[1].length).toBe(2);
  });

  it("enqueue with a group destination fans out into the queue", async () => {
    await client.urlGroups.addEndpoints({ name: "fan-queue", endpoints: [{ name: "q1", url: dest.url("/fqueue/1") }, { url: dest.url("/fqueue/2") }] });
    await client.queue({ queueName: "group-queue" }).upsert({ parallelism: 1 });
    const res = await client.queue({ queueName: "group-queue" }).enqueueJSON({ urlGroup: "fan-queue", body: { q: true } });
    expect(Array.isArray(res)).toBe(true);
    expect(res).toHaveLength(2);
    expect(new Set(res.map((r) => r.messageId)).size).toBe(2);
    await eventually(() => dest.at("/fqueue/").length >= 2);
    for (const [i, r] of res.entries()) {
      const [req] = dest.at(`/fqueue/${i + 1}`);
      expect(header(req, "Upstash-Message-Id")).toBe(r.messageId);
      expect(header(req, "Upstash-Topic-Name")).toBe("fan-queue");
      const logs = await finalLogs(client, r.messageId);
      expect(logs.at(-1)).toMatchObject({ state: "DELIVERED", queueName: "group-queue", topicName: "fan-queue" });
    }
    const { logs } = await client.logs({ filter: { queueName: "group-queue", state: "DELIVERED" } });
    expect(logs.map((l) => l.messageId).sort()).toEqual(res.map((r) => r.messageId).sort());
  });
});

describe("isolation", () => {
  it("another user can neither see nor publish to a group by its name, and may own a group of the same name", async () => {
    await client.urlGroups.addEndpoints({ name: "iso-group", endpoints: [{ url: dest.url("/iso/owner") }] });
    const other = sluice.client(1);
    expect(await sdkStatus(other.urlGroups.get("iso-group"))).toBe(404);
    expect((await other.urlGroups.list()).map((g) => g.name)).not.toContain("iso-group");
    expect(await sdkStatus(other.publish({ urlGroup: "iso-group", body: "sneaky" }))).toBe(404);
    await jsonError(await sluice.api("POST", "/v2/publish/iso-group", { body: "sneaky", token: sluice.token(1) }), 404);
    await jsonError(await sluice.api("GET", "/v2/topics/iso-group", { token: sluice.token(1) }), 404);
    await jsonError(await sluice.api("DELETE", "/v2/topics/iso-group", { token: sluice.token(1) }), 404);
    expect(await sdkStatus(other.urlGroups.removeEndpoints({ name: "iso-group", endpoints: [{ url: dest.url("/iso/owner") }] }))).toBe(404);

    // Same name, separate group.
    await other.urlGroups.addEndpoints({ name: "iso-group", endpoints: [{ url: dest.url("/iso/other") }] });
    expect((await other.urlGroups.get("iso-group")).endpoints).toEqual([{ url: dest.url("/iso/other") }]);
    expect((await client.urlGroups.get("iso-group")).endpoints).toEqual([{ url: dest.url("/iso/owner") }]);
    const mine = await client.publish({ urlGroup: "iso-group", body: "owner" });
    const theirs = await other.publish({ urlGroup: "iso-group", body: "other" });
    await eventually(() => dest.at("/iso/").length >= 2);
    await settle(100);
    expect(dest.at("/iso/owner").map((r) => header(r, "Upstash-Message-Id"))).toEqual([mine[0].messageId]);
    expect(dest.at("/iso/other").map((r) => header(r, "Upstash-Message-Id"))).toEqual([theirs[0].messageId]);
    // Logs of one user do not show the other's group messages.
    expect((await other.logs({ filter: { messageId: mine[0].messageId } })).logs).toEqual([]);
    await other.urlGroups.delete("iso-group");
    expect((await client.urlGroups.get("iso-group")).name).toBe("iso-group");
  });
});

describe("bad input", () => {
  const post = (name: string, body: string, contentType = "application/json"): Promise<Response> =>
    sluice.api("POST", `/v2/topics/${name}/endpoints`, { headers: { "Content-Type": contentType }, body });
  const remove = (name: string, body: string): Promise<Response> =>
    sluice.api("DELETE", `/v2/topics/${name}/endpoints`, { headers: { "Content-Type": "application/json" }, body });
  const good = (path: string): string => JSON.stringify({ endpoints: [{ url: dest.url(path) }] });

  it("a group name with characters outside [A-Za-z0-9-_.] is a 400", async () => {
    for (const name of ["bad%20name", "bad!name", "bad%2Fname", "b%C3%A4d", "bad*"]) {
      expect(await jsonError(await post(name, good("/bad/n")), 400), name).toMatch(/name/i);
    }
    expect(await sdkStatus(client.urlGroups.addEndpoints({ name: "bad name", endpoints: [{ url: dest.url("/bad/n") }] }))).toBe(400);
    // Nothing was created.
    expect((await client.urlGroups.list()).some((g) => g.name.startsWith("bad"))).toBe(false);
  });

  it("a body that is not JSON, or endpoints missing / empty / not an array, is a 400", async () => {
    await jsonError(await post("bad-body", "not json"), 400);
    await jsonError(await post("bad-body", ""), 400);
    await jsonError(await post("bad-body", "{}"), 400);
    await jsonError(await post("bad-body", "null"), 400);
    await jsonError(await post("bad-body", JSON.stringify({ endpoints: [] })), 400);
    await jsonError(await post("bad-body", JSON.stringify({ endpoints: "http://127.0.0.1/x" })), 400);
    await jsonError(await post("bad-body", JSON.stringify({ endpoints: [null] })), 400);
    await jsonError(await post("bad-body", JSON.stringify({ endpoints: [{ name: "no-url" }] })), 400);
    await jsonError(await post("bad-body", JSON.stringify([{ url: dest.url("/x") }])), 400);
    await jsonError(await sluice.api("GET", "/v2/topics/bad-body"), 404);
  });

  it("an endpoint url that is not http(s), or a name with bad characters, is a 400 and nothing is stored", async () => {
    for (const url of ["ftp://127.0.0.1/x", "127.0.0.1:9/x", "not a url", "", "http://", 42, "javascript:alert(1)"]) {
      const err = await jsonError(await post("bad-url", JSON.stringify({ endpoints: [{ url: dest.url("/ok") }, { url }] })), 400);
      expect(err, String(url)).toMatch(/url/i);
    }
    for (const name of ["bad name", "bad/name", "ä", "x!"]) {
      const err = await jsonError(await post("bad-url", JSON.stringify({ endpoints: [{ name, url: dest.url("/ok") }] })), 400);
      expect(err, name).toMatch(/name/i);
    }
    await jsonError(await post("bad-url", JSON.stringify({ endpoints: [{ name: 5, url: dest.url("/ok") }] })), 400);
    // All-or-nothing: the good endpoint listed before a bad one was not stored.
    await jsonError(await sluice.api("GET", "/v2/topics/bad-url"), 404);
  });

  it("remove with neither url nor name, or an invalid body, is a 400", async () => {
    await client.urlGroups.addEndpoints({ name: "bad-remove", endpoints: [{ name: "keep", url: dest.url("/badrm/keep") }] });
    await jsonError(await remove("bad-remove", JSON.stringify({ endpoints: [{}] })), 400);
    await jsonError(await remove("bad-remove", JSON.stringify({ endpoints: [{ name: "" }] })), 400);
    await jsonError(await remove("bad-remove", JSON.stringify({ endpoints: [] })), 400);
    await jsonError(await remove("bad-remove", "nope"), 400);
    await jsonError(await remove("bad-remove", JSON.stringify({ endpoints: [{ url: "ftp://x/y" }] })), 400);
    expect((await client.urlGroups.get("bad-remove")).endpoints).toEqual([{ name: "keep", url: dest.url("/badrm/keep") }]);
  });

  it("publishing to an unknown group is a 404 JSON error and delivers nothing", async () => {
    expect(await jsonError(await sluice.api("POST", "/v2/publish/never-made", { body: "x" }), 404)).toMatch(/never-made/);
    await sluice.client().queue({ queueName: "unknown-group-q" }).upsert({ parallelism: 1 });
    await jsonError(await sluice.api("POST", "/v2/enqueue/unknown-group-q/never-made", { body: "x" }), 404);
    expect(await sdkStatus(client.publishJSON({ urlGroup: "never-made", body: { a: 1 } }))).toBe(404);
  });
});

describe("persistence", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sluice-url-groups-"));
  const procs: SluiceProcess[] = [];
  afterAll(async () => {
    for (const p of procs) await killHard(p);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("a group survives kill -9 and a restart, and publishing to it still fans out", async () => {
    const first = await spawnSluice(["dev", "--data", dataDir, "--port", "0"]);
    procs.push(first);
    let c = new Client({ baseUrl: first.url, token: DEV_TOKEN });
    await c.urlGroups.addEndpoints({ name: "durable", endpoints: [{ name: "d1", url: dest.url("/durable/1") }, { url: dest.url("/durable/2") }] });
    await c.urlGroups.addEndpoints({ name: "durable", endpoints: [{ name: "d3", url: dest.url("/durable/3") }] });
    await c.urlGroups.removeEndpoints({ name: "durable", endpoints: [{ name: "d3" }] });
    await c.urlGroups.addEndpoints({ name: "gone", endpoints: [{ url: dest.url("/durable/gone") }] });
    await c.urlGroups.delete("gone");
    // Concurrent changes: what is stored must be what was served before the kill.
    await c.urlGroups.addEndpoints({ name: "raced", endpoints: [{ url: dest.url("/raced/0") }] });
    for (let i = 1; i <= 3; i++) {
      await Promise.all([
        c.urlGroups.addEndpoints({ name: "raced", endpoints: [{ url: dest.url(`/raced/${i}`) }] }),
        c.urlGroups.removeEndpoints({ name: "raced", endpoints: [{ url: dest.url(`/raced/${i - 1}`) }] }),
      ]);
    }
    const raced = await c.urlGroups.get("raced");
    expect(raced.endpoints).toEqual([{ url: dest.url("/raced/3") }]);
    const before = await c.urlGroups.get("durable");
    await killHard(first);

    const second = await spawnSluice(["dev", "--data", dataDir, "--port", "0"]);
    procs.push(second);
    c = new Client({ baseUrl: second.url, token: DEV_TOKEN });
    expect(await c.urlGroups.get("durable")).toEqual(before);
    expect(await c.urlGroups.get("raced")).toEqual(raced);
    expect((await c.urlGroups.list()).map((g) => g.name)).toEqual(["durable", "raced"]);

    const res = await c.publish({ urlGroup: "durable", body: "after restart" });
    expect(res).toHaveLength(2);
    await eventually(() => dest.at("/durable/").length >= 2, 5000);
    await settle(100);
    for (const [i, r] of res.entries()) {
      const got = dest.at(`/durable/${i + 1}`);
      expect(got).toHaveLength(1);
      expect(header(got[0], "Upstash-Message-Id")).toBe(r.messageId);
      expect(header(got[0], "Upstash-Topic-Name")).toBe("durable");
    }
    const logs = await finalLogs(c, res[0].messageId);
    expect(logs.at(-1)).toMatchObject({ state: "DELIVERED", topicName: "durable", endpointName: "d1" });
    await killHard(second);
  });
});
