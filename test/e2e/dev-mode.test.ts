import { Client, Receiver } from "@upstash/qstash";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";
import { Client as WorkflowClient, serve } from "@upstash/workflow";
import { waitForRun, WorkflowHost } from "../helpers/workflow.js";

let sluice: TestSluice;
let dest: TestReceiver;
const saved = { dev: process.env.QSTASH_DEV, port: process.env.QSTASH_DEV_PORT };

beforeAll(async () => {
  sluice = await startSluice();
  dest = await TestReceiver.start();
  // The SDK's own dev mode: it probes GET /v2/keys on 127.0.0.1:$QSTASH_DEV_PORT and uses the dev user when the
  // well-known keys answer, instead of downloading the vendor's binary.
  process.env.QSTASH_DEV = "true";
  process.env.QSTASH_DEV_PORT = String(sluice.port);
});
afterAll(async () => {
  process.env.QSTASH_DEV = saved.dev;
  process.env.QSTASH_DEV_PORT = saved.port;
  if (saved.dev === undefined) delete process.env.QSTASH_DEV;
  if (saved.port === undefined) delete process.env.QSTASH_DEV_PORT;
  await sluice.close();
  await dest.close();
});

describe("QSTASH_DEV=true", () => {
  it("finds Sluice with no URL, token or keys in the code, and the dev-mode Receiver verifies deliveries", async () => {
    const client = new Client();
    const { messageId } = await client.publishJSON({ url: dest.url("/dev"), body: { via: "dev mode" } });
    const [req] = await dest.waitFor(1);
    expect(req.headers["upstash-message-id"]).toBe(messageId);
    await expect(new Receiver().verify({ signature: req.headers["upstash-signature"] as string, body: req.body.toString() })).resolves.toBe(true);
  });
});

describe("QSTASH_DEV=true with the workflow SDK", () => {
  it("serve() and the workflow Client find Sluice and its dev keys by themselves", async () => {
    const host = await WorkflowHost.start(sluice);
    try {
      const seen: unknown[] = [];
      // No client, receiver, URL, token or keys: the SDK's dev mode supplies them all (signatures are verified).
      const { handler } = serve(async (ctx) => {
        await ctx.run("dev step", () => seen.push(ctx.requestPayload));
      });
      const url = host.route("/dev-wf", handler as (req: Request) => Promise<Response>);
      const client = new WorkflowClient({});
      const { workflowRunId } = await client.trigger({ url, body: "dev" });
      await waitForRun(client, workflowRunId);
      expect(seen).toEqual(["dev"]);
      expect(host.hitsTo("/dev-wf").every((h) => h.status === 200 && h.headers["upstash-signature"])).toBe(true);
    } finally {
      await host.close();
    }
  });
});
