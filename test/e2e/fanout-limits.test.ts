import Database from "better-sqlite3";
import type { Client } from "@upstash/qstash";
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../src/store/sqlite/schema.js";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { dlqEntryOf, finalLogs, logsOf, logsUntil, settle } from "./delivery-support.js";

const logsUntilRetry = (client: Client, messageId: string) => logsUntil(client, messageId, "RETRY");

/**
 * URL-group fan-out is bounded (maxUrlGroupEndpoints, maxMessagesPerRequest: a 413 naming the setting, nothing
 * stored) and a fanned-out body is stored once, shared by the messages of the fan-out: delivered, shown in
 * messages, logs, the DLQ and callbacks, and removed by retention with the last message that names it.
 */

let dest: TestReceiver;
const folders: string[] = [];
const servers: TestSluice[] = [];

beforeAll(async () => {
  quietSdkErrors();
  dest = await TestReceiver.start();
  dest.respond = (req) => (req.path.startsWith("/fail") ? { status: 500, body: "down" } : { status: 200, body: "ok" });
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await dest?.close();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

function dataFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), "sluice-fanout-"));
  folders.push(dir);
  return dir;
}

async function start(overrides: Parameters<typeof startSluice>[0] = {}): Promise<TestSluice> {
  const s = await startSluice(overrides);
  servers.push(s);
  return s;
}

async function addEndpoints(s: TestSluice, group: string, urls: string[]): Promise<Response> {
  return s.api("POST", `/v2/topics/${group}/endpoints`, {
    body: JSON.stringify({ endpoints: urls.map((url) => ({ url })) }),
    headers: { "content-type": "application/json" },
  });
}

/** Asserts a JSON error reply with `status` and returns its message. */
async function jsonError(res: Response, status: number): Promise<string> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error?: unknown };
  expect(typeof body.error).toBe("string");
  return body.error as string;
}

/**
 * Bytes of the pages the store uses, as a reader beside the running server sees them (the WAL included). The
 * files' sizes would not do: a WAL checkpointed meanwhile is written over from its start without growing.
 */
function dbBytes(dir: string): number {
  const db = new Database(join(dir, "sluice.db"), { readonly: true });
  try {
    const pages = (db.pragma("page_count", { simple: true }) as number) - (db.pragma("freelist_count", { simple: true }) as number);
    return pages * (db.pragma("page_size", { simple: true }) as number);
  } finally {
    db.close();
  }
}

