import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, gate } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";

/**
 * Guards of the tokenless workflow webhook (`context.createWebhook`): only webhooks a live run created, a bounded
 * body, a bounded count of events kept per run, and one answer for every URL it refuses.
 */

const BODY_LIMIT = 1024;
const EVENT_LIMIT = 3;
const NO_WEBHOOK = { error: "no such webhook: the URL is not one that a running workflow created" };

let sluice: TestSluice;
let host: WorkflowHost;

beforeAll(async () => {
  sluice = await startSluice({ limits: { maxWebhookBodyBytes: BODY_LIMIT, maxRunEvents: EVENT_LIMIT } });
  host = await WorkflowHost.start(sluice);
});
afterAll(async () => {
  await host.close();
  await sluice.close();
});

/** What `waitForWebhook` gave the run, reduced to what the tests compare. */
interface Seen {
  timeout: boolean;
  method?: string;
  body?: string;
}

/**
 * Serves a workflow that creates a webhook, shares its URL, holds at `hold` (if given) and then waits for
 * `waits` requests to it. Returns the run id, the webhook URL and what each wait got.
 */
async function webhookRun(path: string, waits: number, hold?: Promise<void>): Promise<{ runId: string; hookUrl: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const urls: string[] = [];
  const url = host.add(path, async (ctx) => {
    const hook = await ctx.createWebhook("make hook");
    await ctx.run("share", () => {
      urls.push(hook.webhookUrl);
    });
    if (hold) await ctx.run("hold", () => hold);
    for (let i = 0; i < waits; i++) {
      const r = await ctx.waitForWebhook(`call ${i}`, hook, "30s");
      await ctx.run(`read ${i}`, async () => {
        seen.push({ timeout: r.timeout, method: r.request?.method, body: r.request ? await r.request.text() : undefined });
      });
    }
  });
  const { workflowRunId } = await host.client().trigger({ url });
  const hookUrl = await eventually(() => urls[0], 10_000);
  return { runId: workflowRunId, hookUrl, seen };
}

const call = (url: string, init: RequestInit = {}) => fetch(url, { method: "POST", ...init });

/** The webhook URL with one of its path segments (user, run, event) replaced. */
function withSegment(hookUrl: string, which: "user" | "run" | "event", value: string): string {
  const u = new URL(hookUrl);
  const parts = u.pathname.split("/"); // ["", "v2", "workflows", "hooks", user, run, event]
  parts[{ user: 4, run: 5, event: 6 }[which]] = value;
  u.pathname = parts.join("/");
  return u.toString();
}

const keptEvents = (runId: string) => sluice.engine.store.countRunEvents("defaultUser", runId);

describe("webhook guards", () => {
  it("takes only webhooks the run created; an unknown user, run or webhook and an ended run all get the same 404", async () => {
    const other = await webhookRun("/guard-other", 1);
    const { runId, hookUrl, seen } = await webhookRun("/guard-own", 1);
    const otherEvent = new URL(other.hookUrl).pathname.split("/")[6];

    const refused = [
      withSegment(hookUrl, "event", "evt_madeup123456789"), // never created
      withSegment(hookUrl, "event", otherEvent), // created, but by another run
      withSegment(hookUrl, "run", "wfr_nosuchrun"),
      withSegment(hookUrl, "user", "nobody"),
      withSegment(hookUrl, "user", "testUser1"), // a user that exists, but not the run's
    ];
    for (const url of refused) {
      const r = await call(url, { body: "forged" });
      expect(r.status, url).toBe(404);
      expect(await r.json(), url).toEqual(NO_WEBHOOK);
    }
    // Nothing was kept for the refused requests, and no wait was answered by them.
    expect(await keptEvents(runId)).toBe(0);
    expect(await keptEvents(other.runId)).toBe(0);
    expect(seen).toEqual([]);

    const ok = await call(hookUrl, { body: "real" });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ workflowRunId: runId, eventId: new URL(hookUrl).pathname.split("/")[6] });
    await eventually(() => seen.length === 1, 10_000);
    expect(seen).toEqual([{ timeout: false, method: "POST", body: "real" }]);

    // Its only wait answered, the run ends: its own webhook is refused like any unknown one.
    await waitForRun(host.client(), runId);
    const late = await call(hookUrl, { body: "late" });
    expect(late.status).toBe(404);
    expect(await late.json()).toEqual(NO_WEBHOOK);
    expect(await keptEvents(runId)).toBe(0);

    // The other run still gets its own webhook.
    expect((await call(other.hookUrl, { method: "PUT", body: "mine" })).status).toBe(200);
    await eventually(() => other.seen.length === 1, 10_000);
    expect(other.seen).toEqual([{ timeout: false, method: "PUT", body: "mine" }]);
  });

  it("a body over maxWebhookBodyBytes gets 413 naming the setting, on any webhook URL; one at the limit arrives whole", async () => {
    const { runId, hookUrl, seen } = await webhookRun("/guard-size", 1);
    for (const url of [hookUrl, withSegment(hookUrl, "user", "nobody")]) {
      const big = await call(url, { body: "x".repeat(BODY_LIMIT + 1) });
      expect(big.status, url).toBe(413);
      expect((await big.json()).error).toMatch(/maxWebhookBodyBytes \(1024 bytes\)/);
    }
    expect(await keptEvents(runId)).toBe(0);
    expect(seen).toEqual([]);

    const atLimit = "y".repeat(BODY_LIMIT);
    expect((await call(hookUrl, { body: atLimit })).status).toBe(200);
    await eventually(() => seen.length === 1, 10_000);
    expect(seen[0].body).toBe(atLimit);
  });

  it("keeps at most maxRunEvents events for a run that does not wait yet; 429 for more, room again once it takes them", async () => {
    const hold = gate();
    const { runId, hookUrl, seen } = await webhookRun("/guard-count", EVENT_LIMIT + 1, hold.wait);
    try {
      for (let i = 0; i < EVENT_LIMIT; i++) expect((await call(hookUrl, { body: `early ${i}` })).status).toBe(200);
      expect(await keptEvents(runId)).toBe(EVENT_LIMIT);
      const over = await call(hookUrl, { body: "one too many" });
      expect(over.status).toBe(429);
      expect((await over.json()).error).toMatch(/maxRunEvents/);
      // The refused request was not kept.
      expect(await keptEvents(runId)).toBe(EVENT_LIMIT);
    } finally {
      hold.open();
    }
    // The run takes the kept events in order, then waits again: a new request is accepted and answers it.
    await eventually(() => seen.length === EVENT_LIMIT, 10_000);
    expect(seen.map((s) => s.body)).toEqual(["early 0", "early 1", "early 2"]);
    expect(await keptEvents(runId)).toBe(0);
    expect((await call(hookUrl, { body: "after" })).status).toBe(200);
    await eventually(() => seen.length === EVENT_LIMIT + 1, 10_000);
    expect(seen[EVENT_LIMIT].body).toBe("after");
  });
});
