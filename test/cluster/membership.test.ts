import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, TOKEN } from "../helpers/cluster.js";
import { CountingReceiver } from "../helpers/counting-receiver.js";
import { eventually } from "../helpers/receiver.js";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";
import { sleep } from "./mixed-load.js";

/** Nodes leaving and joining: a workflow across the leader's death, a graceful hand-over, a node added later. */

let cluster: Cluster;
let receiver: CountingReceiver;

beforeAll(async () => {
  cluster = await Cluster.start(3);
  receiver = await CountingReceiver.start(() => cluster.pids());
}, 60_000);
afterAll(async () => {
  await cluster?.close();
  await receiver?.close();
});

describe("nodes leaving and joining a cluster", () => {
  it("a workflow with parallel steps and a sleep that spans the leader's kill -9 completes, each step run once", async () => {
    const leader = await cluster.leader();
    // The SDK talks to a node that stays; the sleep's wake-up is the leader's to deliver.
    const node = cluster.other(leader);
    const host = await WorkflowHost.start({ url: node.url, token: () => TOKEN });
    try {
      const ran: Record<string, number> = {};
      const step = (name: string, value: number) => () => {
        ran[name] = (ran[name] ?? 0) + 1;
        return value;
      };
      const url = host.add("/wf", async (ctx) => {
        const a = await ctx.run("a", step("a", 1));
        const [b, c] = await Promise.all([ctx.run("b", step("b", 10)), ctx.run("c", step("c", 100))]);
        await ctx.sleep("nap", 4);
        const d = await ctx.run("d", step("d", 1000));
        return a + b + c + d;
      });
      const client = host.client();
      const { workflowRunId } = await client.trigger({ url });
      // Once both branches ran, the run is on its way into the sleep.
      await eventually(() => ran.b === 1 && ran.c === 1, 10_000);
      await sleep(500);
      await cluster.kill(leader);

      const log = await waitForRun(client, workflowRunId, ["RUN_SUCCESS"], 25_000);
      expect(log.workflowRunResponse).toBe("1111");
      expect(ran).toEqual({ a: 1, b: 1, c: 1, d: 1 });
      // The steps the run logged, once each ("next", the delivery still finishing as the run ends, is no step).
      const groups = log.steps.filter((g: { type: string }) => g.type !== "next");
      const names = groups.flatMap((g: { steps: { stepName: string }[] }) => g.steps.map((s) => s.stepName));
      expect(names.sort(), JSON.stringify(log.steps)).toEqual(["a", "b", "c", "d", "init", "nap"]);
    } finally {
      await host.close();
    }
  });

  it("a node added later delivers the plain messages published to it", async () => {
    const added = await cluster.add();
    expect((await cluster.readiness(added)).leader).toBe(false);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await cluster.api(added, "POST", `/v2/publish/${receiver.url(`/added/${i}`)}`, { body: "x" });
      expect(res.status).toBe(200);
      ids.push(((await res.json()) as { messageId: string }).messageId);
    }
    await receiver.waitForIds(ids, 5000);
    expect(receiver.of("added").map((d) => d.pid)).toEqual(ids.map(() => added.pid));
  });

  it("SIGTERM of the leader hands the lead to another node at once, not after its lease", async () => {
    expect(cluster.serving().length).toBeGreaterThanOrEqual(2);
    const leader = await cluster.leader();
    const exited = cluster.terminate(leader);
    const from = Date.now();
    const next = await eventually(async () => {
      const now = await cluster.leader(2000).catch(() => undefined);
      return now !== leader && now;
    }, 2000, 20);
    const ms = Date.now() - from;
    expect(next).not.toBe(leader);
    expect(ms).toBeLessThan(2000);
    expect(await exited).toBe(0);
  });
});
