import { lookup } from "node:dns/promises";
import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { EgressPolicy, type EgressSettings } from "../../src/engine/egress.js";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { closedPort, dlqEntryOf, finalLogs, logsOf } from "./delivery-support.js";

/**
 * The egress policy as `sluice serve` applies it (private ranges denied): what it refuses without DNS is a 400 at
 * publish that names the rule and stores nothing; what it refuses after resolving fails its first attempt for good.
 */

/** The policy `serve` computes from an empty environment, plus what a test adds. */
const serveEgress = (extra: Partial<EgressSettings> = {}): EgressSettings => ({
  ...loadConfig("serve", { memory: true }, { SLUICE_USERS: "u:p" }).egress,
  ...extra,
});

const LOOPBACK = 'destination address "127.0.0.1" is denied by the egress policy (loopback)';

let dest: TestReceiver;
const dataDirs: string[] = [];
beforeAll(async () => {
  quietSdkErrors();
  dest = await TestReceiver.start();
});
afterAll(async () => {
  await dest?.close();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

/** What the SDK throws for a 4xx: the JSON body as sent. */
const sdkError = (error: string): string => JSON.stringify({ error });

/** `res` is a 400 whose JSON `{error}` is exactly `error`. */
async function expect400(res: Response, error: string): Promise<void> {
  expect(res.status, error).toBe(400);
  expect(await res.json()).toEqual({ error });
}

describe("refused at publish", () => {
  let sluice: TestSluice;
  beforeAll(async () => {
    sluice = await startSluice({ egress: serveEgress() });
  });
  afterAll(async () => sluice?.close());

  it("publish, enqueue and batch refuse a denied destination or callback, naming the rule", async () => {
    const url = dest.url("/publish");
    await expect(sluice.client().publish({ url, body: "x" })).rejects.toThrow(sdkError(`destination "${url}" is refused: ${LOOPBACK}`));

    const publish = (path: string, headers: Record<string, string> = {}) => sluice.api("POST", path, { body: "x", headers });
    await expect400(
      await publish(`/v2/enqueue/new-queue/${dest.url("/enqueue")}`),
      `destination "${dest.url("/enqueue")}" is refused: ${LOOPBACK}`,
    );
    await expect400(
      await publish("/v2/publish/https://example.com/hook", { "Upstash-Callback": "http://169.254.169.254/latest" }),
      'Upstash-Callback "http://169.254.169.254/latest" is refused: destination address "169.254.169.254" is denied by the egress policy (link-local)',
    );
    await expect400(
      await publish("/v2/publish/https://example.com/hook", { "Upstash-Failure-Callback": "http://[::1]:1/failed" }),
      'Upstash-Failure-Callback "http://[::1]:1/failed" is refused: destination address "::1" is denied by the egress policy (loopback)',
    );
    await expect400(
      await publish("/v2/publish/http://[64:ff9b::a9fe:a9fe]/meta"),
      'destination "http://[64:ff9b::a9fe:a9fe]/meta" is refused: destination address "64:ff9b::a9fe:a9fe" is denied by the egress policy (link-local, embeds 169.254.169.254)',
    );
    await expect400(
      await publish("/v2/publish/http://localhost:1/x"),
      'destination "http://localhost:1/x" is refused: destination host "localhost" is denied by the egress policy (loopback)',
    );
    await expect400(await publish("/v2/publish/http:///x"), 'invalid destination "http:///x": the host is missing');
    await expect400(
      await publish("/v2/publish/https://example.com/hook", { "Upstash-Callback": "http:///x" }),
      'invalid Upstash-Callback "http:///x": the host is missing',
    );

    const batch = await sluice.api("POST", "/v2/batch", {
      body: JSON.stringify([
        { destination: dest.url("/batch"), body: "a" },
        { destination: "https://example.com/hook", headers: { "Upstash-Failure-Callback": "http://198.18.0.1/" } },
      ]),
      headers: { "Content-Type": "application/json" },
    });
    expect(batch.status).toBe(200);
    expect(await batch.json()).toEqual([
      { error: `destination "${dest.url("/batch")}" is refused: ${LOOPBACK}` },
      {
        error:
          'Upstash-Failure-Callback "http://198.18.0.1/" is refused: destination address "198.18.0.1" is denied by the egress policy (benchmarking network)',
      },
    ]);
  });

  it("schedules, URL group endpoints and workflow triggers refuse a denied destination, naming the rule", async () => {
    const client = sluice.client();
    const scheduled = dest.url("/scheduled");
    await expect(client.schedules.create({ destination: scheduled, cron: "* * * * *" })).rejects.toThrow(
      sdkError(`destination "${scheduled}" is refused: ${LOOPBACK}`),
    );
    await expect(
      client.schedules.create({ destination: "https://example.com/tick", cron: "* * * * *", callback: "http://10.0.0.1/cb" }),
    ).rejects.toThrow(
      sdkError('Upstash-Callback "http://10.0.0.1/cb" is refused: destination address "10.0.0.1" is denied by the egress policy (private network)'),
    );

    const endpoint = dest.url("/group");
    await expect(
      client.urlGroups.addEndpoints({ name: "grp", endpoints: [{ url: "https://example.com/a" }, { url: endpoint }] }),
    ).rejects.toThrow(sdkError(`endpoint of URL group "grp" "${endpoint}" is refused: ${LOOPBACK}`));

    const wf = dest.url("/workflow");
    await expect400(await sluice.api("POST", `/v2/trigger/${wf}`, { body: "{}" }), `destination "${wf}" is refused: ${LOOPBACK}`);
    const batch = await sluice.api("POST", "/v2/batch/trigger", {
      body: JSON.stringify([{ destination: "https://example.com/wf" }, { destination: wf }]),
      headers: { "Content-Type": "application/json" },
    });
    await expect400(batch, `batch item 1: destination "${wf}" is refused: ${LOOPBACK}`);
  });

  it("nothing refused was stored or sent", async () => {
    const client = sluice.client();
    expect((await client.logs({})).logs).toEqual([]);
    expect(await client.schedules.list()).toEqual([]);
    expect(await client.urlGroups.list()).toEqual([]);
    expect(await client.queue().list()).toEqual([]);
    const runs = await (await sluice.api("GET", "/v2/workflows/logs")).json();
    expect(runs.runs).toEqual([]);
    expect(dest.requests).toEqual([]);
  });
});

describe("what the policy denies after a restart with a stricter one", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sluice-egress-"));
  dataDirs.push(dataDir);
  let byIp: string;
  let byName: string;
  let delayedId: string;
  let sluice: TestSluice;

  beforeAll(async () => {
    const port = await closedPort();
    const open = await startSluice({ dataDir });
    try {
      const client = open.client();
      await client.urlGroups.addEndpoints({ name: "grp", endpoints: [{ url: dest.url("/group") }] });
      const a = await client.publish({ url: `http://127.0.0.1:${port}/a`, body: "a", retries: 0 });
      const b = await client.publish({ url: `http://localhost:${port}/b`, body: "b", retries: 0 });
      byIp = (await dlqEntryOf(client, a.messageId)).dlqId;
      byName = (await dlqEntryOf(client, b.messageId)).dlqId;
      ({ messageId: delayedId } = await client.publish({ url: dest.url("/late"), body: "late", delay: 2, retries: 3 }));
    } finally {
      await open.close();
    }
    sluice = await startSluice({ dataDir, egress: serveEgress({ allowHosts: ["localhost"] }) });
  });
  afterAll(async () => sluice?.close());

  it("a publish to a URL group with a denied endpoint is refused", async () => {
    const before = (await sluice.client().logs({})).logs.length;
    await expect400(
      await sluice.api("POST", "/v2/publish/grp", { body: "x" }),
      `endpoint of URL group "grp" "${dest.url("/group")}" is refused: ${LOOPBACK}`,
    );
    expect((await sluice.client().logs({})).logs).toHaveLength(before);
  });

  it("a DLQ retry to a denied stored URL or callback override is refused, and the entries stay", async () => {
    const entryUrl = (await (await sluice.api("GET", `/v2/dlq/${byIp}`)).json()).url as string;
    const refusal = `destination "${entryUrl}" is refused: ${LOOPBACK}`;
    await expect400(await sluice.api("POST", `/v2/dlq/retry/${byIp}`), refusal);
    await expect400(
      await sluice.api("POST", `/v2/dlq/retry/${byName}`, { headers: { "Upstash-Failure-Callback": "http://127.0.0.1:1/f" } }),
      `Upstash-Failure-Callback "http://127.0.0.1:1/f" is refused: ${LOOPBACK}`,
    );
    await expect400(await sluice.api("POST", `/v2/dlq/retry?dlqIds=${byName}&dlqIds=${byIp}`), refusal);
    const ids = (await sluice.client().dlq.listMessages()).messages.map((m) => m.dlqId);
    expect(ids).toEqual(expect.arrayContaining([byIp, byName]));

    // The allowed name is retried: the check refuses only what the policy denies.
    const retried = await sluice.api("POST", `/v2/dlq/retry/${byName}`);
    expect(retried.status).toBe(201);
  });

  it("a message already stored fails its first attempt for good, without retries", async () => {
    const entry = await dlqEntryOf(sluice.client(), delayedId, 8000);
    expect(entry.error).toBe(LOOPBACK);
    const logs = await finalLogs(sluice.client(), delayedId);
    expect(logs.map((l) => l.state)).toEqual(["CREATED", "ACTIVE", "ERROR", "FAILED"]);
    expect(dest.at("/late")).toEqual([]);
  });
});

describe("refused after resolving", () => {
  let sluice: TestSluice;
  const settings = serveEgress({ allowHosts: ["localhost"] });
  beforeAll(async () => {
    sluice = await startSluice({ egress: settings });
  });
  afterAll(async () => sluice?.close());

  it("a host name resolving to a denied address goes to the DLQ on its first attempt, with the failure callback", async () => {
    // This machine's own name resolves locally (hosts file) to an address the policy denies.
    const name = hostname().toLowerCase();
    expect(name).not.toBe("localhost");
    const addresses = await lookup(name, { all: true });
    const policy = new EgressPolicy(settings);
    expect(policy.checkHost(name)).toBeUndefined();
    const reasons = addresses.map((a) => policy.checkAddress(a.address, name));
    expect(reasons.every((r) => r !== undefined)).toBe(true);

    const failures = await TestReceiver.start();
    try {
      const client = sluice.client();
      const { messageId } = await client.publish({
        url: `http://${name}:${dest.port}/resolved`,
        body: "x",
        retries: 3,
        failureCallback: `http://localhost:${failures.port}/failed`,
      });
      const error = `destination host "${name}" resolves to a refused address: ${reasons[0]}`;
      const entry = await dlqEntryOf(client, messageId);
      expect(entry.error).toBe(error);
      expect((await logsOf(client, messageId)).map((l) => l.state)).toEqual(["CREATED", "ACTIVE", "ERROR", "FAILED"]);
      const [callback] = await failures.waitFor(1);
      expect(callback.path).toBe("/failed");
      const payload = JSON.parse(callback.body.toString());
      expect(payload).toMatchObject({ status: 0, error, retried: 0, maxRetries: 3, dlqId: entry.dlqId, sourceMessageId: messageId });
      expect(dest.at("/resolved")).toEqual([]);
    } finally {
      await failures.close();
    }
  });
});

describe("allowing 127.0.0.0/8", () => {
  let sluice: TestSluice;
  beforeAll(async () => {
    sluice = await startSluice({ egress: serveEgress({ allowCidrs: ["127.0.0.0/8"] }) });
  });
  afterAll(async () => sluice?.close());

  it("allows localhost, but not ::1", async () => {
    await sluice.client().publish({ url: `http://localhost:${dest.port}/via-localhost`, body: "x" });
    const [arrived] = await eventually(() => dest.at("/via-localhost").length > 0 && dest.at("/via-localhost"));
    expect(arrived.body.toString()).toBe("x");
    await expect400(
      await sluice.api("POST", "/v2/publish/http://[::1]:1/x", { body: "x" }),
      `destination "http://[::1]:1/x" is refused: destination address "::1" is denied by the egress policy (loopback)`,
    );
  });
});

describe("Upstash-Timeout", () => {
  let sluice: TestSluice;
  beforeAll(async () => {
    sluice = await startSluice();
  });
  afterAll(async () => sluice?.close());

  it("bounds the whole attempt: a body trickled across the deadline ends the attempt at the deadline", async () => {
    // A byte every 900 ms never leaves a 1 s gap, so only a deadline over the whole attempt stops it at 1 s.
    const slow = await TestReceiver.start();
    slow.respond = () => ({ status: 200, body: "abcdefgh", trickleMs: 900 });
    try {
      const client = sluice.client();
      const { messageId } = await client.publish({ url: slow.url("/slow"), body: "x", timeout: 1, retries: 0 });
      const logs = await finalLogs(client, messageId, 8000);
      expect(logs.at(-1)).toMatchObject({ state: "FAILED", error: "attempt timed out after 1000ms" });
      const [req] = slow.requests;
      const closedAt = await eventually(() => req.closedAt);
      expect(closedAt - req.at).toBeGreaterThanOrEqual(900);
      expect(closedAt - req.at).toBeLessThan(1500);
    } finally {
      await slow.close();
    }
  });
});
