import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";

let sluice: TestSluice;
let host: WorkflowHost;
let third: TestReceiver;

beforeAll(async () => {
  sluice = await startSluice();
  host = await WorkflowHost.start(sluice);
  third = await TestReceiver.start();
});
afterAll(async () => {
  await host.close();
  await third.close();
  await sluice.close();
});

const stepsOf = (log: any) => log.steps.flatMap((g: any) => g.steps.map((s: any) => ({ group: g.type, ...s })));

describe("workflow steps end to end", () => {
  it("context.run: results are memoised, each step runs once, and the log shows every step", async () => {
    const runs: Record<string, number> = {};
    const url = host.add("/run", async (ctx) => {
      const a = await ctx.run("first", () => {
        runs.first = (runs.first ?? 0) + 1;
        return { n: (ctx.requestPayload as any).n + 1 };
      });
      const b = await ctx.run("second", () => {
        runs.second = (runs.second ?? 0) + 1;
        return a.n * 10;
      });
      return { b };
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url, body: { n: 1 } });
    const log = await waitForRun(client, workflowRunId);
    expect(runs).toEqual({ first: 1, second: 1 });
    expect(log.workflowRunResponse).toBe(JSON.stringify({ b: 20 }));
    expect(log.workflowUrl).toBe(url);
    expect(log.workflowRunCompletedAt).toBeGreaterThanOrEqual(log.workflowRunCreatedAt);
    const steps = stepsOf(log);
    expect(steps.map((s: any) => [s.stepName, s.stepType, s.state])).toEqual([
      ["init", "Initial", "STEP_SUCCESS"],
      ["first", "Run", "STEP_SUCCESS"],
      ["second", "Run", "STEP_SUCCESS"],
    ]);
    expect(steps[0].out).toBe(JSON.stringify({ n: 1 }));
    expect(steps[1].out).toBe(JSON.stringify({ n: 2 }));
    // Deliveries carry the run's id and creation time and verify with the SDK's Receiver (the host rejects others with 500).
    const hits = host.hitsTo("/run");
    expect(hits.length).toBe(3);
    for (const h of hits) {
      expect(h.status).toBe(200);
      expect(h.headers["upstash-workflow-runid"]).toBe(workflowRunId);
      expect(h.headers["upstash-workflow-createdat"]).toBe(String(log.workflowRunCreatedAt));
      expect(h.headers["upstash-workflow-sdk-version"]).toBe("1");
    }
  });

  it("sleep and sleepUntil delay the next delivery", async () => {
    const times: number[] = [];
    const url = host.add("/sleep", async (ctx) => {
      await ctx.run("t0", () => times.push(Date.now()));
      await ctx.sleep("nap", 1);
      await ctx.run("t1", () => times.push(Date.now()));
      // Whole seconds: the wire format of sleepUntil is unix seconds.
      const until = await ctx.run("target", () => (Math.floor(Date.now() / 1000) + 2) * 1000);
      await ctx.sleepUntil("until", new Date(until));
      await ctx.run("t2", () => times.push(Date.now() - until));
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });
    const log = await waitForRun(client, workflowRunId, ["RUN_SUCCESS"], 15_000);
    expect(times.length).toBe(3);
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(950);
    // t2 holds how long after the target time it ran.
    expect(times[2]).toBeGreaterThanOrEqual(0);
    expect(times[2]).toBeLessThan(1000);
    const steps = stepsOf(log);
    expect(steps.find((s: any) => s.stepName === "nap")).toMatchObject({ stepType: "SleepFor", sleepFor: 1 });
    expect(steps.find((s: any) => s.stepName === "until")).toMatchObject({ stepType: "SleepUntil" });
  });

  it("parallel steps run each branch once and are logged as one parallel group", async () => {
    const ran: string[] = [];
    const url = host.add("/parallel", async (ctx) => {
      const [a, b, c] = await Promise.all([
        ctx.run("a", () => (ran.push("a"), 1)),
        ctx.run("b", () => (ran.push("b"), 2)),
        ctx.sleep("c", 1),
      ]);
      return (a as number) + (b as number) + (c === undefined ? 0 : 100);
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });
    const log = await waitForRun(client, workflowRunId, ["RUN_SUCCESS"], 15_000);
    expect(ran.sort()).toEqual(["a", "b"]);
    expect(log.workflowRunResponse).toBe("3");
    const parallel = log.steps.find((g: any) => g.type === "parallel");
    expect(parallel.steps.map((s: any) => s.stepName).sort()).toEqual(["a", "b", "c"]);
  });

  it("context.call: Sluice makes the third-party call and hands the response back", async () => {
    third.respond = (req) => ({ status: 201, headers: { "content-type": "application/json" }, body: JSON.stringify({ echo: req.body.toString(), m: req.method }) });
    let got: any;
    const url = host.add("/call", async (ctx) => {
      got = await ctx.call("ask", { url: third.url("/api?x=1"), method: "PUT", body: JSON.stringify({ q: 1 }), headers: { "x-key": "k" } });
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });
    const log = await waitForRun(client, workflowRunId);
    expect(got.status).toBe(201);
    expect(got.body).toEqual({ echo: JSON.stringify({ q: 1 }), m: "PUT" });
    const req = third.requests.find((r) => r.path === "/api?x=1")!;
    expect(req.headers["x-key"]).toBe("k");
    // The third party gets the user's headers, not the run's protocol headers.
    expect(req.headers["upstash-workflow-sdk-version"]).toBeUndefined();
    // The call's callback reaches the endpoint without the SDK's protocol header (its body is not a step list).
    const callback = host.hitsTo("/call").find((h) => h.headers["upstash-workflow-callback"]);
    expect(callback).toBeDefined();
    expect(callback!.headers["upstash-workflow-sdk-version"]).toBeUndefined();
    expect(callback!.headers["upstash-workflow-runid"]).toBe(workflowRunId);
    const call = stepsOf(log).find((s: any) => s.stepName === "ask");
    expect(call).toMatchObject({ stepType: "Call", callUrl: third.url("/api?x=1"), callMethod: "PUT", callResponseStatus: 201 });
  });

  it("context.call with retries: failed attempts are retried and the last response is the call's result", async () => {
    let attempts = 0;
    third.respond = (req) => (req.path === "/flaky" ? (attempts++, { status: 503, body: "busy" }) : { status: 200, body: "ok" });
    let got: any;
    const url = host.add("/call-retries", async (ctx) => {
      got = await ctx.call("flaky", { url: third.url("/flaky"), method: "GET", retries: 2, retryDelay: "50" } as any);
      await ctx.run("after", () => "still running");
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });
    const log = await waitForRun(client, workflowRunId);
    expect(attempts).toBe(3);
    expect(got).toMatchObject({ status: 503, body: "busy" });
    // The result goes back once, after the final attempt (DECISIONS #19), not once per attempt.
    expect(host.hitsTo("/call-retries").filter((h) => h.headers["upstash-workflow-callback"]).length).toBe(1);
    expect(log.steps.flatMap((g: any) => g.steps).find((s: any) => s.stepName === "flaky")).toMatchObject({ callResponseStatus: 503 });
  });

  it("a context.call under way shows in the log's next group with where it goes", async () => {
    third.respond = (req) => (req.path === "/slow" ? { status: 200, body: "late", delayMs: 1500 } : { status: 200, body: "ok" });
    const url = host.add("/call-slow", async (ctx) => {
      await ctx.call("slow", { url: third.url("/slow"), method: "POST", body: "x" });
    });
    const client = host.client();
    const { workflowRunId } = await client.trigger({ url });
    const pending = await eventually(async () => {
      const { runs } = await client.logs({ workflowRunId });
      const next = runs[0]?.steps.find((g: any) => g.type === "next");
      return next?.steps.find((s: any) => s.callType === "toCallback");
    }, 5000);
    expect(pending).toMatchObject({ callUrl: third.url("/slow"), callMethod: "POST", state: "STEP_PROGRESS" });
    await waitForRun(client, workflowRunId);
  });

  it("trigger options: labels, forwarded headers on every delivery, retries and delay from the trigger", async () => {
    let labels: string[] | undefined;
    let header: string | null = null;
    const url = host.add("/opts", async (ctx) => {
      await ctx.run("one", () => 1);
      await ctx.run("two", () => {
        labels = ctx.labels;
        header = ctx.headers.get("x-custom");
      });
    });
    const client = host.client();
    const before = Date.now();
    const { workflowRunId } = await client.trigger({ url, headers: { "x-custom": "abc" }, label: "alpha", delay: 1, retries: 5 });
    const log = await waitForRun(client, workflowRunId);
    expect(labels).toEqual(["alpha"]);
    expect(header).toBe("abc");
    expect(log.labels).toEqual(["alpha"]);
    const hits = host.hitsTo("/opts");
    expect(hits[0].headers["x-custom"]).toBe("abc");
    expect(hits.every((h) => h.headers["x-custom"] === "abc")).toBe(true);
    expect(stepsOf(log)[0].createdAt).toBeGreaterThanOrEqual(before);
    // The first delivery waited for the delay.
    expect(Number(hits[0].headers["upstash-workflow-createdat"]) + 900).toBeLessThanOrEqual(Date.now());
    // WF_TriggerOnConfig: the steps inherit the trigger's retries.
    expect(stepsOf(log).filter((s: any) => s.stepType === "Run").every((s: any) => s.retries === 5)).toBe(true);
    const filtered = await client.logs({ label: "alpha" } as any);
    expect(filtered.runs.map((r: any) => r.workflowRunId)).toContain(workflowRunId);
  });

  it("re-triggering an active run id is deduplicated", async () => {
    const url = host.add("/dedup", async (ctx) => {
      await ctx.sleep("long", 5);
    });
    const client = host.client();
    await client.trigger({ url, workflowRunId: "same-id" });
    const res = await sluice.api("POST", "/v2/batch", {
      body: JSON.stringify([
        {
          destination: url,
          headers: { "upstash-workflow-init": "true", "upstash-workflow-runid": "wfr_same-id", "upstash-workflow-url": url },
          body: "again",
        },
      ]),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(200);
    const [item] = await res.json();
    expect(item.deduplicated).toBe(true);
    await client.cancel({ ids: "wfr_same-id" });
  });
});
