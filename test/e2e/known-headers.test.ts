import { Client } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UNKNOWN_HEADERS_RESPONSE_HEADER } from "../../src/http/unknown-headers.js";
import { RecordingProxy } from "../helpers/recording-proxy.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";

/**
 * Unknown `Upstash-*` headers are reported, never silently dropped; every header the two official SDKs send is
 * known (captured through a proxy in front of the real server), so strict mode never refuses an SDK.
 */
let sluice: TestSluice;
let strict: TestSluice;
let receiver: TestReceiver;
beforeAll(async () => {
  [sluice, strict, receiver] = await Promise.all([startSluice(), startSluice({ rejectUnknownHeaders: true }), TestReceiver.start()]);
});
afterAll(async () => {
  await Promise.all([sluice.close(), strict.close(), receiver.close()]);
});

const reported = (res: Response): string | null => res.headers.get(UNKNOWN_HEADERS_RESPONSE_HEADER);

describe("unknown Upstash-* headers", () => {
  it("a publish with typos is accepted and the answer names them", async () => {
    const res = await sluice.api("POST", `/v2/publish/${receiver.url("/typo")}`, {
      body: "x",
      headers: { "Upstash-Delays": "10s", "Upstash-Foward-X": "1", "Upstash-Callback-Retrys": "2", "Upstash-Forward-Ok": "1", "Upstash-Retries": "0" },
    });
    expect(res.status).toBe(200);
    expect(reported(res)).toBe("Upstash-Delays, Upstash-Foward-X, Upstash-Callback-Retrys");
  });

  it("a publish with only known headers carries no report", async () => {
    const res = await sluice.api("POST", `/v2/publish/${receiver.url("/fine")}`, { body: "x", headers: { "Upstash-Delay": "1s", "Upstash-Callback-Retries": "1" } });
    expect(res.status).toBe(200);
    expect(reported(res)).toBeNull();
  });

  it("batch items' headers are judged too", async () => {
    const res = await sluice.api("POST", "/v2/batch", {
      body: JSON.stringify([{ destination: receiver.url("/b0"), headers: { "Upstash-Retrys": "1" } }, { destination: receiver.url("/b1") }]),
      headers: { "Content-Type": "application/json" },
    });
    expect(res.status).toBe(200);
    expect(reported(res)).toBe("Upstash-Retrys");
  });

  it("with rejectUnknownHeaders, a typo is a 400 naming it and nothing is stored", async () => {
    const res = await strict.api("POST", `/v2/publish/${receiver.url("/strict")}`, { body: "x", headers: { "Upstash-Delays": "10s" } });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "unknown Upstash header Upstash-Delays (rejectUnknownHeaders is on; check the spelling)" });
    const schedule = await strict.api("POST", `/v2/schedules/${receiver.url("/s")}`, { headers: { "Upstash-Cron": "* * * * *", "Upstash-Crons": "x" } });
    expect(schedule.status).toBe(400);
    const logs = (await (await strict.api("GET", "/v2/events")).json()) as { events: unknown[] };
    const schedules = (await (await strict.api("GET", "/v2/schedules")).json()) as unknown[];
    expect({ events: logs.events, schedules }).toEqual({ events: [], schedules: [] });
  });
});

describe("every header the official SDKs send is known", () => {
  it("qstash SDK (publish, batch, enqueue, schedules, URL groups) and workflow SDK (trigger, steps, calls, sleep)", async () => {
    const proxy = await RecordingProxy.start(strict.url);
    const host = await WorkflowHost.start({ ...strict, url: proxy.url } as TestSluice);
    try {
      const qstash = new Client({ baseUrl: proxy.url, token: strict.token() });
      const dest = receiver.url("/sdk");
      const options = {
        url: dest,
        body: { a: 1 },
        headers: { "X-Custom": "1" },
        delay: 1,
        retries: 1,
        retryDelay: "1000",
        timeout: 5,
        callback: receiver.url("/cb"),
        failureCallback: receiver.url("/fcb"),
        deduplicationId: "dedup-1",
        label: "sdk",
        method: "POST" as const,
        flowControl: { key: "fc", parallelism: 2, rate: 10, period: 1 },
        redact: { body: true as const },
      };
      await qstash.publishJSON(options);
      await qstash.publishJSON({ url: dest, body: 1, contentBasedDeduplication: true, notBefore: Math.floor(Date.now() / 1000) + 60 });
      await qstash.batchJSON([options, { url: dest, body: 2, queueName: "q-sdk" }]);
      await qstash.queue({ queueName: "q-sdk" }).enqueueJSON({ url: dest, body: 3, retries: 0 });
      await qstash.schedules.create({ destination: dest, cron: "0 0 1 1 *", retries: 1, callback: receiver.url("/cb"), scheduleId: "sdk-schedule", delay: 5, timeout: 5, label: "sdk" });
      await qstash.urlGroups.addEndpoints({ name: "g-sdk", endpoints: [{ url: dest }] });
      await qstash.publishJSON({ urlGroup: "g-sdk", body: 4 });

      receiver.respond = (req) => (req.path === "/api" ? { status: 200, body: '{"answer":42}', headers: { "content-type": "application/json" } } : { status: 200, body: "ok" });
      const url = host.add(
        "/wf",
        async (ctx) => {
          const a = await ctx.run("first", () => "one");
          const call = await ctx.call("api", { url: receiver.url("/api"), method: "POST", body: JSON.stringify({ q: a }), retries: 0, headers: { "X-Call": "1" } });
          await Promise.all([ctx.run("left", () => 1), ctx.run("right", () => 2)]);
          await ctx.sleep("nap", 1);
          return call.status;
        },
        { disableTelemetry: false },
      );
      const { workflowRunId } = await host.client().trigger({ url, body: "go", retries: 1, label: "wf", flowControl: { key: "wf-fc", parallelism: 1 } });
      await waitForRun(host.client(), workflowRunId, ["RUN_SUCCESS"], 15_000);

      const names = new Set(proxy.requests.flatMap((r) => [...Object.keys(r.headers), ...r.itemHeaderNames]).filter((n) => n.startsWith("upstash-")));
      // The capture saw the families that matter, so an empty report is not an empty capture.
      for (const expected of ["upstash-telemetry-sdk", "upstash-workflow-runid", "upstash-callback-workflow-url", "upstash-flow-control-key", "upstash-cron", "upstash-feature-set"]) {
        expect(names).toContain(expected);
      }
      const refused = proxy.requests.filter((r) => r.status === 400 || r.responseHeaders[UNKNOWN_HEADERS_RESPONSE_HEADER.toLowerCase()]);
      expect(refused.map((r) => ({ path: r.path, status: r.status, unknown: r.responseHeaders[UNKNOWN_HEADERS_RESPONSE_HEADER.toLowerCase()] }))).toEqual([]);
      await eventually(() => expect(receiver.requests.some((r) => r.path === "/api")).toBe(true));
    } finally {
      await host.close();
      await proxy.close();
    }
  }, 30_000);
});
