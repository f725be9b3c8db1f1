import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, QstashError } from "@upstash/qstash";
import { Client as WorkflowClient } from "@upstash/workflow";
import { DEV_USERS, loadConfig, readOnlyTokenFor, tokenFor } from "../../src/config.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

/** Read-only tokens: they read everything of their user's and change nothing (403), on every route there is. */
describe("read-only tokens", () => {
  let sluice: TestSluice;
  let receiver: TestReceiver;
  let ro: Client;
  let messageId: string;
  let dlqId: string;
  let scheduleId: string;
  const roToken = readOnlyTokenFor(DEV_USERS[0])!;

  beforeAll(async () => {
    receiver = await TestReceiver.start();
    receiver.respond = (r) => (r.path.startsWith("/fail") ? { status: 500 } : { status: 200 });
    sluice = await startSluice();
    ro = new Client({ baseUrl: sluice.url, token: roToken });
    const full = sluice.client();
    // One of everything, made with the full token.
    await full.queue({ queueName: "orders" }).upsert({ parallelism: 2 });
    await full.urlGroups.addEndpoints({ name: "fans", endpoints: [{ url: receiver.url("/fan") }] });
    scheduleId = (await full.schedules.create({ destination: receiver.url("/cron"), cron: "0 0 1 1 *" })).scheduleId;
    messageId = (await full.publishJSON({ url: receiver.url("/later"), body: { a: 1 }, delay: 3600, flowControl: { key: "fk", parallelism: 1 } })).messageId;
    await full.flowControl.pin("fk", { parallelism: 1 });
    await full.publishJSON({ url: receiver.url("/fail"), body: {}, retries: 0 });
    dlqId = await eventually(async () => (await full.dlq.listMessages()).messages[0]?.dlqId);
  });

  afterAll(async () => {
    await sluice?.close();
    await receiver?.close();
  });

  /** Everything a change could touch, read with the full token. */
  async function snapshot() {
    const full = sluice.client();
    return {
      queues: await full.queue().list(),
      groups: await full.urlGroups.list(),
      schedules: await full.schedules.list(),
      message: await full.messages.get(messageId),
      dlq: (await full.dlq.listMessages()).messages.map((m) => m.dlqId),
      logs: (await full.logs({ count: 1000 })).logs.length,
      flow: await full.flowControl.get("fk"),
      keys: await (await sluice.api("GET", "/v2/keys")).json(),
    };
  }

  it("reads everything of its user's through the SDK", async () => {
    expect((await ro.queue({ queueName: "orders" }).get()).parallelism).toBe(2);
    expect((await ro.queue().list()).map((q) => q.name)).toEqual(["orders"]);
    expect((await ro.urlGroups.get("fans")).endpoints).toHaveLength(1);
    expect((await ro.urlGroups.list()).map((g) => g.name)).toEqual(["fans"]);
    expect((await ro.schedules.get(scheduleId)).scheduleId).toBe(scheduleId);
    expect(await ro.schedules.list()).toHaveLength(1);
    expect((await ro.messages.get(messageId)).messageId).toBe(messageId);
    expect((await ro.dlq.listMessages()).messages.map((m) => m.dlqId)).toEqual([dlqId]);
    expect((await ro.logs({ filter: { messageId } })).logs.length).toBeGreaterThan(0);
    expect((await ro.flowControl.get("fk")).flowControlKey).toBe("fk");
    expect((await ro.flowControl.getGlobalParallelism()).parallelismMax).toBeGreaterThan(0);
    expect((await (await sluice.api("GET", "/v2/flowControl", { token: roToken })).json()).length).toBe(1);
    const keys = await (await sluice.api("GET", "/v2/keys", { token: roToken })).json();
    expect(keys).toEqual({ current: DEV_USERS[0].signingKeys!.current, next: DEV_USERS[0].signingKeys!.next });
    const wf = new WorkflowClient({ baseUrl: sluice.url, token: roToken });
    expect(await wf.logs({})).toMatchObject({ runs: [] });
  });

  it("is refused with 403 on every write the SDK makes, and nothing changes", async () => {
    const before = await snapshot();
    const writes: [string, () => Promise<unknown>][] = [
      ["publish", () => ro.publishJSON({ url: receiver.url("/x"), body: {} })],
      ["enqueue", () => ro.queue({ queueName: "orders" }).enqueueJSON({ url: receiver.url("/x"), body: {} })],
      ["batch", () => ro.batchJSON([{ url: receiver.url("/x"), body: {} }])],
      ["queue upsert", () => ro.queue({ queueName: "orders" }).upsert({ parallelism: 5 })],
      ["queue pause", () => ro.queue({ queueName: "orders" }).pause()],
      ["queue delete", () => ro.queue({ queueName: "orders" }).delete()],
      ["group add", () => ro.urlGroups.addEndpoints({ name: "fans", endpoints: [{ url: receiver.url("/y") }] })],
      ["group remove", () => ro.urlGroups.removeEndpoints({ name: "fans", endpoints: [{ url: receiver.url("/fan") }] })],
      ["group delete", () => ro.urlGroups.delete("fans")],
      ["schedule create", () => ro.schedules.create({ destination: receiver.url("/x"), cron: "* * * * *" })],
      ["schedule pause", () => ro.schedules.pause({ schedule: scheduleId })],
      ["schedule delete", () => ro.schedules.delete(scheduleId)],
      ["message cancel", () => ro.messages.delete(messageId)],
      ["bulk cancel", () => ro.messages.cancel({ all: true })],
      ["dlq retry", () => ro.dlq.retry([dlqId])],
      ["dlq delete", () => ro.dlq.delete(dlqId)],
      ["flow pause", () => ro.flowControl.pause("fk")],
      ["flow pin", () => ro.flowControl.pin("fk", { parallelism: 3 })],
      ["flow reset rate", () => ro.flowControl.resetRate("fk")],
    ];
    for (const [name, call] of writes) {
      const err = await call().then(() => undefined, (e: unknown) => e);
      expect({ name, err }).toMatchObject({ name, err: expect.any(QstashError) });
      expect({ name, status: (err as QstashError).status }).toEqual({ name, status: 403 });
      expect(JSON.parse((err as QstashError).message).error).toMatch(/^read-only token: /);
    }
    expect(await snapshot()).toEqual(before);
  });

  it("is refused on every route that writes and let through on every route that reads, as registered", async () => {
    const routes = sluice.app.routeAccess.filter((r) => r.url.startsWith("/v2/") && !r.url.startsWith("/v2/workflows/hooks/"));
    // The table holds what the server serves, so a route added later is checked here without being named.
    expect(routes.length).toBeGreaterThan(50);
    const before = await snapshot();
    for (const r of routes) {
      const path = r.url.replace(/:[A-Za-z]+/g, "x").replace("*", receiver.url("/route-check"));
      const res = await sluice.api(r.method, path, { token: roToken, body: r.method === "GET" || r.method === "HEAD" ? undefined : "{}" });
      const body = r.method === "HEAD" ? undefined : await res.text();
      if (r.access === "write") {
        expect({ route: `${r.method} ${r.url}`, status: res.status }).toEqual({ route: `${r.method} ${r.url}`, status: 403 });
        expect(JSON.parse(body!).error).toContain(r.url);
      } else {
        expect({ route: `${r.method} ${r.url}`, status: res.status }).not.toMatchObject({ status: expect.toSatisfy((s: number) => s === 401 || s === 403) });
      }
    }
    expect(routes.filter((r) => r.access === "read").every((r) => r.method === "GET" || r.method === "HEAD")).toBe(true);
    expect(await snapshot()).toEqual(before);
    expect(receiver.at("/route-check")).toHaveLength(0);
  });

  it("the user's full token still writes, and another user's read-only token sees nothing of this user's", async () => {
    const res = await sluice.api("POST", "/v2/queues", { body: JSON.stringify({ queueName: "more", parallelism: 1 }) });
    expect(res.status).toBe(200);
    const other = new Client({ baseUrl: sluice.url, token: readOnlyTokenFor(DEV_USERS[1])! });
    expect(await other.queue().list()).toEqual([]);
    await sluice.client().queue({ queueName: "more" }).delete();
  });
});

