import { afterAll, describe, expect, it } from "vitest";
import { Cluster } from "../helpers/cluster.js";
import { CountingReceiver } from "../helpers/counting-receiver.js";
import { sleep } from "./mixed-load.js";

/**
 * Per-user global parallelism (SLUICE_GLOBAL_PARALLELISM) across a cluster: every such message is started by the
 * leader, so the limit is exact cluster-wide, through the leader's death too. Measured at the receiver.
 */

const PARALLELISM = 4;
/** Each delivery is held this long: published every 15 ms, about ten would be in flight without the limit. */
const HOLD_MS = 150;
const PUBLISH_EVERY_MS = 15;
const PUBLISHES = 200;

let cluster: Cluster | undefined;
let receiver: CountingReceiver | undefined;
afterAll(async () => {
  await cluster?.close();
  await receiver?.close();
});

describe("global parallelism in a cluster", () => {
  it("never has more of a user's deliveries in flight than its global parallelism, across nodes and the leader's kill -9", async () => {
    cluster = await Cluster.start(3, { SLUICE_GLOBAL_PARALLELISM: String(PARALLELISM) });
    const c = cluster;
    receiver = await CountingReceiver.start(() => c.pids());
    receiver.hold = () => HOLD_MS;
    const acked: string[] = [];
    let inFlightAtKill = -1;
    const leader = await c.leader();
    const leaderId = await c.nodeId(leader);

    for (let i = 0; i < PUBLISHES; i++) {
      if (i === PUBLISHES / 2) {
        await c.kill(leader);
        inFlightAtKill = await c.attemptsInFlight(leaderId);
      }
      const nodes = c.serving();
      const node = nodes[i % nodes.length];
      const res = await c.api(node, "POST", `/v2/publish/${receiver.url(`/gp/${i}`)}`, {
        body: String(i),
        headers: { "Content-Type": "text/plain", "Upstash-Retries": "5", "Upstash-Retry-Delay": "100" },
      }).catch(() => undefined);
      // A publish cut by the kill was never acknowledged: nothing is owed for it.
      if (res?.status === 201 || res?.status === 200) acked.push(((await res.json()) as { messageId: string }).messageId);
      await sleep(PUBLISH_EVERY_MS);
    }

    // PARALLELISM at a time, HOLD_MS each: the backlog drains at about 25 a second after the takeover.
    await receiver.waitForIds(acked, 40_000);
    await sleep(500);
    expect(acked.length).toBeGreaterThanOrEqual(PUBLISHES - 5);
    expect(receiver.missing(acked), "acknowledged but never delivered").toEqual([]);
    expect(receiver.maxConcurrent("gp"), "deliveries in flight at once").toBeLessThanOrEqual(PARALLELISM);
    // The limit bound: without it about ten would have been in flight at once.
    expect(receiver.maxConcurrent("gp")).toBe(PARALLELISM);
    expect(inFlightAtKill).toBeGreaterThanOrEqual(0);
    expect(receiver.duplicates(), `duplicates (in flight on the killed leader: ${inFlightAtKill})`).toBeLessThanOrEqual(inFlightAtKill);
    // Every delivery came from whichever node led at the time: the one killed, then its successor.
    const senders = new Set(receiver.deliveries.map((d) => d.pid).filter((pid) => pid !== undefined));
    expect(senders.size).toBeLessThanOrEqual(2);
  }, 120_000);
});
