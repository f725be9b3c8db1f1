import { describe, expect, it } from "vitest";
import { newId } from "../../src/engine/ids.js";

/** Message ids order FIFO queues, so within a process they must be strictly increasing (SPEC §2.3). */
describe("newId", () => {
  it("keeps the prefix, 8 time characters and 14 more", () => {
    expect(newId("msg_")).toMatch(/^msg_[0-9A-Za-z]{22}$/);
  });

  it("is strictly increasing for ids made in the same millisecond", () => {
    const ids = Array.from({ length: 5000 }, () => newId("msg_", 1_800_000_000_000));
    for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1], `${ids[i - 1]} < ${ids[i]}`).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("is strictly increasing across a tight loop on the real clock and when the clock steps back", () => {
    const ids = Array.from({ length: 20_000 }, () => newId("msg_"));
    ids.push(newId("msg_", Date.now() - 60_000), newId("msg_", 0));
    for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
  });

  it("starts the next millisecond at its own time", () => {
    const t = 1_900_000_000_000;
    const a = newId("msg_", t);
    const b = newId("msg_", t + 1);
    expect(b.slice(0, 12) > a.slice(0, 12)).toBe(true);
  });
});