describe("read-only passwords in the configuration", () => {
  it("takes read-only passwords from SLUICE_READ_ONLY_USERS and readOnlyPassword in the file's users", async () => {
    // A password may hold ":" (everything after the first one), as before read-only tokens existed.
    const cfg = loadConfig("serve", { memory: true }, { SLUICE_USERS: "alice:alice-pw,bob:bob:pw", SLUICE_READ_ONLY_USERS: "alice:alice-ro" });
    expect(cfg.users).toEqual([
      { userId: "alice", password: "alice-pw", readOnlyPassword: "alice-ro" },
      { userId: "bob", password: "bob:pw" },
    ]);
    expect(() => loadConfig("serve", { memory: true }, { SLUICE_USERS: "alice:pw", SLUICE_READ_ONLY_USERS: "carol:ro" })).toThrow(
      'SLUICE_READ_ONLY_USERS names user "carol", who is not in SLUICE_USERS',
    );
    expect(() => loadConfig("serve", { memory: true }, { SLUICE_USERS: "alice:pw", SLUICE_READ_ONLY_USERS: "alice:pw" })).toThrow(
      "readOnlyPassword must differ from password",
    );
    const sluice = await startSluice({ users: cfg.users });
    try {
      const ro = readOnlyTokenFor(cfg.users[0])!;
      expect(ro).toBe(tokenFor({ userId: "alice", password: "alice-ro" }));
      expect((await sluice.api("GET", "/v2/queues", { token: ro })).status).toBe(200);
      const refused = await sluice.api("POST", "/v2/queues", { token: ro, body: JSON.stringify({ queueName: "q" }) });
      expect(refused.status).toBe(403);
      expect(await (await sluice.api("GET", "/v2/queues", { token: tokenFor(cfg.users[0]) })).json()).toEqual([]);
      // bob has no read-only token: his password with anything else is just a wrong token.
      expect((await sluice.api("GET", "/v2/queues", { token: tokenFor({ userId: "bob", password: "alice-ro" }) })).status).toBe(401);
    } finally {
      await sluice.close();
    }
  });

  it("the README lists the dev users' read-only tokens as the server derives them", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const listed = [...readme.matchAll(/^\| `(\w+)` \| `([A-Za-z0-9+/=]+)` \|$/gm)].map((m) => [m[1], m[2]]);
    expect(listed).toEqual(DEV_USERS.map((u) => [u.userId, readOnlyTokenFor(u)]));
  });

  it("refuses malformed entries, naming the setting and not repeating the passwords", () => {
    const cases: [Record<string, string>, string][] = [
      [{ SLUICE_USERS: "alice:" }, "SLUICE_USERS entry 1"],
      [{ SLUICE_USERS: "bob:pw,:secret-pw" }, "SLUICE_USERS entry 2"],
      [{ SLUICE_USERS: "alice:secret-pw", SLUICE_READ_ONLY_USERS: "alice" }, "SLUICE_READ_ONLY_USERS entry 1"],
      [{ SLUICE_USERS: "alice:same-pw", SLUICE_READ_ONLY_USERS: "alice:same-pw" }, "SLUICE_USERS user \"alice\""],
    ];
    for (const [env, named] of cases) {
      let message = "";
      try {
        loadConfig("serve", { memory: true }, env);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toContain(named);
      expect(message).not.toMatch(/secret-pw|same-pw/);
    }
  });
});
