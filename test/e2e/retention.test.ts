import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

let sluice: TestSluice;
let dest: TestReceiver;
beforeAll(async () => {
  sluice = await startSluice({ maintenanceIntervalMs: 100, limits: { retentionMs: 300 } });
  dest = await TestReceiver.start();
});
afterAll(async () => {
  await sluice.close();
  await dest.close();
});

describe("retention", () => {
  it("removes finished messages with their logs and DLQ entries, and keeps pending ones", async () => {
    const client = sluice.client();
    dest.respond = (req) => (req.path === "/fail" ? { status: 500 } : { status: 200 });
    const delivered = await client.publish({ url: dest.url("/ok"), body: "a" });
    const failed = await client.publish({ url: dest.url("/fail"), body: "b", retries: 0 });
    const pending = await client.publish({ url: dest.url("/later"), body: "c", delay: 60 });
    await eventually(async () => (await client.dlq.listMessages()).messages.length === 1);
    const logsOf = async (messageId: string) => (await client.logs({ filter: { messageId } })).logs.length;
    expect(await logsOf(delivered.messageId)).toBeGreaterThan(0);

    await eventually(async () => (await logsOf(delivered.messageId)) === 0 && (await logsOf(failed.messageId)) === 0, 5000, 50);
    expect((await client.dlq.listMessages()).messages).toHaveLength(0);
    // The pending message is not finished: it stays, with its log.
    expect((await client.messages.get(pending.messageId)).messageId).toBe(pending.messageId);
    expect(await logsOf(pending.messageId)).toBe(1);
  });
});
