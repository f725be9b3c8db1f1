import { expect } from "vitest";
import type { Cluster } from "../helpers/cluster.js";
import type { CountingReceiver } from "../helpers/counting-receiver.js";
import { mostStartsInOneWindow } from "../helpers/rate-windows.js";
import { FLOW, QUEUE, type MixedLoad } from "./mixed-load.js";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz";

/** When a message was created, read from its id (`msg_` + 8 base-54 digits of ms, see src/engine/ids.ts). */
export function createdMs(messageId: string): number {
  const digits = messageId.slice(messageId.indexOf("_") + 1, messageId.indexOf("_") + 9);
  let ms = 0;
  for (const c of digits) ms = ms * ALPHABET.length + ALPHABET.indexOf(c);
  return ms;
}

/**
 * How much later than its count by the limiter a start may reach the receiver: the activation commit comes
 * between (slow on a busy two-core box running three nodes and PostgreSQL), and a first request opens a connection.
 */
const RECEIVER_LAG_MS = 250;
/**
 * An ACTIVE event carries the time of the message's acceptance on the fast path, a moment before its count. (Its
 * limiter may have opened its first window well before the first ACTIVE: on the leader, when the key's first
 * message reached it; so the first window is only known to open after the first message was sent.)
 */
const LOG_LAG_MS = 20;

/** The times of the ACTIVE events of a flow key's messages (each a start), read from a serving node's logs. */
async function activeTimes(cluster: Cluster, key: string): Promise<number[]> {
  const times: number[] = [];
  let cursor = "";
  for (let page = 0; page < 50; page++) {
    const res = await cluster.api(cluster.serving()[0], "GET", `/v2/logs?flowControlKey=${key}&state=ACTIVE&count=1000${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { cursor?: string; logs: { time: number }[] };
    times.push(...body.logs.map((l) => l.time));
    if (!body.cursor) return times.sort((a, b) => a - b);
    cursor = body.cursor;
  }
  throw new Error(`more than 50 pages of ACTIVE events for ${key}`);
}

/**
 * The promises of issue 10, checked at the receiver after a run of MixedLoad through a fault: nothing
 * acknowledged lost, duplicates no more than the attempts the faulted nodes had in flight, the flow key's
 * parallelism and rate, the queue's order and parallelism 1, and each cron tick fired once.
 */
export async function auditMixedLoad(cluster: Cluster, receiver: CountingReceiver, load: MixedLoad, inFlightAtFault: number): Promise<void> {
  expect(receiver.missing(load.ids()), "acknowledged but never delivered").toEqual([]);
  expect(receiver.duplicates(), `duplicates (attempts in flight on the faulted nodes: ${inFlightAtFault}): ${duplicated(receiver, load)}`).toBeLessThanOrEqual(inFlightAtFault);

  // The bursts outrun both limits, so a backlog builds and each limit is reached, never passed.
  expect(load.ids("flow").length).toBeGreaterThanOrEqual(60);
  expect(receiver.maxConcurrent(FLOW.key), "flow key in flight at once").toBeLessThanOrEqual(FLOW.parallelism);
  expect(receiver.maxConcurrent(FLOW.key)).toBeGreaterThanOrEqual(2);
  const limit = { rate: FLOW.rate, periodMs: FLOW.periodMs };
  const seen = mostStartsInOneWindow(receiver.arrivals(FLOW.key), { ...limit, openedAfterMs: load.flowFirstSentAt, lagMs: RECEIVER_LAG_MS });
  expect(seen, `flow key starts in one window, at the receiver: ${JSON.stringify(receiver.arrivals(FLOW.key).map((t) => t - load.flowFirstSentAt))}`).toBeLessThanOrEqual(FLOW.rate);
  expect(seen).toBeGreaterThanOrEqual(FLOW.rate / 2);
  // The same, exactly, from the times the cluster logged each start (ACTIVE), as counted by the limiter.
  const started = await activeTimes(cluster, FLOW.key);
  expect(started.length).toBeGreaterThanOrEqual(receiver.of(FLOW.key).length);
  const logged = mostStartsInOneWindow(started, { ...limit, openedAfterMs: load.flowFirstSentAt, lagMs: LOG_LAG_MS });
  expect(logged, `flow key starts in one window, as logged: ${JSON.stringify(started.map((t) => t - started[0]))}`).toBeLessThanOrEqual(FLOW.rate);

  // First starts in acknowledgement order (a redelivery of the head folded into it), one at a time.
  const acked = new Set(load.ids("queue"));
  expect(load.ids("queue").length).toBeGreaterThanOrEqual(10);
  const order = receiver.startOrder(QUEUE).filter((id) => acked.has(id));
  expect(order, `queue start order, first difference: ${firstDifference(order, load, receiver)}`).toEqual(load.ids("queue"));
  expect(receiver.maxConcurrent(QUEUE), "queue in flight at once").toBe(1);

  // A tick's message is made when it fires: two messages made in one second would be one tick fired twice.
  const ticks = [...new Set(receiver.of("cron").map((d) => d.id))].map((id) => Math.floor(createdMs(id) / 1000));
  expect(ticks.length).toBeGreaterThanOrEqual(4);
  expect(new Set(ticks).size, `cron ticks (seconds): ${ticks.join(",")}`).toBe(ticks.length);
}

/**
 * Where the queue's start order first leaves its acknowledgement order, with the messages around that point:
 * when each was acknowledged and by which node, when it arrived, from which process, on which attempt.
 */
function firstDifference(order: string[], load: MixedLoad, receiver: CountingReceiver): string {
  const want = load.ids("queue");
  const i = want.findIndex((id, n) => order[n] !== id);
  if (i < 0) return "none";
  const about = (id: string) => {
    const ack = load.acked.find((a) => a.id === id);
    const seen = receiver.deliveries.filter((d) => d.id === id).map((d) => `at ${d.at - load.startedAt} by ${d.pid} retried ${d.retried}`);
    return `${id.slice(-6)} acked ${ack ? `${ack.at - load.startedAt} on ${ack.node}` : "no"}, ${seen.join(", ") || "not seen"}`;
  };
  return `#${i} wanted ${want[i].slice(-6)}, got ${order[i] ? about(order[i]) : "nothing"}; around it: ${want.slice(Math.max(0, i - 2), i + 4).map(about).join(" | ")}`;
}

/** The ids that arrived more than once, with each arrival (time from the load's start, sender, retried). */
function duplicated(receiver: CountingReceiver, load: MixedLoad): string {
  const byId = new Map<string, string[]>();
  for (const d of receiver.deliveries) byId.set(d.id, [...(byId.get(d.id) ?? []), `${d.path} at ${d.at - load.startedAt} by ${d.pid} retried ${d.retried}${d.aborted ? " aborted" : ""}`]);
  return [...byId].filter(([, seen]) => seen.length > 1).map(([id, seen]) => `${id}: ${seen.join("; ")}`).join(" | ") || "none";
}
