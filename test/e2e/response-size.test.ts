import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";

/** A destination's response over maxResponseBodyBytes: a `context.call` fails saying so; a plain delivery stands. */
const LIMIT = 1024;
let sluice: TestSluice;
let host: WorkflowHost;
let receiver: TestReceiver;
beforeAll(async () => {
  sluice = await startSluice({ limits: { maxResponseBodyBytes: LIMIT } });
  [host, receiver] = await Promise.all([WorkflowHost.start(sluice), TestReceiver.start()]);
  receiver.respond = (req) => {
    if (req.path === "/big") return { status: 200, body: "y".repeat(LIMIT + 500) };
    if (req.path === "/exact") return { status: 200, body: "z".repeat(LIMIT) };
    return { status: 200, body: "ok" };
  };
});
afterAll(async () => {
  await Promise.all([host.close(), receiver.close(), sluice.close()]);
});

const overLimit = `response body is larger than the configured limit maxResponseBodyBytes (${LIMIT} bytes)`;

describe("maxResponseBodyBytes", () => {
  it("a context.call answered with more fails with an error that says so; a body of exactly the limit goes through whole", async () => {
    const results: unknown[] = [];
    const url = host.add("/call-big", async (ctx) => {
      const big = await ctx.call("big", { url: receiver.url("/big"), method: "GET", retries: 0 });
      const exact = await ctx.call("exact", { url: receiver.url("/exact"), method: "GET", retries: 0 });
      results.push({ big: { status: big.status, body: big.body }, exactLength: String(exact.body).length, exactStatus: exact.status });
    });
    const { workflowRunId } = await host.client().trigger({ url });
    await waitForRun(host.client(), workflowRunId, ["RUN_SUCCESS"], 15_000);
    expect(results).toEqual([{ big: { status: 0, body: `${overLimit}: the call fails` }, exactLength: LIMIT, exactStatus: 200 }]);
  }, 20_000);

  it("the failed call's log keeps a cut preview and names the limit", async () => {
    const logs = (await (await sluice.api("GET", `/v2/events?url=${encodeURIComponent(receiver.url("/big"))}`)).json()) as {
      events: { state: string; error?: string; responseStatus?: number; responseBody?: string }[];
    };
    const error = logs.events.find((e) => e.state === "ERROR");
    expect(error?.error).toBe(`${overLimit}: the call fails`);
    expect(error?.responseStatus).toBe(200);
    expect(Buffer.from(error?.responseBody ?? "", "base64").toString()).toBe("y".repeat(LIMIT));
  });

  it("a plain message answered with more is delivered; its callback carries the first bytes, flagged bodyTruncated", async () => {
    const res = await sluice.api("POST", `/v2/publish/${receiver.url("/big")}`, { body: "x", headers: { "Upstash-Callback": receiver.url("/cb") } });
    expect(res.status).toBe(200);
    const cb = await eventually(() => {
      const hit = receiver.requests.find((r) => r.path === "/cb");
      expect(hit).toBeDefined();
      return JSON.parse(hit!.body.toString("utf8")) as { status: number; body: string; bodyTruncated?: boolean };
    });
    expect({ status: cb.status, length: Buffer.from(cb.body, "base64").length, bodyTruncated: cb.bodyTruncated }).toEqual({ status: 200, length: LIMIT, bodyTruncated: true });
  });
});
