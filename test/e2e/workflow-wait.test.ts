import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";
import { eventually, gate } from "../helpers/receiver.js";

let sluice: TestSluice;
let host: WorkflowHost;
let seq = 0;
const unique = (name: string): string => `${name}-${Date.now()}-${seq++}`;

beforeAll(async () => {
  sluice = await startSluice();
  host = await WorkflowHost.start(sluice);
});
afterAll(async () => {
  await host.close();
  await sluice.close();
});

/** Resolves after `ms`; only used to give a wrong second answer the time to show up. */
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("waitForEvent and notify", () => {
  it("delivers the notified data to the waiting run, lists the waiter until then", async () => {
    const eventId = unique("order-paid");
    const seen: unknown[] = [];
    const url = host.add("/wait-notify", async (ctx) => {
      const r = await ctx.waitForEvent("wait for payment", eventId, { timeout: "30s" });
      await ctx.run("record", () => {
        seen.push(r);
      });
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });

    const waiters = await eventually(async () => {
      const w = await client.getWaiters({ eventId });
      return w.length === 1 ? w : undefined;
    }, 10_000);
    expect(waiters[0].url).toBe(url);
    expect(waiters[0].timeoutUrl).toBe(url);
    const now = Date.now() / 1000;
    expect(waiters[0].deadline).toBeGreaterThan(now + 20);
    expect(waiters[0].deadline).toBeLessThanOrEqual(now + 31);
    expect(waiters[0].headers["upstash-workflow-runid"]).toEqual([workflowRunId]);
    expect(waiters[0].headers.authorization).toBeUndefined();

    // While it waits, the run's log shows the wait as what comes next.
    const [waiting] = (await client.logs({ workflowRunId })).runs as any[];
    const nextGroup = waiting.steps.find((g: any) => g.type === "next");
    expect(nextGroup.steps).toContainEqual(
      expect.objectContaining({ stepName: "wait for payment", stepType: "Wait", waitEventId: eventId, state: "STEP_PROGRESS" }),
    );

    const replies = (await client.notify({ eventId, eventData: { amount: 42 } })) as any[];
    expect(replies).toHaveLength(1);
    expect(replies[0].workflowRunId).toBe(workflowRunId);
    expect(replies[0].messageId).toMatch(/\S/);
    expect(replies[0].error).toBeUndefined();
    expect(typeof replies[0].workflowCreatedAt).toBe("number");
    expect(replies[0].waiter.url).toBe(url);

    await eventually(() => expect(seen).toEqual([{ eventData: { amount: 42 }, timeout: false }]), 10_000);
    expect(await client.getWaiters({ eventId })).toEqual([]);
    // Nobody waits any more: a plain notify is answered with an empty list and the event is dropped.
    expect(await client.notify({ eventId, eventData: "late" })).toEqual([]);
    // The run's log shows the Wait step with its event and the data it got.
    const log = await waitForRun(client, workflowRunId);
    const waitStep = log.steps.flatMap((g: any) => g.steps).find((s: any) => s.stepName === "wait for payment");
    expect(waitStep).toMatchObject({ stepType: "Wait", waitEventId: eventId, waitTimeout: false });
    expect(JSON.parse(Buffer.from(waitStep.out, "base64").toString())).toEqual({ amount: 42 });
  });

  it("ends the wait with timeout: true at its deadline", async () => {
    const eventId = unique("never");
    const seen: unknown[] = [];
    const url = host.add("/wait-timeout", async (ctx) => {
      const r = await ctx.waitForEvent("wait briefly", eventId, { timeout: "1s" });
      await ctx.run("record", () => {
        seen.push(r);
      });
    });
    const started = Date.now();
    await host.client().trigger({ url });
    await eventually(() => expect(seen).toEqual([{ eventData: undefined, timeout: true }]), 10_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(await host.client().getWaiters({ eventId })).toEqual([]);
  });

  it("keeps a run-scoped notify that comes before the wait, and answers the wait with it", async () => {
    const eventId = unique("early");
    const seen: unknown[] = [];
    const held = gate();
    const url = host.add("/lookback", async (ctx) => {
      await ctx.run("hold", async () => {
        await held.wait;
        return 1;
      });
      const r = await ctx.waitForEvent("wait", eventId, { timeout: "30s" });
      await ctx.run("record", () => {
        seen.push(r);
      });
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });
    // The run is not waiting yet: the event is kept for it.
    expect(await client.notify({ eventId, eventData: "came early", workflowRunId })).toEqual([]);
    held.open();
    await eventually(() => expect(seen).toEqual([{ eventData: "came early", timeout: false }]), 10_000);
    expect(await client.getWaiters({ eventId })).toEqual([]);
  });

  it("answers a waiting run through the run-scoped notify too", async () => {
    const eventId = unique("scoped");
    const seen: unknown[] = [];
    const url = host.add("/scoped", async (ctx) => {
      const r = await ctx.waitForEvent("wait", eventId, { timeout: 30 });
      await ctx.run("record", () => {
        seen.push(r);
      });
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });
    await eventually(async () => (await client.getWaiters({ eventId })).length === 1, 10_000);
    const replies = (await client.notify({ eventId, eventData: "now", workflowRunId })) as any[];
    expect(replies).toHaveLength(1);
    expect(replies[0].workflowRunId).toBe(workflowRunId);
    await eventually(() => expect(seen).toEqual([{ eventData: "now", timeout: false }]), 10_000);
  });

  it("context.notify in one workflow wakes another", async () => {
    const eventId = unique("ping");
    const waited: unknown[] = [];
    const notified: any[] = [];
    const waiterUrl = host.add("/ping-waiter", async (ctx) => {
      const r = await ctx.waitForEvent("wait for ping", eventId, { timeout: "30s" });
      await ctx.run("record", () => {
        waited.push(r);
      });
    });
    const notifierUrl = host.add("/ping-notifier", async (ctx) => {
      const res = await ctx.notify("ping", eventId, { from: "notifier" });
      await ctx.run("record", () => {
        notified.push(res);
      });
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url: waiterUrl });
    await eventually(async () => (await client.getWaiters({ eventId })).length === 1, 10_000);
    await client.trigger({ url: notifierUrl });
    await eventually(() => expect(waited).toEqual([{ eventData: { from: "notifier" }, timeout: false }]), 10_000);
    await eventually(() => expect(notified).toHaveLength(1), 10_000);
    expect(notified[0].eventId).toBe(eventId);
    expect(notified[0].eventData).toEqual({ from: "notifier" });
    expect(notified[0].notifyResponse).toHaveLength(1);
    expect(notified[0].notifyResponse[0].workflowRunId).toBe(workflowRunId);
  });

  it("a notify racing the deadline answers the wait exactly once", async () => {
    const eventId = unique("race");
    const seen: unknown[] = [];
    const url = host.add("/race", async (ctx) => {
      const r = await ctx.waitForEvent("wait", eventId, { timeout: "60s" });
      await ctx.run("record", () => {
        seen.push(r);
      });
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });
    const waiter = await eventually(async () => (await sluice.engine.store.listWaiters("defaultUser", eventId))[0], 10_000);
    const [, replies] = await Promise.all([sluice.waits.timeoutNow(waiter), client.notify({ eventId, eventData: "raced" })]);
    await eventually(() => seen.length === 1, 10_000);
    // Whichever won, the other found the waiter gone: one answer step in the run, one outcome seen.
    const entries = await sluice.engine.store.getRunEntries("defaultUser", workflowRunId);
    const answers = entries.filter((e) => JSON.parse(e.body.toString("utf8") || "{}").stepName === "wait");
    expect(answers).toHaveLength(1);
    expect((replies as unknown[]).length).toBeLessThanOrEqual(1);
    expect(seen[0]).toEqual((replies as unknown[]).length ? { eventData: "raced", timeout: false } : { eventData: undefined, timeout: true });
    await pause(300);
    expect(seen).toHaveLength(1);
  });
});

describe("webhooks", () => {
  it("delivers requests to the webhook URL to waitForWebhook, before and after the wait", async () => {
    const hookUrls: string[] = [];
    const seen: any[] = [];
    const url = host.add("/webhook", async (ctx) => {
      const hook = await ctx.createWebhook("make hook");
      await ctx.run("share", () => {
        hookUrls.push(hook.webhookUrl);
      });
      for (const name of ["first call", "second call", "third call"]) {
        const r = await ctx.waitForWebhook(name, hook, "30s");
        await ctx.run(`read ${name}`, async () => {
          seen.push({
            timeout: r.timeout,
            method: r.request!.method,
            url: r.request!.url,
            contentType: r.request!.headers.get("content-type"),
            custom: r.request!.headers.get("x-custom"),
            body: await r.request!.text(),
          });
        });
      }
    });
    const { workflowRunId } = await host.client().trigger({ url });
    const hookUrl = await eventually(() => hookUrls[0], 10_000);
    expect(hookUrl).toMatch(new RegExp(`^${sluice.url}/v2/workflows/hooks/defaultUser/${workflowRunId}/evt_`));

    // No token: the URL itself is the credential.
    const post = await fetch(hookUrl, {
      method: "POST",
      headers: { "content-type": "application/json", "x-custom": "yes" },
      body: JSON.stringify({ hello: "world" }),
    });
    expect(post.status).toBe(200);
    expect(await post.json()).toMatchObject({ workflowRunId });
    // Probably before the second wait: kept for it.
    const get = await fetch(`${hookUrl}?page=2`);
    expect(get.status).toBe(200);

    // Any method and content type: the body is taken as bytes.
    const put = await fetch(hookUrl, { method: "PUT", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "a=1&b=%C3%A9" });
    expect(put.status).toBe(200);

    await eventually(() => expect(seen).toHaveLength(3), 10_000);
    expect(seen[0]).toEqual({
      timeout: false,
      method: "POST",
      url: `${hookUrl}`,
      contentType: "application/json",
      custom: "yes",
      body: JSON.stringify({ hello: "world" }),
    });
    expect(seen[1]).toMatchObject({ timeout: false, method: "GET", url: `${hookUrl}?page=2`, body: "" });
    expect(seen[2]).toMatchObject({ timeout: false, method: "PUT", contentType: "application/x-www-form-urlencoded", body: "a=1&b=%C3%A9" });
  });

  it("waitForWebhook times out without a request", async () => {
    const seen: unknown[] = [];
    const url = host.add("/webhook-timeout", async (ctx) => {
      const hook = await ctx.createWebhook("make hook");
      const r = await ctx.waitForWebhook("wait", hook, "1s");
      await ctx.run("record", () => {
        seen.push({ timeout: r.timeout, request: r.request });
      });
    });
    await host.client().trigger({ url });
    await eventually(() => expect(seen).toEqual([{ timeout: true, request: undefined }]), 10_000);
  });
});

describe("bad input", () => {
  it("refuses what it cannot use, with JSON errors", async () => {
    const notify = await sluice.api("POST", "/v2/notify/wfr_nope/some-event", { body: "x" });
    expect(notify.status).toBe(400);
    expect((await notify.json()).error).toMatch(/wfr_nope/);
    await expect(host.client().notify({ eventId: "e", eventData: 1, workflowRunId: "wfr_nope" })).rejects.toMatchObject({ status: 400 });

    const badJson = await sluice.api("POST", "/v2/wait/e1", { body: "{not json", headers: { "content-type": "application/json" } });
    expect(badJson.status).toBe(400);
    expect((await badJson.json()).error).toMatch(/JSON/);

    const wait = (body: unknown, headers: Record<string, string> = { "upstash-workflow-runid": "wfr_nope" }) =>
      sluice.api("POST", "/v2/wait/e1", { body: JSON.stringify(body), headers: { "content-type": "application/json", ...headers } });
    const step = { stepId: 1, stepName: "w", stepType: "Wait", concurrent: 1 };
    expect((await wait({ step, timeout: "1s" })).status).toBe(400); // no url
    expect((await wait({ url: "http://127.0.0.1:1/x", timeout: "1s" })).status).toBe(400); // no step
    expect((await wait({ url: "http://127.0.0.1:1/x", step, timeout: "soon" })).status).toBe(400);
    expect((await wait({ url: "http://127.0.0.1:1/x", step, timeout: -1 })).status).toBe(400);
    const over = await wait({ url: "http://127.0.0.1:1/x", step, timeout: "400d" });
    expect(over.status).toBe(412);
    expect((await over.json()).error).toMatch(/maxWaitTimeout/);
    const unknownRun = await wait({ url: "http://127.0.0.1:1/x", step, timeout: "1s" });
    expect(unknownRun.status).toBe(400);
    expect((await unknownRun.json()).error).toMatch(/wfr_nope/);
    expect((await wait({ url: "http://127.0.0.1:1/x", step, timeout: "1s" }, {})).status).toBe(400); // no run id

    const hookNoUser = await sluice.api("POST", "/v2/workflows/hooks/nobody/wfr_x/evt_x", { body: "{}", token: null });
    expect(hookNoUser.status).toBe(404);
    expect((await hookNoUser.json()).error).toBeTruthy();
    const hookNoRun = await sluice.api("GET", "/v2/workflows/hooks/defaultUser/wfr_x/evt_x", { token: null });
    expect(hookNoRun.status).toBe(404);
    // Only the webhook route is open: its neighbours still need a token.
    expect((await sluice.api("GET", "/v2/workflows/hooks/defaultUser/wfr_x", { token: null })).status).toBe(401);
    expect((await sluice.api("GET", "/v2/waiters/e1", { token: null })).status).toBe(401);
  });
});

describe("across a restart", () => {
  it("keeps waiters: one times out after the restart, another is notified", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "sluice-wait-restart-"));
    let first: TestSluice | undefined = await startSluice({ dataDir });
    let second: TestSluice | undefined;
    const h = await WorkflowHost.start(first);
    try {
      const shortEvent = unique("short");
      const longEvent = unique("long");
      const seen: Record<string, unknown> = {};
      const shortUrl = h.add("/short", async (ctx) => {
        const r = await ctx.waitForEvent("wait", shortEvent, { timeout: "2s" });
        await ctx.run("record", () => {
          seen.short = r;
        });
      });
      const longUrl = h.add("/long", async (ctx) => {
        const r = await ctx.waitForEvent("wait", longEvent, { timeout: "60s" });
        await ctx.run("record", () => {
          seen.long = r;
        });
      });
      const client = h.client();
      await client.trigger({ url: shortUrl });
      await client.trigger({ url: longUrl });
      await eventually(async () => (await client.getWaiters({ eventId: shortEvent })).length === 1, 10_000);
      await eventually(async () => (await client.getWaiters({ eventId: longEvent })).length === 1, 10_000);
      const port = first.port;
      await first.close();
      first = undefined;
      // Same port: the served workflows keep talking to the URL they were given.
      second = await startSluice({ dataDir, port });
      expect(await client.notify({ eventId: longEvent, eventData: "after restart" })).toHaveLength(1);
      await eventually(() => expect(seen).toEqual({ long: { eventData: "after restart", timeout: false }, short: { eventData: undefined, timeout: true } }), 10_000);
    } finally {
      await h.close();
      await first?.close();
      await second?.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
