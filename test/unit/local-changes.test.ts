import { describe, expect, it } from "vitest";
import { LocalChanges } from "../../src/engine/local-changes.js";

/** A store read the test completes by hand. */
function pendingRead<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { read: () => promise, resolve };
}

describe("LocalChanges", () => {
  it("a read leaves alone the keys whose write was in flight when it began or that changed while it ran", async () => {
    const changes = new LocalChanges();
    const endBefore = changes.begin("in-flight-before");
    const endDone = changes.begin("done-before");
    endDone();
    const r = pendingRead<string>();
    let seen: ReadonlySet<string> | undefined;
    const following = changes.follow(r.read, (_value, changed) => {
      seen = new Set(changed);
    });
    const endDuring = changes.begin("changed-during");
    endDuring();
    endBefore(); // ends during the read: still left alone by it
    r.resolve("rows");
    await following;
    expect([...seen!].sort()).toEqual(["changed-during", "in-flight-before"]);
    // A read that begins now sees them all as settled.
    await changes.follow(async () => "rows", (_v, changed) => {
      expect(changed.size).toBe(0);
    });
  });

  it("counts overlapping writes of one key, and calls back once every write of the keys waited for has ended", async () => {
    const changes = new LocalChanges();
    const endA1 = changes.begin("a");
    const endA2 = changes.begin("a");
    const endB = changes.begin("b");
    const calls: string[] = [];
    changes.whenSettled(["a", "b", "idle"], () => calls.push("a+b"));
    changes.whenSettled(["idle"], () => calls.push("idle"));
    expect(calls).toEqual(["idle"]);
    endA1();
    endA1(); // ending twice counts once
    endB();
    expect(calls).toEqual(["idle"]);
    endA2();
    expect(calls).toEqual(["idle", "a+b"]);
    const value = await changes.around("a", async () => 42);
    expect(value).toBe(42);
    await changes.follow(async () => "rows", (_v, changed) => {
      expect(changed.size).toBe(0);
    });
  });
});
