import { describe, expect, it } from "vitest";
import { RandomPool } from "../../src/random-pool.js";

describe("RandomPool", () => {
  it("hands out each byte of a block once, then draws a new block", () => {
    const pool = new RandomPool(32);
    expect([pool.take(14), pool.take(14)]).toEqual([0, 14]);
    const before = Buffer.from(pool.bytes);
    // 4 bytes are left, fewer than asked: a fresh block, from its start.
    expect(pool.take(14)).toBe(0);
    // 32 random bytes equal to the previous 32 would happen once in 2^256 draws.
    expect(pool.bytes.equals(before)).toBe(false);
    expect(pool.take(18)).toBe(14);
    expect(pool.take(1)).toBe(0);
  });
});
