import { QstashError } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quietSdkErrors } from "../helpers/quiet.js";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

/**
 * Numbers out of range and JSON nested too deep are refused with a 400 naming the field before anything is
 * written: nothing is created or changed, nothing is delivered, and the server keeps serving (SDK where the
 * SDK can send the value, raw requests otherwise).
 */

let sluice: TestSluice;
let dest: TestReceiver;

beforeAll(async () => {
  quietSdkErrors();
  [sluice, dest] = await Promise.all([startSluice(), TestReceiver.start()]);
});
afterAll(async () => {
  await sluice?.close();
  await dest?.close();
});

const JSON_HEADERS = { "content-type": "application/json" };
const DEEP = 20_000;
const deepArray = (n = DEEP): string => "[".repeat(n) + "]".repeat(n);

async function rejected(p: Promise<unknown>, status: number): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(QstashError);
  expect((err as QstashError).status).toBe(status);
  return (err as QstashError).message;
}

async function jsonError(res: Response, status: number): Promise<string> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/application\/json/);
  const { error } = (await res.json()) as { error: unknown };
  expect(typeof error).toBe("string");
  return error as string;
}

/** The server still answers, and (with a token) still serves the user. */
async function stillServing(): Promise<void> {
  expect((await sluice.api("GET", "/v2/queues")).status).toBe(200);
}

describe("queue parallelism", () => {
  it.each([1e308, 1_000_001, 0, -1, 1.5])("upsert with parallelism %d is a 400 naming parallelism, and creates no queue", async (parallelism) => {
    const queueName = `range-${String(parallelism).replace(/[^0-9a-z]/gi, "_")}`;
    const msg = await rejected(sluice.client().queue({ queueName }).upsert({ parallelism }), 400);
    expect(msg).toMatch(/parallelism must be an integer from 1 to 1000000/);
    await rejected(sluice.client().queue({ queueName }).get(), 404);
  });

  it("a bad upsert leaves an existing queue as it was; the largest parallelism is accepted", async () => {
    const queue = sluice.client().queue({ queueName: "range-existing" });
    await queue.upsert({ parallelism: 2 });
    await rejected(queue.upsert({ parallelism: 1e308 }), 400);
    expect((await queue.get()).parallelism).toBe(2);
    await queue.upsert({ parallelism: 1_000_000 });
    expect((await queue.get()).parallelism).toBe(1_000_000);
  });
});

describe("flow control", () => {
  it("pin with parallelism or rate out of range is a 400 naming it and pins nothing", async () => {
    const key = "range-pin";
    await sluice.client().publish({ url: dest.url("/pin"), body: "x", flowControl: { key, parallelism: 2 } });
    await dest.waitFor(1);
    for (const bad of [{ parallelism: 1e308 }, { parallelism: 1_000_001 }, { rate: 1_000_001 }]) {
      const msg = await rejected(sluice.client().flowControl.pin(key, bad), 400);
      expect(msg).toMatch(new RegExp(`invalid ${Object.keys(bad)[0]} .*expected an integer from 1 to 1000000`));
    }
    const info = await sluice.client().flowControl.get(key);
    expect(info).toMatchObject({ parallelismMax: 2, isPinnedParallelism: false, isPinnedRate: false });
  });

  it.each([
    ["parallelism", `parallelism=1${"0".repeat(400)}`],
    ["parallelism", "parallelism=1000001"],
    ["rate", "rate=1000001, period=1s"],
  ])("Upstash-Flow-Control-Value with %s out of range is a 400 and publishes nothing", async (field, value) => {
    const before = dest.requests.length;
    const res = await sluice.api("POST", `/v2/publish/${dest.url("/fc-range")}`, {
      body: "x",
      headers: { "Upstash-Flow-Control-Key": "range-fc", "Upstash-Flow-Control-Value": value },
    });
    expect(await jsonError(res, 400)).toContain(`${field} must be an integer from 1 to 1000000`);
    await rejected(sluice.client().flowControl.get("range-fc"), 404);
    expect(dest.requests.length).toBe(before);
  });
});