/** Rows of the store's shared-body table, read from the data folder beside the running server. */
function sharedBodyCount(dir: string): number {
  const db = new Database(join(dir, "sluice.db"), { readonly: true });
  try {
    return (db.prepare(`SELECT COUNT(*) AS n FROM bodies`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe("fan-out limits", () => {
  let s: TestSluice;
  let client: Client;
  beforeAll(async () => {
    s = await start({ limits: { maxUrlGroupEndpoints: 3, maxMessagesPerRequest: 4 } });
    client = s.client();
  });

  it("an endpoint upsert past maxUrlGroupEndpoints is refused whole: 413 naming the setting, group unchanged", async () => {
    expect((await addEndpoints(s, "capped", [dest.url("/cap/a"), dest.url("/cap/b")])).status).toBe(200);
    const before = await client.urlGroups.get("capped");

    const error = await jsonError(await addEndpoints(s, "capped", [dest.url("/cap/c"), dest.url("/cap/d")]), 413);
    expect(error).toContain("maxUrlGroupEndpoints");
    expect(error).toContain("3");
    expect(await client.urlGroups.get("capped")).toEqual(before);

    // A new group over the limit is not created at all.
    const urls = [1, 2, 3, 4].map((i) => dest.url(`/cap/new${i}`));
    expect(await jsonError(await addEndpoints(s, "capped-new", urls), 413)).toContain("maxUrlGroupEndpoints");
    expect((await s.api("GET", "/v2/topics/capped-new")).status).toBe(404);

    // Re-adding endpoints already there does not count twice.
    expect((await addEndpoints(s, "capped", [dest.url("/cap/a"), dest.url("/cap/c")])).status).toBe(200);
    expect((await client.urlGroups.get("capped")).endpoints).toHaveLength(3);
  });

  it("a batch that would create more than maxMessagesPerRequest messages is a 413 and stores nothing", async () => {
    expect((await addEndpoints(s, "batch-group", [1, 2, 3].map((i) => dest.url(`/bcap/g${i}`)))).status).toBe(200);
    const items = [
      { destination: dest.url("/bcap/single"), body: "one" },
      { destination: "batch-group", body: "fan" },
      { destination: dest.url("/bcap/other"), body: "two" },
    ];
    const res = await s.api("POST", "/v2/batch", { body: JSON.stringify(items), headers: { "content-type": "application/json" } });
    const error = await jsonError(res, 413);
    expect(error).toContain("maxMessagesPerRequest");
    expect(error).toContain("5 messages");
    await settle(200);
    expect(dest.at("/bcap")).toHaveLength(0);
    const { logs } = await client.logs({ filter: { urlGroup: "batch-group" } });
    expect(logs).toHaveLength(0);
    expect((await client.logs({ filter: { url: dest.url("/bcap/single") } })).logs).toHaveLength(0);

    // Within the limit the same group is accepted.
    const ok = await s.api("POST", "/v2/batch", { body: JSON.stringify(items.slice(0, 2)), headers: { "content-type": "application/json" } });
    expect(ok.status).toBe(200);
    await eventually(() => dest.at("/bcap").length === 4);
  });

  it("a schedule whose ticks would pass maxMessagesPerRequest is refused at creation, and nothing is kept", async () => {
    const low = await start({ limits: { maxUrlGroupEndpoints: 3, maxMessagesPerRequest: 2 } });
    expect((await addEndpoints(low, "sched-big", [1, 2, 3].map((i) => dest.url(`/scap/${i}`)))).status).toBe(200);
    const res = await low.api("POST", "/v2/schedules/sched-big", { headers: { "Upstash-Cron": "* * * * *" } });
    const error = await jsonError(res, 413);
    expect(error).toContain("maxMessagesPerRequest");
    expect(await low.client().schedules.list()).toHaveLength(0);
  });
});

describe("publish over maxMessagesPerRequest", () => {
  it("a publish to a group with more endpoints than the limit is a 413 naming it, and nothing is stored", async () => {
    const s = await start({ limits: { maxUrlGroupEndpoints: 10, maxMessagesPerRequest: 2 } });
    expect((await addEndpoints(s, "wide", [1, 2, 3].map((i) => dest.url(`/pcap/${i}`)))).status).toBe(200);
    const error = await jsonError(await s.api("POST", "/v2/publish/wide", { body: "x" }), 413);
    expect(error).toBe("this publish would create 3 messages; the configured limit maxMessagesPerRequest is 2");
    // The SDK sees the same refusal.
    await expect(s.client().publish({ urlGroup: "wide", body: "x" })).rejects.toThrow(/maxMessagesPerRequest/);
    await settle(200);
    expect(dest.at("/pcap")).toHaveLength(0);
    expect((await s.client().logs({ filter: { urlGroup: "wide" } })).logs).toHaveLength(0);
  });

  it("a schedule whose group grew past the limit fires its ticks without messages and logs why; the server keeps serving", async () => {
    const s = await start({ limits: { maxUrlGroupEndpoints: 10, maxMessagesPerRequest: 2 } });
    const errors: string[] = [];
    s.engine.on("error", (err) => errors.push(String((err as Error).message)));
    expect((await addEndpoints(s, "grows", [dest.url("/grow/1")])).status).toBe(200);
    const created = await s.api("POST", "/v2/schedules/grows", { headers: { "Upstash-Cron": "*/1 * * * * *" }, body: "tick" });
    expect(created.status).toBe(200);
    const { scheduleId } = (await created.json()) as { scheduleId: string };
    expect((await addEndpoints(s, "grows", [dest.url("/grow/2"), dest.url("/grow/3")])).status).toBe(200);
    const delivered = dest.at("/grow").length;

    await eventually(() => errors.some((e) => e.includes(scheduleId) && e.includes("maxMessagesPerRequest")), 4000);
    expect(errors.find((e) => e.includes(scheduleId))).toBe(
      `schedule ${scheduleId} fired without messages: a tick of schedule ${scheduleId} would create 3 messages; the configured limit maxMessagesPerRequest is 2`,
    );
    // The refused tick still counts as fired: the schedule moves on (and shows it) instead of retrying it in a loop.
    const shown = await eventually(async () => {
      const sc = (await s.client().schedules.get(scheduleId)) as { lastScheduleTime?: number };
      return sc.lastScheduleTime ? sc : undefined;
    });
    expect(shown.lastScheduleTime).toBeGreaterThan(0);
    await settle(300);
    // At most the one tick that may have fired before the group grew was delivered; none of the refused ones.
    expect(dest.at("/grow").length).toBe(delivered);
    expect(dest.at("/grow/2")).toHaveLength(0);
    const single = await s.client().publish({ url: dest.url("/grow-after"), body: "still serving" });
    expect(single.messageId).toMatch(/^msg_/);
    await s.client().schedules.delete(scheduleId);
  });
});

describe("a fanned-out body is stored once", () => {
  it("every endpoint gets the same bytes; messages and their reply carry them", async () => {
    const s = await start();
    const client = s.client();
    const urls = [1, 2, 3, 4, 5].map((i) => dest.url(`/same/${i}`));
    expect((await addEndpoints(s, "same-body", urls)).status).toBe(200);
    const body = randomBytes(64 * 1024);
    const res = await s.api("POST", "/v2/publish/same-body", { body, headers: { "Upstash-Delay": "1s" } });
    expect(res.status).toBe(200);
    const replies = (await res.json()) as { messageId: string; url: string }[];
    expect(replies.map((r) => r.url)).toEqual(urls);
    // Before delivery, each message reads its body back from the store.
    for (const { messageId } of replies) {
      const m = (await s.api("GET", `/v2/messages/${messageId}`).then((r) => r.json())) as { bodyBase64?: string };
      expect(Buffer.from(m.bodyBase64 ?? "", "base64").equals(body)).toBe(true);
    }
    await eventually(() => dest.at("/same/").length === 5, 5000);
    for (const url of urls) {
      const got = dest.at(new URL(url).pathname);
      expect(got).toHaveLength(1);
      expect(got[0].body.equals(body)).toBe(true);
    }
    for (const { messageId } of replies) expect((await finalLogs(client, messageId)).at(-1)!.state).toBe("DELIVERED");
  });

  it("1 MB to 50 endpoints adds about 1 MB to the data folder, not 50 MB", async () => {
    const dir = dataFolder();
    const s = await start({ dataDir: dir });
    const urls = Array.from({ length: 50 }, (_, i) => dest.url(`/size/${i}`));
    expect((await addEndpoints(s, "size", urls)).status).toBe(200);
    const before = dbBytes(dir);
    const body = randomBytes(1024 * 1024);
    const res = await s.api("POST", "/v2/publish/size", { body, headers: { "Upstash-Delay": "1h" } });
    expect(res.status).toBe(200);
    expect((await res.json()) as unknown[]).toHaveLength(50);
    const grown = dbBytes(dir) - before;
    expect(grown).toBeGreaterThan(1024 * 1024);
    expect(grown).toBeLessThan(2.5 * 1024 * 1024);
    expect(sharedBodyCount(dir)).toBe(1);
  });

  it("a failed fanned-out message keeps its body in logs, the DLQ, its failure callback and its DLQ retry", async () => {
    const s = await start();
    const client = s.client();
    expect((await addEndpoints(s, "dlq-fan", [dest.url("/fail/dlq-a"), dest.url("/fail/dlq-b")])).status).toBe(200);
    const body = Buffer.from(`shared body ${randomBytes(8).toString("hex")}`);
    const res = await s.api("POST", "/v2/publish/dlq-fan", {
      body,
      headers: { "Upstash-Retries": "0", "Upstash-Failure-Callback": dest.url("/fan-failure") },
    });
    const [a, b] = (await res.json()) as { messageId: string }[];
    for (const { messageId } of [a, b]) {
      const logs = await finalLogs(client, messageId);
      expect(logs.at(-1)!.state).toBe("FAILED");
      for (const l of logs) expect(Buffer.from(l.body, "base64").equals(body)).toBe(true);
    }
    const entry = await dlqEntryOf(client, a.messageId);
    expect(entry.body).toBe(body.toString());
    expect(entry.topicName).toBe("dlq-fan");
    await eventually(() => dest.at("/fan-failure").length === 2);
    for (const cb of dest.at("/fan-failure")) {
      expect(Buffer.from(JSON.parse(cb.body.toString()).sourceBody, "base64").equals(body)).toBe(true);
    }

    const retried = await client.dlq.retry([entry.dlqId]);
    const freshId = retried.responses[0].messageId;
    await eventually(() => dest.at("/fail/dlq-a").length === 2);
    expect(dest.at("/fail/dlq-a")[1].body.equals(body)).toBe(true);
    expect(dest.at("/fail/dlq-a")[1].headers["upstash-message-id"]).toBe(freshId);
    expect((await logsOf(client, freshId))[0].body).toBe(body.toString("base64"));
  });

  it("retention removes a shared body with the last message that names it", async () => {
    const dir = dataFolder();
    const s = await start({ dataDir: dir, maintenanceIntervalMs: 100, limits: { retentionMs: 200 } });
    const client = s.client();
    expect((await addEndpoints(s, "purge-fan", [dest.url("/purge/now"), dest.url("/fail/purge-later")])).status).toBe(200);
    // The second endpoint fails and waits a minute for its retry, so its message outlives the first one.
    const res = await s.api("POST", "/v2/publish/purge-fan", {
      body: "kept until the last one goes",
      headers: { "Upstash-Retries": "1", "Upstash-Retry-Delay": "60000" },
    });
    const [now, later] = (await res.json()) as { messageId: string }[];
    expect(sharedBodyCount(dir)).toBe(1);
    await logsUntilRetry(client, later.messageId);
    await eventually(async () => (await logsOf(client, now.messageId)).length === 0, 5000, 50);
    // The delivered message is gone; the one still waiting reads the body they shared.
    const m = (await s.api("GET", `/v2/messages/${later.messageId}`).then((r) => r.json())) as { body?: string };
    expect(m.body).toBe("kept until the last one goes");
    expect(sharedBodyCount(dir)).toBe(1);

    await client.messages.delete(later.messageId);
    await eventually(async () => (await logsOf(client, later.messageId)).length === 0, 5000, 50);
    expect(sharedBodyCount(dir)).toBe(0);
  });
});

describe("upgrade from the previous schema", () => {
  it("a data folder written before shared bodies opens, keeps its messages' bodies, and fans out with shared bodies", async () => {
    const dir = dataFolder();
    const old = new Database(join(dir, "sluice.db"));
    for (let v = 0; v < MIGRATIONS.length - 1; v++) old.exec(MIGRATIONS[v]);
    old.pragma(`user_version = ${MIGRATIONS.length - 1}`);
    const dueMs = Date.now() + 3_600_000;
    const spec = { kind: "publish", method: "POST", header: {}, maxRetries: 0, notBeforeMs: dueMs };
    old
      .prepare(
        `INSERT INTO messages (id, user_id, state, due_ms, retried, created_ms, url, host, path, caller_ip, labels, spec, body)
         VALUES ('msg_old', 'defaultUser', 'pending', ?, 0, ?, ?, '127.0.0.1', '/old', '', '[]', ?, ?)`,
      )
      .run(dueMs, Date.now(), dest.url("/old"), JSON.stringify(spec), Buffer.from("written by the old schema"));
    old.close();

    const s = await start({ dataDir: dir });
    const m = (await s.api("GET", "/v2/messages/msg_old").then((r) => r.json())) as { body?: string };
    expect(m.body).toBe("written by the old schema");
    expect((await addEndpoints(s, "after-upgrade", [dest.url("/up/1"), dest.url("/up/2")])).status).toBe(200);
    const res = await s.api("POST", "/v2/publish/after-upgrade", { body: "fan after upgrade" });
    expect(res.status).toBe(200);
    expect(sharedBodyCount(dir)).toBe(1);
    await eventually(() => dest.at("/up/").length === 2);
    expect(dest.at("/up/").map((r) => r.body.toString())).toEqual(["fan after upgrade", "fan after upgrade"]);
  });
});
