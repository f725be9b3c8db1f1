import type { Client } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

/** Logs (SPEC §2.7): every filter the SDK offers, raw query spellings, cursor paging, both paths. */

let sluice: TestSluice;
let dest: TestReceiver;
let client: Client;

interface RawLog {
  time: number;
  state: string;
  messageId: string;
  url: string;
  body?: string;
  callerIp?: string;
  callerIP?: string;
  labels?: string[];
  responseStatus?: number;
  maxRetries?: number;
}

beforeAll(async () => {
  quietSdkErrors();
  [sluice, dest] = await Promise.all([startSluice(), TestReceiver.start()]);
  client = sluice.client();
  dest.respond = (req) => (req.path.startsWith("/flaky") ? { status: 500, body: "down" } : { status: 200, body: "ok" });
});
afterAll(async () => {
  await sluice?.close();
  await dest?.close();
});

async function rawLogs(query: string, path = "/v2/logs"): Promise<{ cursor?: string; logs?: RawLog[]; events?: RawLog[] }> {
  const res = await sluice.api("GET", `${path}?${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { cursor?: string; logs?: RawLog[]; events?: RawLog[] };
}

/** Publishes and waits until the message's DELIVERED entry is logged. */
async function delivered(path: string, extra: { label?: string | string[]; body?: string } = {}): Promise<string> {
  const { messageId } = await client.publish({ url: dest.url(path), body: extra.body ?? "x", ...(extra.label ? { label: extra.label } : {}) });
  await eventually(async () => (await client.logs({ filter: { messageId, state: "DELIVERED" } })).logs.length === 1);
  return messageId;
}

describe("logs filters", () => {
  let one: string;
  let two: string;
  let flaky: string;
  let tBefore: number;
  let tBetween: number;

  beforeAll(async () => {
    tBefore = Date.now();
    one = await delivered("/logs/one", { label: ["l1", "shared"], body: "hello logs" });
    await new Promise((r) => setTimeout(r, 5));
    tBetween = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    two = await delivered("/logs/two", { label: ["l2", "shared"] });
    // A message that failed once and waits 10 minutes for its retry: its entries are ACTIVE, ERROR, RETRY.
    flaky = (await client.publish({ url: dest.url("/flaky"), body: "y", retries: 1, retryDelay: "600000", label: "l3" })).messageId;
    await eventually(async () => (await client.logs({ filter: { messageId: flaky, state: "RETRY" } })).logs.length === 1);
  });
  afterAll(async () => {
    await client.messages.cancel(flaky).catch(() => undefined);
  });

  it("messageId and messageIds select exactly those messages' entries, newest first", async () => {
    const byId = await client.logs({ filter: { messageId: one } });
    expect(byId.logs.map((l) => [l.messageId, l.state])).toEqual([
      [one, "DELIVERED"],
      [one, "ACTIVE"],
      [one, "CREATED"],
    ]);
    expect(byId.cursor).toBeUndefined();
    const byIds = await client.logs({ messageIds: [one, two] });
    expect(new Set(byIds.logs.map((l) => l.messageId))).toEqual(new Set([one, two]));
    expect(byIds.logs).toHaveLength(6);
    expect(byIds.logs.slice(0, 3).every((l) => l.messageId === two)).toBe(true);
    const raw = await rawLogs(`messageIds=${one},${two}`);
    expect(raw.logs!.map((l) => `${l.messageId}/${l.state}`)).toEqual(byIds.logs.map((l) => `${l.messageId}/${l.state}`));
  });

  it("url and label filter (one value, several values, and comma-joined over raw HTTP)", async () => {
    const byUrl = await client.logs({ filter: { url: dest.url("/logs/two") } });
    expect(byUrl.logs.length).toBe(3);
    expect(byUrl.logs.every((l) => l.messageId === two && l.url === dest.url("/logs/two"))).toBe(true);

    const byLabel = await client.logs({ filter: { label: "l1" } });
    expect(byLabel.logs.map((l) => l.messageId)).toEqual([one, one, one]);
    expect(byLabel.logs[0].labels).toEqual(["l1", "shared"]);
    expect(byLabel.logs[0].label).toBe("l1");

    const shared = await client.logs({ filter: { label: "shared" } });
    expect(new Set(shared.logs.map((l) => l.messageId))).toEqual(new Set([one, two]));
    const several = await client.logs({ filter: { label: ["l1", "l3"] } });
    expect(new Set(several.logs.map((l) => l.messageId))).toEqual(new Set([one, flaky]));

    const comma = await rawLogs("label=l1,l2");
    expect(new Set(comma.logs!.map((l) => l.messageId))).toEqual(new Set([one, two]));
    expect(comma.logs).toHaveLength(6);
    const repeated = await rawLogs("label=l1&label=l2");
    expect(repeated.logs!.map((l) => l.messageId)).toEqual(comma.logs!.map((l) => l.messageId));
    const urls = await rawLogs(`url=${encodeURIComponent(dest.url("/logs/one"))}&url=${encodeURIComponent(dest.url("/logs/two"))}`);
    expect(urls.logs).toHaveLength(6);
    expect((await rawLogs("label=nosuchlabel")).logs).toEqual([]);
  });

  it("state filters, including IN_PROGRESS and comma-joined states", async () => {
    const deliveredOnly = await client.logs({ filter: { state: "DELIVERED", label: "shared" } });
    expect(deliveredOnly.logs.map((l) => [l.messageId, l.state])).toEqual([
      [two, "DELIVERED"],
      [one, "DELIVERED"],
    ]);

    const inProgress = await client.logs({ filter: { state: "IN_PROGRESS", label: ["l1", "l3"] } });
    expect(inProgress.logs.map((l) => [l.messageId, l.state])).toEqual([
      [flaky, "RETRY"],
      [flaky, "ERROR"],
      [flaky, "ACTIVE"],
      [one, "ACTIVE"],
    ]);
    const error = inProgress.logs[1] as unknown as RawLog & { error?: string; responseBody?: string };
    expect(error.responseStatus).toBe(500);
    expect(error.error).toEqual(expect.stringContaining("500"));
    expect(Buffer.from(error.responseBody ?? "", "base64").toString()).toBe("down");
    expect(inProgress.logs[0].nextDeliveryTime).toBeGreaterThan(Date.now() + 500_000);

    const comma = await rawLogs(`messageId=${flaky}&state=created,retry`);
    expect(comma.logs!.map((l) => l.state)).toEqual(["RETRY", "CREATED"]);
    expect((await client.logs({ filter: { messageId: one, state: "FAILED" } })).logs).toEqual([]);
  });

  it("fromDate and toDate bound the entries' time (Date objects and numbers)", async () => {
    const first = await client.logs({ filter: { label: "shared", fromDate: new Date(tBefore), toDate: new Date(tBetween) } });
    expect(first.logs.map((l) => l.messageId)).toEqual([one, one, one]);
    const second = await client.logs({ filter: { label: "shared", fromDate: tBetween } });
    expect(second.logs.map((l) => l.messageId)).toEqual([two, two, two]);
    for (const l of [...first.logs, ...second.logs]) expect(l.time).toBeGreaterThanOrEqual(tBefore);
    expect((await client.logs({ filter: { label: "shared", toDate: tBefore - 1 } })).logs).toEqual([]);
  });

  it("urlGroup and topicName: absent on plain messages, and filtering by a group finds nothing", async () => {
    const { logs } = await client.logs({ filter: { messageId: one } });
    for (const l of logs) {
      expect(l.urlGroup).toBeUndefined();
      expect(l.topicName).toBeUndefined();
    }
    expect((await client.logs({ filter: { urlGroup: "some-group" } })).logs).toEqual([]);
    expect((await rawLogs("topicName=some-group")).logs).toEqual([]);
  });

  it("callerIp filters by the publisher's address, under either spelling", async () => {
    const mine = await client.logs({ filter: { callerIp: "127.0.0.1", label: "l2" } });
    expect(mine.logs).toHaveLength(3);
    const raw = mine.logs[0] as unknown as RawLog;
    expect(raw.callerIp).toBe("127.0.0.1");
    expect(raw.callerIP).toBe("127.0.0.1");
    expect((await client.logs({ filter: { callerIp: "10.9.9.9" } })).logs).toEqual([]);
    expect((await rawLogs("callerIP=127.0.0.1&label=l2")).logs).toHaveLength(3);
    expect((await rawLogs("callerIp=10.9.9.9,127.0.0.1&label=l2")).logs).toHaveLength(3);
  });

  it("bodies in log entries are base64, and each entry carries the message's settings", async () => {
    const { logs } = await client.logs({ filter: { messageId: one, state: "CREATED" } });
    expect(logs).toHaveLength(1);
    expect(logs[0].body).toBe(Buffer.from("hello logs").toString("base64"));
    expect(logs[0].url).toBe(dest.url("/logs/one"));
    const raw = logs[0] as unknown as RawLog & { method: string };
    expect(raw.method).toBe("POST");
    expect(raw.maxRetries).toBe(3);
  });

  it("GET /v2/logs serves the same entries as /v2/events, under the key logs", async () => {
    const viaLogs = await rawLogs(`label=shared`);
    const viaEvents = await rawLogs(`label=shared`, "/v2/events");
    expect(viaLogs.events).toBeUndefined();
    expect(viaEvents.logs).toBeUndefined();
    expect(viaLogs.logs).toHaveLength(6);
    expect(viaLogs.logs).toEqual(viaEvents.events);
    const sdk = await client.logs({ filter: { label: "shared" } });
    expect(viaLogs.logs!.map((l) => `${l.messageId}/${l.state}/${l.time}`)).toEqual(sdk.logs.map((l) => `${l.messageId}/${l.state}/${l.time}`));
  });
});

describe("logs paging", () => {
  let all: { messageId: string; state: string; time: number }[];

  beforeAll(async () => {
    const { messageId: a } = await client.publish({ url: dest.url("/page/0"), body: "p", label: "page" });
    const rest = await Promise.all([1, 2, 3, 4].map((i) => client.publish({ url: dest.url(`/page/${i}`), body: "p", label: "page" })));
    const ids = [a, ...rest.map((r) => r.messageId)];
    all = await eventually(async () => {
      const { logs, cursor } = await client.logs({ filter: { label: "page" }, count: 1000 });
      expect(cursor).toBeUndefined();
      return logs.length === 15 && logs.every((l) => ids.includes(l.messageId)) ? logs : undefined;
    });
  });

  async function pages(count: number): Promise<{ items: string[]; sizes: number[]; lastCursor: unknown }> {
    const items: string[] = [];
    const sizes: number[] = [];
    let cursor: string | undefined;
    let lastCursor: unknown;
    for (let i = 0; i < 20; i++) {
      const res = await client.logs({ filter: { label: "page" }, count, ...(cursor ? { cursor } : {}) });
      items.push(...res.logs.map((l) => `${l.messageId}/${l.state}`));
      sizes.push(res.logs.length);
      lastCursor = res.cursor;
      if (!res.cursor) break;
      expect(typeof res.cursor).toBe("string");
      cursor = res.cursor;
    }
    return { items, sizes, lastCursor };
  }

  it("is newest first", () => {
    for (let i = 1; i < all.length; i++) expect(all[i - 1].time).toBeGreaterThanOrEqual(all[i].time);
    for (const id of new Set(all.map((l) => l.messageId))) {
      expect(all.filter((l) => l.messageId === id).map((l) => l.state)).toEqual(["DELIVERED", "ACTIVE", "CREATED"]);
    }
  });

  it("walks every entry once, in order, across pages of 4, and the last page has no cursor", async () => {
    const { items, sizes, lastCursor } = await pages(4);
    expect(sizes).toEqual([4, 4, 4, 3]);
    expect(lastCursor).toBeUndefined();
    expect(new Set(items).size).toBe(15);
    expect(items).toEqual(all.map((l) => `${l.messageId}/${l.state}`));
  });

  it("ends without an empty page when the total is a multiple of the page size", async () => {
    const { items, sizes, lastCursor } = await pages(5);
    expect(sizes).toEqual([5, 5, 5]);
    expect(lastCursor).toBeUndefined();
    expect(items).toEqual(all.map((l) => `${l.messageId}/${l.state}`));
  });

  it("raw GET /v2/logs pages the same way with count and cursor", async () => {
    const first = await rawLogs("label=page&count=6");
    expect(first.logs).toHaveLength(6);
    expect(first.cursor).toEqual(expect.any(String));
    const second = await rawLogs(`label=page&count=6&cursor=${first.cursor}`);
    const third = await rawLogs(`label=page&count=6&cursor=${second.cursor}`);
    expect(third.cursor).toBeUndefined();
    expect([...first.logs!, ...second.logs!, ...third.logs!].map((l) => `${l.messageId}/${l.state}`)).toEqual(
      all.map((l) => `${l.messageId}/${l.state}`),
    );
    const sdkFirst = await client.logs({ filter: { label: "page" }, count: 6 });
    expect(sdkFirst.cursor).toBe(first.cursor);
  });
});