describe("retry-delay expressions", () => {
  it.each([
    ["division by zero", "1000 / retried", /is infinite .* when retried is 0/],
    ["NaN", "0 / 0", /is not a number .* when retried is 0/],
    ["overflow", "pow(10, 400)", /is infinite/],
    ["huge literal", "9".repeat(400), /is infinite/],
  ])("a publish whose delay is %s is a 400 naming Upstash-Retry-Delay and is not stored", async (_label, retryDelay, reason) => {
    const url = dest.url(`/retry-delay/${encodeURIComponent(_label)}`);
    const msg = await rejected(sluice.client().publish({ url, body: "x", retryDelay }), 400);
    expect(msg).toMatch(/Upstash-Retry-Delay/);
    expect(msg).toMatch(reason);
    const { logs } = await sluice.client().logs({ filter: { url } });
    expect(logs).toEqual([]);
  });

  it("a schedule whose delay divides by zero is a 400 and no schedule is created", async () => {
    const before = (await sluice.client().schedules.list()).length;
    const msg = await rejected(
      sluice.client().schedules.create({ destination: dest.url("/sched"), cron: "* * * * *", retryDelay: "1000 / (retried - 1)", retries: 3 }),
      400,
    );
    expect(msg).toMatch(/Upstash-Retry-Delay.*is infinite .* when retried is 1/);
    expect((await sluice.client().schedules.list()).length).toBe(before);
  });

  it("a batch item whose delay divides by zero gets its error; the other item is published", async () => {
    const res = await sluice.api("POST", "/v2/batch", {
      headers: JSON_HEADERS,
      body: JSON.stringify([
        { destination: dest.url("/batch-bad"), headers: { "Upstash-Retry-Delay": "1 / 0" }, body: "x" },
        { destination: dest.url("/batch-good"), body: "y" },
      ]),
    });
    expect(res.status).toBe(200);
    const [bad, good] = (await res.json()) as [{ error: string }, { messageId: string }];
    expect(bad.error).toMatch(/Upstash-Retry-Delay.*is infinite/);
    expect(good.messageId).toBeTruthy();
    await eventually(() => dest.requests.some((r) => r.path === "/batch-good"), 5_000);
    expect(dest.requests.some((r) => r.path === "/batch-bad")).toBe(false);
  });
});

