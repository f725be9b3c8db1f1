import { expect } from "vitest";
import type { CountingReceiver } from "../helpers/counting-receiver.js";
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
 * The promises of issue 10, checked at the receiver after a run of MixedLoad through a fault: nothing
 * acknowledged lost, duplicates no more than the attempts the faulted nodes had in flight, the flow key's
 * parallelism and rate, the queue's order and parallelism 1, and each cron tick fired once.
 */
export function auditMixedLoad(receiver: CountingReceiver, load: MixedLoad, faulted: { pid: number; atMs: number }[]): void {
  expect(receiver.missing(load.ids())).toEqual([]);

  const inFlight = faulted.reduce((sum, f) => sum + receiver.inFlightOn(f.pid, f.atMs), 0);
  expect(receiver.duplicates()).toBeLessThanOrEqual(inFlight);

  // The bursts outrun both limits, so a backlog builds and each limit is reached, never passed.
  expect(load.ids("flow").length).toBeGreaterThanOrEqual(60);
  expect(receiver.maxConcurrent(FLOW.key)).toBeLessThanOrEqual(FLOW.parallelism);
  expect(receiver.maxConcurrent(FLOW.key)).toBeGreaterThanOrEqual(2);
  const perWindow = receiver.maxStartsPerWindow(FLOW.key, FLOW.periodMs);
  expect(perWindow).toBeLessThanOrEqual(FLOW.rate);
  expect(perWindow).toBeGreaterThanOrEqual(FLOW.rate / 2);

  // First starts in acknowledgement order (a redelivery of the head folded into it), one at a time.
  const acked = new Set(load.ids("queue"));
  expect(load.ids("queue").length).toBeGreaterThanOrEqual(20);
  expect(receiver.startOrder(QUEUE).filter((id) => acked.has(id))).toEqual(load.ids("queue"));
  expect(receiver.maxConcurrent(QUEUE)).toBe(1);

  // A tick's message is made when it fires: two messages made in one second would be one tick fired twice.
  const ticks = [...new Set(receiver.of("cron").map((d) => d.id))].map((id) => Math.floor(createdMs(id) / 1000));
  expect(ticks.length).toBeGreaterThanOrEqual(4);
  expect(new Set(ticks).size).toBe(ticks.length);
}