describe("JSON nested 20,000 levels deep", () => {
  it.each([
    ["queue upsert", "/v2/queues", `{"queueName":"deep-queue","parallelism":1,"x":${deepArray()}}`],
    ["batch", "/v2/batch", `[{"destination":"http://127.0.0.1:1/deep","body":${deepArray()}}]`],
    ["URL-group endpoints", "/v2/topics/deep-group/endpoints", `{"endpoints":[{"url":"http://127.0.0.1:1/","name":${deepArray()}}]}`],
    ["wait", "/v2/wait/deep-event", `{"url":"http://127.0.0.1:1/","step":${deepArray()}}`],
    ["batch trigger", "/v2/batch/trigger", `[{"destination":"http://127.0.0.1:1/","body":"x","headers":${deepArray()}}]`],
  ])("%s is a 400 naming the nesting", async (_family, path, body) => {
    const error = await jsonError(await sluice.api("POST", path, { headers: JSON_HEADERS, body }), 400);
    expect(error).toBe("request body is JSON nested deeper than 64 levels");
    await stillServing();
  });

  it("nothing was created by the refused bodies", async () => {
    await rejected(sluice.client().queue({ queueName: "deep-queue" }).get(), 404);
    expect((await sluice.api("GET", "/v2/topics/deep-group")).status).toBe(404);
    expect((await (await sluice.api("GET", "/v2/waiters/deep-event")).json())).toEqual([]);
    const { logs } = await sluice.client().logs({ filter: { url: "http://127.0.0.1:1/deep" } });
    expect(logs).toEqual([]);
  });

  it("64 levels are accepted", async () => {
    const res = await sluice.api("POST", "/v2/queues", { headers: JSON_HEADERS, body: `{"queueName":"deep-64","x":${deepArray(63)}}` });
    expect(res.status).toBe(200);
  });

  it("an invoke body is a 400 and starts no run", async () => {
    const invoke = `{"workflowRunId":"wfr_parent","workflowUrl":"http://127.0.0.1:1/","step":{"stepId":1},"body":${deepArray()}}`;
    const res = await sluice.api("POST", `/v2/publish/${dest.url("/invoked")}`, {
      body: invoke,
      headers: { "upstash-workflow-runid": "wfr_deep-child", "upstash-workflow-init": "true", "upstash-workflow-invoke": "true" },
    });
    expect(await jsonError(res, 400)).toBe("invalid invoke request: body is JSON nested deeper than 64 levels");
    expect((await sluice.api("GET", "/v2/workflows/runs/wfr_deep-child")).status).toBe(404);
    await stillServing();
  });

  it.each([
    ["headers that are not strings", `"headers":{"x":{"y":1}}`, /invoke request: headers must be an object of strings/],
    ["a creation time out of range", `"workflowRunCreatedAt":1e308`, /invoke request: workflowRunCreatedAt must be unix milliseconds, got 1e\+308/],
    ["a creation time that is not a number", `"workflowRunCreatedAt":"yesterday"`, /invoke request: workflowRunCreatedAt must be unix milliseconds/],
  ])("an invoke with %s is a 400 and starts no run", async (_label, field, error) => {
    const runId = `wfr_bad-invoke-${_label.replace(/\W+/g, "-")}`;
    const invoke = `{"workflowRunId":"wfr_parent","workflowUrl":"http://127.0.0.1:1/","step":{"stepId":1},${field}}`;
    const res = await sluice.api("POST", `/v2/publish/${dest.url("/invoked")}`, {
      body: invoke,
      headers: { "upstash-workflow-runid": runId, "upstash-workflow-init": "true", "upstash-workflow-invoke": "true" },
    });
    expect(await jsonError(res, 400)).toMatch(error);
    expect((await sluice.api("GET", `/v2/workflows/runs/${runId}`)).status).toBe(404);
  });

  it("a workflow step whose body is too deep to show still leaves the run's log readable", async () => {
    const runId = "wfr_deep-step";
    // Answered as a v1 SDK answers: to a plain 200 the run fails (not a workflow endpoint), and a step published
    // after that outcome is refused.
    dest.respond = (req) =>
      req.path === "/wf" ? { status: 200, headers: { "Upstash-Workflow-Sdk-Version": "1", "Upstash-Workflow-Sdk": "v1.3.2" }, body: "{}" } : { status: 200, body: "ok" };
    try {
      const trigger = await sluice.api("POST", `/v2/trigger/${dest.url("/wf")}`, { body: "start", headers: { "Upstash-Workflow-RunId": runId } });
      expect(trigger.status).toBe(200);
      // The step comes after the trigger's outcome, every time (the order that once raced with it).
      await eventually(async () => {
        const events = await sluice.api("GET", `/v2/workflows/events?workflowRunId=${runId}&state=DELIVERED`);
        return (await events.text()).includes("DELIVERED");
      }, 10_000);
      const step = await sluice.api("POST", `/v2/publish/${dest.url("/wf")}`, {
        body: `{"stepId":1,"stepName":"deep","stepType":"Run","out":${deepArray()}}`,
        headers: { "upstash-workflow-runid": runId, "upstash-workflow-init": "false", "content-type": "application/json" },
      });
      expect(step.status).toBe(200);
      const log = await sluice.api("GET", `/v2/workflows/logs?workflowRunId=${runId}`);
      expect(log.status).toBe(200);
      const { runs } = (await log.json()) as { runs: { workflowRunId: string; steps: { steps: { stepName: string }[] }[] }[] };
      expect(runs.map((r) => r.workflowRunId)).toEqual([runId]);
      expect(runs[0].steps.flatMap((g) => g.steps.map((s) => s.stepName))).not.toContain("deep");
      await stillServing();
    } finally {
      dest.respond = () => ({ status: 200, body: "ok" });
    }
  });
});
