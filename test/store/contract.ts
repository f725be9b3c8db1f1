import { afterEach, describe, expect, it } from "vitest";
import type { Store, StoredSchedule, WriteOp } from "../../src/store/store.js";
import { classifyStoreError } from "../../src/store/store-errors.js";
import type { DlqEntry } from "../../src/model/dlq.js";
import type { LogEvent } from "../../src/model/log.js";
import type { MessageRecord, MessageState } from "../../src/model/message.js";
import type { RunRecord } from "../../src/model/run.js";
import type { StoredRunEvent, StoredWaiter } from "../../src/model/waiter.js";

/**
 * The store contract: what every `Store` means, run against each backend (test/store/*.contract.test.ts).
 * `makeStore` opens a new, empty store for each case; the suite closes it.
 */
export function runStoreContract(name: string, makeStore: () => Promise<Store>): void {
  describe(`store contract: ${name}`, () => {
    let open: Store[] = [];
    const fresh = async (): Promise<Store> => {
      const s = await makeStore();
      open.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of open) await s.close();
      open = [];
    });

    describe("messages", () => {
      it("keeps every field of a message, and shows it only to its user", async () => {
        const s = await fresh();
        const m = message({
          id: "m1",
          labels: ["a", "b"],
          topicName: "t",
          endpointName: "e",
          queueName: "q",
          scheduleId: "sch",
          flowControl: { key: "k", parallelism: 2, rate: 5, periodSec: 3 },
          callback: "http://127.0.0.1:1/cb",
          callbackHeaders: { retries: "2" },
          redact: { body: true, allHeaders: false, headers: ["authorization"] },
          header: { "Content-Type": ["text/plain"], "X-Many": ["1", "2"] },
          body: Buffer.from([0, 1, 2, 255]),
          timeoutMs: 1234,
          retryDelay: "1000 * retried",
          workflow: { runId: "wfr_1", callType: "step", init: true },
        });
        expect(await s.commit([{ op: "insertMessage", message: m }])).toEqual([{ applied: true }]);
        expect(await s.getMessage("u1", "m1")).toEqual(m);
        expect(await s.getMessage("u2", "m1")).toBeUndefined();
        expect(await s.getMessagesById(["m1", "missing"])).toEqual([m]);
        expect(await s.messageStates(["m1", "missing"])).toEqual(new Map([["m1", "pending"]]));
      });

      it("moves a message only from the expected state, and writes its events only when it moved", async () => {
        const s = await fresh();
        await s.commit([{ op: "insertMessage", message: message({ id: "m1" }) }]);
        const wrong = await s.commit([
          { op: "updateMessage", id: "m1", expectState: "active", state: "delivered", retried: 1, dueMs: 5, finishedMs: 5, events: [event("m1", "DELIVERED", 5)] },
        ]);
        expect(wrong).toEqual([{ applied: false }]);
        expect((await s.getMessage("u1", "m1"))!.state).toBe("pending");
        expect(await logStates(s)).toEqual([]);

        const right = await s.commit([
          { op: "updateMessage", id: "m1", expectState: "pending", state: "active", retried: 0, dueMs: 7, events: [event("m1", "ACTIVE", 7)] },
        ]);
        expect(right).toEqual([{ applied: true }]);
        const got = (await s.getMessage("u1", "m1"))!;
        expect([got.state, got.dueMs, got.finishedMs]).toEqual(["active", 7, undefined]);
        expect((await s.listActive()).map((x) => x.id)).toEqual(["m1"]);
        expect(await logStates(s)).toEqual(["ACTIVE"]);
      });

      it("applies several ops on one id in one commit in order", async () => {
        const s = await fresh();
        const results = await s.commit([
          { op: "insertMessage", message: message({ id: "m1" }), events: [event("m1", "CREATED", 1)] },
          { op: "updateMessage", id: "m1", expectState: "pending", state: "active", retried: 0, dueMs: 1, events: [event("m1", "ACTIVE", 2)] },
          { op: "updateMessage", id: "m1", expectState: "pending", state: "failed", retried: 0, dueMs: 1, events: [event("m1", "FAILED", 3)] },
          { op: "updateMessage", id: "m1", expectState: "active", state: "delivered", retried: 1, dueMs: 1, finishedMs: 4, events: [event("m1", "DELIVERED", 4)] },
          { op: "event", event: event("m1", "CANCEL_REQUESTED", 5) },
        ]);
        expect(results).toEqual([{ applied: true }, { applied: true }, { applied: false }, { applied: true }, { applied: true }]);
        const got = (await s.getMessage("u1", "m1"))!;
        expect([got.state, got.retried, got.finishedMs]).toEqual(["delivered", 1, 4]);
        expect(await logStates(s)).toEqual(["CREATED", "ACTIVE", "DELIVERED", "CANCEL_REQUESTED"]);
      });

      it("applies many ops on several ids in one commit as if one by one, each with its own result and events", async () => {
        const s = await fresh();
        await s.commit([{ op: "insertMessage", message: message({ id: "x" }) }]);
        const fields = { labels: ["l1", 'with "quotes", commas {and} braces'], body: Buffer.from([0, 92, 39, 255]), queueName: "q", topicName: "t" };
        const move = (id: string, from: MessageState, to: MessageState, state: LogEvent["state"], timeMs: number): WriteOp => ({
          op: "updateMessage", id, expectState: from, state: to, retried: to === "delivered" ? 1 : 0, dueMs: timeMs,
          finishedMs: to === "delivered" ? timeMs : undefined, events: [event(id, state, timeMs)],
        });
        const results = await s.commit([
          ...["a", "b", "c", "d"].map((id): WriteOp => ({ op: "insertMessage", message: message({ id, ...(id === "b" ? fields : {}) }), events: [event(id, "CREATED", 1)] })),
          move("x", "active", "delivered", "DELIVERED", 2),
          move("a", "pending", "active", "ACTIVE", 3),
          move("b", "pending", "active", "ACTIVE", 3),
          move("c", "active", "delivered", "DELIVERED", 3),
          { op: "event", event: event("d", "CANCEL_REQUESTED", 4) },
          { op: "insertDlq", entry: dlq("d1", "x") },
          { op: "insertDlq", entry: { ...dlq("d2", "a"), responseStatus: 500, responseBody: Buffer.from("no"), error: "boom" } },
          move("a", "active", "delivered", "DELIVERED", 5),
          move("b", "active", "delivered", "DELIVERED", 5),
          { op: "event", event: event("a", "CANCEL_REQUESTED", 6) },
        ]);
        const applied = (a: boolean) => ({ applied: a });
        expect(results).toEqual([true, true, true, true, false, true, true, false, true, true, true, true, true, true].map(applied));
        expect(await s.getMessage("u1", "b")).toEqual(message({ id: "b", ...fields, state: "delivered", retried: 1, dueMs: 5, finishedMs: 5 }));
        const states = (await s.getMessagesById(["a", "b", "c", "d", "x"])).map((m) => m.state);
        expect(states).toEqual(["delivered", "delivered", "pending", "pending", "pending"]);
        const logOf = async (id: string) => (await s.listEvents("u1", {}, { count: 100, asc: true })).items.filter((e) => e.messageId === id).map((e) => `${e.state}@${e.timeMs}`);
        expect(await logOf("a")).toEqual(["CREATED@1", "ACTIVE@3", "DELIVERED@5", "CANCEL_REQUESTED@6"]);
        expect(await logOf("b")).toEqual(["CREATED@1", "ACTIVE@3", "DELIVERED@5"]);
        expect(await logOf("c")).toEqual(["CREATED@1"]);
        expect(await logOf("d")).toEqual(["CREATED@1", "CANCEL_REQUESTED@4"]);
        expect(await logOf("x")).toEqual([]);
        // The log is in op order across messages too, as if the ops were committed one by one.
        const log = (await s.listEvents("u1", {}, { count: 100, asc: true })).items.map((e) => `${e.messageId}:${e.state}`);
        expect(log).toEqual([
          "a:CREATED", "b:CREATED", "c:CREATED", "d:CREATED", "a:ACTIVE", "b:ACTIVE", "d:CANCEL_REQUESTED", "a:DELIVERED", "b:DELIVERED",
          "a:CANCEL_REQUESTED",
        ]);
        const d2 = (await s.getDlq("u1", "d2"))!;
        expect([d2.message.id, d2.responseStatus, d2.responseBody?.toString(), d2.error]).toEqual(["a", 500, "no", "boom"]);
        expect((await s.listDlq("u1", {}, { count: 10, asc: true })).items.map((e) => e.dlqId)).toEqual(["d1", "d2"]);
      });

      it("a refused op among many of one commit refuses all of them", async () => {
        const s = await fresh();
        await s.commit([{ op: "insertMessage", message: message({ id: "taken" }) }, { op: "insertMessage", message: message({ id: "p" }) }]);
        const err = await s
          .commit([
            ...["n1", "n2", "taken", "n3"].map((id): WriteOp => ({ op: "insertMessage", message: message({ id }), events: [event(id, "CREATED", 1)] })),
            { op: "updateMessage", id: "p", expectState: "pending", state: "active", retried: 0, dueMs: 1, events: [event("p", "ACTIVE", 1)] },
            { op: "insertDlq", entry: dlq("d1", "p") },
          ])
          .then(() => undefined, (e: unknown) => e);
        expect(classifyStoreError(err)).toBe("rejected");
        expect((await s.getMessagesById(["n1", "n2", "n3", "p"])).map((m) => [m.id, m.state])).toEqual([["p", "pending"]]);
        expect(await logStates(s)).toEqual([]);
        expect(await s.getDlq("u1", "d1")).toBeUndefined();
      });

      it("lists due pending messages in (due, id) order, strictly after the cursor and before the bound", async () => {
        const s = await fresh();
        const ids = [
          ["c", 10],
          ["a", 10],
          ["b", 5],
          ["d", 20],
          ["e", 30],
        ] as const;
        await s.commit(ids.map(([id, due]) => ({ op: "insertMessage" as const, message: message({ id, dueMs: due, userId: id === "d" ? "u2" : "u1" }) })));
        await s.commit([{ op: "updateMessage", id: "d", expectState: "pending", state: "active", retried: 0, dueMs: 20 }]);
        const all = await s.listDue({ dueMs: -1, id: "" }, 1000, 100);
        expect(all).toEqual([
          { id: "b", dueMs: 5 },
          { id: "a", dueMs: 10 },
          { id: "c", dueMs: 10 },
          { id: "e", dueMs: 30 },
        ]);
        expect(await s.listDue({ dueMs: 10, id: "a" }, 1000, 100)).toEqual([{ id: "c", dueMs: 10 }, { id: "e", dueMs: 30 }]);
        expect(await s.listDue({ dueMs: -1, id: "" }, 30, 100)).toEqual(all.slice(0, 3));
        expect(await s.listDue({ dueMs: -1, id: "" }, 1000, 2)).toEqual(all.slice(0, 2));
      });

      it("refuses a second message with an id already stored, as a rejected write that changes nothing", async () => {
        const s = await fresh();
        await s.commit([{ op: "insertMessage", message: message({ id: "m1" }) }]);
        const err = await s
          .commit([
            { op: "insertMessage", message: message({ id: "m2" }) },
            { op: "putQueue", queue: queue("q1") },
            { op: "insertMessage", message: message({ id: "m1", url: "http://127.0.0.1:1/other" }) },
          ])
          .then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(Error);
        expect(classifyStoreError(err)).toBe("rejected");
        expect(await s.getMessage("u1", "m2")).toBeUndefined();
        expect(await s.listQueues()).toEqual([]);
        expect((await s.getMessage("u1", "m1"))!.url).toBe("http://127.0.0.1:1/x");
        // The store keeps working after a refused commit.
        expect(await s.commit([{ op: "insertMessage", message: message({ id: "m3" }) }])).toEqual([{ applied: true }]);
      });

      it("refuses a value the store cannot hold as rejected", async () => {
        const s = await fresh();
        const err = await s.commit([{ op: "putQueue", queue: { ...queue("huge"), parallelism: 1e308 } }]).then(() => undefined, (e: unknown) => e);
        expect(classifyStoreError(err)).toBe("rejected");
        expect(await s.listQueues()).toEqual([]);
      });
    });

    describe("deduplication window", () => {
      it("a key seen within its window names the first message and writes nothing; after it expires the key is taken anew", async () => {
        const s = await fresh();
        const first = await s.commit([{ op: "insertMessage", message: message({ id: "m1", createdAtMs: 100 }), dedupKey: "k", dedupExpiresMs: 200 }]);
        expect(first).toEqual([{ applied: true }]);
        const dup = await s.commit([
          { op: "insertMessage", message: message({ id: "m2", createdAtMs: 199 }), dedupKey: "k", dedupExpiresMs: 299, events: [event("m2", "CREATED", 199)] },
          { op: "insertMessage", message: message({ id: "m3", createdAtMs: 199, userId: "u2" }), dedupKey: "k", dedupExpiresMs: 299 },
        ]);
        expect(dup).toEqual([{ applied: false, duplicateOf: "m1" }, { applied: true }]);
        expect(await s.getMessage("u1", "m2")).toBeUndefined();
        expect(await logStates(s)).toEqual([]);

        // At its expiry time the key is free again, and then names the new message.
        expect(await s.commit([{ op: "insertMessage", message: message({ id: "m4", createdAtMs: 200 }), dedupKey: "k", dedupExpiresMs: 300 }])).toEqual([
          { applied: true },
        ]);
        expect(await s.commit([{ op: "insertMessage", message: message({ id: "m5", createdAtMs: 250 }), dedupKey: "k", dedupExpiresMs: 350 }])).toEqual([
          { applied: false, duplicateOf: "m4" },
        ]);
      });

      it("two inserts with one key in one commit: the second is the duplicate", async () => {
        const s = await fresh();
        const results = await s.commit([
          { op: "insertMessage", message: message({ id: "m1" }), dedupKey: "k", dedupExpiresMs: 10_000 },
          { op: "insertMessage", message: message({ id: "m2" }), dedupKey: "k", dedupExpiresMs: 10_000 },
        ]);
        expect(results).toEqual([{ applied: true }, { applied: false, duplicateOf: "m1" }]);
      });

      it("a key is any string, NUL included (the engine joins a fan-out key's parts with it)", async () => {
        const s = await fresh();
        const key = "http://127.0.0.1:1/a\u0000topic\u0000endpoint";
        expect(await s.commit([{ op: "insertMessage", message: message({ id: "m1" }), dedupKey: key, dedupExpiresMs: 10_000 }])).toEqual([{ applied: true }]);
        expect(await s.commit([{ op: "insertMessage", message: message({ id: "m2" }), dedupKey: key, dedupExpiresMs: 10_000 }])).toEqual([
          { applied: false, duplicateOf: "m1" },
        ]);
        expect(await s.commit([{ op: "insertMessage", message: message({ id: "m3" }), dedupKey: "http://127.0.0.1:1/a", dedupExpiresMs: 10_000 }])).toEqual([
          { applied: true },
        ]);
      });

      it("purge forgets expired keys only", async () => {
        const s = await fresh();
        await s.commit([
          { op: "insertMessage", message: message({ id: "m1", createdAtMs: 0 }), dedupKey: "old", dedupExpiresMs: 50 },
          { op: "insertMessage", message: message({ id: "m2", createdAtMs: 0 }), dedupKey: "new", dedupExpiresMs: 5000 },
        ]);
        await s.purge(0, 100, 1000);
        // A key forgotten by purge is free even to a message dated before its old expiry.
        expect(await s.commit([{ op: "insertMessage", message: message({ id: "m3", createdAtMs: 10 }), dedupKey: "old", dedupExpiresMs: 60 }])).toEqual([
          { applied: true },
        ]);
        expect(await s.commit([{ op: "insertMessage", message: message({ id: "m4", createdAtMs: 10 }), dedupKey: "new", dedupExpiresMs: 60 }])).toEqual([
          { applied: false, duplicateOf: "m2" },
        ]);
      });
    });

    describe("dead-letter queue", () => {
      it("a retry consumes its entry once, even when asked twice in one commit or in two", async () => {
        const s = await fresh();
        await s.commit([
          { op: "insertMessage", message: message({ id: "m1", state: "failed", finishedMs: 5 }) },
          { op: "insertDlq", entry: dlq("d1", "m1") },
          { op: "insertDlq", entry: dlq("d2", "m1") },
        ]);
        expect((await s.getDlq("u1", "d1"))!.message.id).toBe("m1");
        const retry = (id: string, dlqId: string): WriteOp => ({ op: "insertMessage", message: message({ id }), consumeDlq: { userId: "u1", dlqId } });
        expect(await s.commit([retry("r1", "d1"), retry("r2", "d1")])).toEqual([{ applied: true }, { applied: false }]);
        expect(await s.commit([retry("r3", "d1")])).toEqual([{ applied: false }]);
        expect(await s.getMessage("u1", "r2")).toBeUndefined();
        expect(await s.getDlq("u1", "d1")).toBeUndefined();
        // Another user cannot consume this user's entry.
        expect(await s.commit([{ op: "insertMessage", message: message({ id: "r4", userId: "u2" }), consumeDlq: { userId: "u2", dlqId: "d2" } }])).toEqual([
          { applied: false },
        ]);
        expect((await s.getDlq("u1", "d2"))!.dlqId).toBe("d2");
      });

      it("a delete applies its `then` only when the entry was still there, with nested results in order", async () => {
        const s = await fresh();
        await s.commit([
          { op: "insertMessage", message: message({ id: "m1", state: "failed" }) },
          { op: "insertMessage", message: message({ id: "m2" }) },
          { op: "insertDlq", entry: { ...dlq("d1", "m1"), responseStatus: 500, responseBody: Buffer.from("no"), responseHeaders: { A: ["b"] }, error: "boom" } },
        ]);
        const got = (await s.getDlq("u1", "d1"))!;
        expect([got.responseStatus, got.responseBody?.toString(), got.responseHeaders, got.error]).toEqual([500, "no", { A: ["b"] }, "boom"]);
        const then: WriteOp[] = [
          { op: "updateMessage", id: "m2", expectState: "pending", state: "cancelled", retried: 0, dueMs: 1, finishedMs: 1 },
          { op: "updateMessage", id: "m2", expectState: "pending", state: "delivered", retried: 0, dueMs: 1, finishedMs: 1 },
          { op: "insertMessage", message: message({ id: "m3" }) },
        ];
        const results = await s.commit([
          { op: "deleteDlq", userId: "u1", dlqId: "d1", then },
          { op: "deleteDlq", userId: "u1", dlqId: "d1", then: [{ op: "insertMessage", message: message({ id: "m4" }) }] },
        ]);
        expect(results).toEqual([{ applied: true, nested: [{ applied: true }, { applied: false }, { applied: true }] }, { applied: false }]);
        expect((await s.getMessage("u1", "m2"))!.state).toBe("cancelled");
        expect(await s.getMessage("u1", "m4")).toBeUndefined();
        expect(await s.commit([{ op: "deleteDlq", userId: "u1", dlqId: "d1" }])).toEqual([{ applied: false }]);
      });

      it("lists entries with filters and pages newest first", async () => {
        const s = await fresh();
        const ops: WriteOp[] = [];
        for (let i = 0; i < 5; i++) {
          ops.push({ op: "insertMessage", message: message({ id: `m${i}`, state: "failed", url: `http://127.0.0.1:1/p${i % 2}` }) });
          ops.push({ op: "insertDlq", entry: { ...dlq(`d${i}`, `m${i}`), responseStatus: 400 + i } });
        }
        await s.commit(ops);
        const page1 = await s.listDlq("u1", {}, { count: 2 });
        expect(page1.items.map((e) => e.dlqId)).toEqual(["d4", "d3"]);
        const page2 = await s.listDlq("u1", {}, { count: 2, cursor: page1.cursor });
        expect(page2.items.map((e) => e.dlqId)).toEqual(["d2", "d1"]);
        const page3 = await s.listDlq("u1", {}, { count: 2, cursor: page2.cursor });
        expect([page3.items.map((e) => e.dlqId), page3.cursor]).toEqual([["d0"], undefined]);
        expect((await s.listDlq("u1", { url: ["http://127.0.0.1:1/p1"] }, { count: 10 })).items.map((e) => e.dlqId)).toEqual(["d3", "d1"]);
        expect((await s.listDlq("u1", { responseStatus: [400, 404] }, { count: 10 })).items.map((e) => e.dlqId)).toEqual(["d4", "d0"]);
        expect((await s.listDlq("u1", { dlqIds: ["d2", "d0"] }, { count: 10 })).items.map((e) => e.dlqId)).toEqual(["d2", "d0"]);
        expect((await s.listDlq("u2", {}, { count: 10 })).items).toEqual([]);
      });
    });

    describe("schedules", () => {
      it("a tick fires once: only while the schedule expects it, and not when paused", async () => {
        const s = await fresh();
        await s.commit([{ op: "putSchedule", schedule: schedule({ id: "s1", nextMs: 1000 }) }]);
        const tick = (expectNextMs: number, id: string): WriteOp => ({
          op: "fireSchedule",
          userId: "u1",
          id: "s1",
          expectNextMs,
          expectRevision: "rev-1",
          nextMs: expectNextMs + 1000,
          firedMs: expectNextMs,
          inserts: [{ op: "insertMessage", message: message({ id, scheduleId: "s1" }), events: [event(id, "CREATED", expectNextMs)] }],
        });
        expect(await s.commit([tick(1000, "t1"), tick(1000, "t2")])).toEqual([{ applied: true }, { applied: false }]);
        expect(await s.commit([tick(1000, "t3")])).toEqual([{ applied: false }]);
        const [after] = await s.listSchedules();
        expect([after.nextMs, after.lastMs, after.lastMessageIds]).toEqual([2000, 1000, ["t1"]]);
        expect(await s.getMessage("u1", "t2")).toBeUndefined();
        expect(await logStates(s)).toEqual(["CREATED"]);

        await s.commit([{ op: "putSchedule", schedule: { ...after, paused: true } }]);
        expect(await s.commit([tick(2000, "t4")])).toEqual([{ applied: false }]);
        await s.commit([{ op: "deleteSchedule", userId: "u1", id: "s1" }]);
        expect(await s.listSchedules()).toEqual([]);
      });

      it("keeps every field of a schedule, and a put replaces it whole", async () => {
        const s = await fresh();
        const sch = schedule({ id: "s1", headers: { "upstash-retries": "2" }, body: Buffer.from([9, 0]), lastMs: 5, lastMessageIds: ["a", "b"] });
        await s.commit([{ op: "putSchedule", schedule: sch }]);
        expect(await s.listSchedules()).toEqual([sch]);
        const replaced = { ...sch, cron: "*/5 * * * *", destination: "group", headers: {}, nextMs: null, lastMs: null, lastMessageIds: [] };
        await s.commit([{ op: "putSchedule", schedule: replaced }]);
        expect(await s.listSchedules()).toEqual([replaced]);
        expect(await s.commit([{ op: "deleteSchedule", userId: "u2", id: "s1" }])).toEqual([{ applied: false }]);
      });

      it("reads one schedule by user and id, and a user's schedules created since a time", async () => {
        const s = await fresh();
        const old = schedule({ id: "s-old", createdAtMs: 100 });
        const recent = schedule({ id: "s-new", createdAtMs: 200, headers: { "upstash-deduplication-id": "d1" } });
        const otherUser = schedule({ id: "s-new", userId: "u2", createdAtMs: 300 });
        await s.commit([old, recent, otherUser].map((schedule) => ({ op: "putSchedule", schedule }) as WriteOp));
        expect(await s.getSchedule("u1", "s-new")).toEqual(recent);
        expect(await s.getSchedule("u2", "s-new")).toEqual(otherUser);
        expect(await s.getSchedule("u2", "s-old")).toBeUndefined();
        expect(await s.listRecentSchedules("u1", 200)).toEqual([recent]);
        expect((await s.listRecentSchedules("u1", 0)).map((x) => x.id).sort()).toEqual(["s-new", "s-old"]);
        expect(await s.listRecentSchedules("u1", 201)).toEqual([]);
        await s.commit([{ op: "deleteSchedule", userId: "u1", id: "s-new" }]);
        expect(await s.getSchedule("u1", "s-new")).toBeUndefined();
      });

      it("a tick fires only in the revision it was built from: a replacement that keeps the next tick fences out the old version", async () => {
        const s = await fresh();
        await s.commit([{ op: "putSchedule", schedule: schedule({ id: "s1", nextMs: 1000, revision: "old" }) }]);
        // Replaced elsewhere: new body, same cron, so the same next tick.
        const replaced = schedule({ id: "s1", nextMs: 1000, revision: "new", body: Buffer.from("new body") });
        await s.commit([{ op: "putSchedule", schedule: replaced }]);
        const tick = (expectRevision: string, id: string): WriteOp => ({
          op: "fireSchedule", userId: "u1", id: "s1", expectNextMs: 1000, expectRevision, nextMs: 2000, firedMs: 1000,
          inserts: [{ op: "insertMessage", message: message({ id, scheduleId: "s1" }) }],
        });
        expect(await s.commit([tick("old", "t-old")])).toEqual([{ applied: false }]);
        expect(await s.getMessage("u1", "t-old")).toBeUndefined();
        expect((await s.listSchedules())[0]).toEqual(replaced);
        expect(await s.commit([tick("new", "t-new"), tick("new", "t-again")])).toEqual([{ applied: true }, { applied: false }]);
        const [after] = await s.listSchedules();
        // A tick moves the schedule on and leaves its revision.
        expect([after.revision, after.nextMs, after.lastMs, after.lastMessageIds]).toEqual(["new", 2000, 1000, ["t-new"]]);
        expect((await s.getMessage("u1", "t-new"))!.id).toBe("t-new");
      });
    });

    describe("workflow runs", () => {
      const step = (runId: string, id: string, extra: Partial<Extract<WriteOp, { op: "runStep" }>> = {}): WriteOp => ({
        op: "runStep",
        userId: "u1",
        runId,
        entry: { callType: "step", body: Buffer.from(`body of ${id}`) },
        insert: { op: "insertMessage", message: message({ id, workflow: { runId, callType: "step" } }) },
        ...extra,
      });

      it("creates a run once; a second create names the first trigger; a continue takes over an active run without an entry", async () => {
        const s = await fresh();
        expect(await s.commit([step("r1", "t1", { create: run("r1", "t1") })])).toEqual([{ applied: true }]);
        expect(await s.commit([step("r1", "t2", { create: run("r1", "t2") })])).toEqual([{ applied: false, duplicateOf: "t1" }]);
        expect(await s.getMessage("u1", "t2")).toBeUndefined();
        expect(await s.commit([step("r1", "t3", { create: run("r1", "t3"), continueExisting: true })])).toEqual([{ applied: true }]);
        expect((await s.getMessage("u1", "t3"))!.id).toBe("t3");
        const entries = await s.getRunEntries("u1", "r1");
        expect(entries.map((e) => [e.seq, e.messageId, e.body.toString()])).toEqual([[0, "t1", "body of t1"]]);
        expect((await s.getRun("u1", "r1"))!.triggerMessageId).toBe("t1");
        expect(await s.getRun("u2", "r1")).toBeUndefined();
      });

      it("a trigger for the id of an ended run starts a new run: the old record, entries, waiters, kept events and DLQ entry go, its messages stay", async () => {
        const s = await fresh();
        await s.commit([step("r1", "t1", { create: run("r1", "t1") }), step("r1", "s1"), { op: "insertDlq", entry: dlq("d1", "s1") }, { op: "insertDlq", entry: dlq("d2", "s1") }]);
        await s.commit([
          { op: "putWaiter", waiter: waiter("r1", "ev") },
          { op: "putRunEvent", event: { userId: "u1", runId: "r1", eventId: "ev", createdMs: 1, data: Buffer.from("x") } },
        ]);
        await s.commit([{ op: "runUpdate", userId: "u1", runId: "r1", expectState: ["RUN_STARTED"], patch: { state: "RUN_FAILED", completedAtMs: 5, dlqId: "d1" } }]);
        const again = { ...run("r1", "t2"), createdAtMs: 200 };
        expect(await s.commit([step("r1", "t2", { create: again })])).toEqual([{ applied: true }]);
        expect(await s.getRun("u1", "r1")).toEqual(again);
        expect((await s.getRunEntries("u1", "r1")).map((e) => [e.seq, e.messageId])).toEqual([[0, "t2"]]);
        expect(await s.countRunEvents("u1", "r1")).toBe(0);
        expect(await s.listRunWaiters("u1", "r1")).toEqual([]);
        expect(await s.getDlq("u1", "d1")).toBeUndefined();
        expect((await s.getDlq("u1", "d2"))!.dlqId).toBe("d2");
        expect((await s.getMessage("u1", "s1"))!.id).toBe("s1");
        // An update meant for the old run does not touch the new one.
        expect(await s.commit([{ op: "runUpdate", userId: "u1", runId: "r1", expectState: ["RUN_STARTED"], expectCreatedAtMs: 100, patch: { state: "RUN_CANCELED" } }])).toEqual([
          { applied: false, rejected: "RUN_STARTED" },
        ]);
        expect(await s.commit([{ op: "runUpdate", userId: "u1", runId: "r1", expectState: ["RUN_STARTED"], expectCreatedAtMs: 200, patch: {} }])).toEqual([
          { applied: true, nested: [] },
        ]);
      });

      it("appends entries numbered 0, 1, 2… in append order, only to a started run", async () => {
        const s = await fresh();
        expect(await s.commit([step("r9", "x")])).toEqual([{ applied: false, rejected: "unknown" }]);
        await s.commit([step("r1", "t1", { create: run("r1", "t1") }), step("r1", "s1"), step("r1", "s2")]);
        await s.commit([{ op: "runCopyEntries", userId: "u1", runId: "r1", entries: [{ messageId: "c1", callType: "fromCallback", body: Buffer.from("c"), createdMs: 7 }] }]);
        await s.commit([step("r1", "s3")]);
        const entries = await s.getRunEntries("u1", "r1");
        expect(entries.map((e) => [e.seq, e.messageId, e.callType])).toEqual([
          [0, "t1", "step"],
          [1, "s1", "step"],
          [2, "s2", "step"],
          [3, "c1", "fromCallback"],
          [4, "s3", "step"],
        ]);
        expect((await s.getRunEntries("u1", "r1", 2)).map((e) => e.seq)).toEqual([3, 4]);

        await s.commit([{ op: "runUpdate", userId: "u1", runId: "r1", expectState: ["RUN_STARTED"], patch: { state: "RUN_SUCCESS", completedAtMs: 9, response: "\"ok\"" } }]);
        expect(await s.commit([step("r1", "s4")])).toEqual([{ applied: false, rejected: "RUN_SUCCESS" }]);
        expect(await s.getMessage("u1", "s4")).toBeUndefined();
        expect((await s.getRunEntries("u1", "r1")).length).toBe(5);
      });

      it("a step whose message is a duplicate appends nothing", async () => {
        const s = await fresh();
        await s.commit([step("r1", "t1", { create: run("r1", "t1") })]);
        const dedupStep = (id: string): WriteOp => ({
          op: "runStep",
          userId: "u1",
          runId: "r1",
          entry: { callType: "step", body: Buffer.from(id) },
          insert: { op: "insertMessage", message: message({ id, workflow: { runId: "r1", callType: "step" } }), dedupKey: "same", dedupExpiresMs: 1e12 },
        });
        expect(await s.commit([dedupStep("s1"), dedupStep("s2")])).toEqual([{ applied: true }, { applied: false, duplicateOf: "s1" }]);
        expect((await s.getRunEntries("u1", "r1")).map((e) => e.messageId)).toEqual(["t1", "s1"]);
      });

      it("updates a run only from an expected state, changing only the patched fields, and drops its waiters when it ends", async () => {
        const s = await fresh();
        await s.commit([step("r1", "t1", { create: { ...run("r1", "t1"), failureUrl: "http://127.0.0.1:1/fail", labels: ["x"] } })]);
        await s.commit([{ op: "putWaiter", waiter: waiter("r1", "ev") }]);
        const wrong = await s.commit([{ op: "runUpdate", userId: "u1", runId: "r1", expectState: ["RUN_FAILED"], patch: { state: "RUN_CANCELED" } }]);
        expect(wrong).toEqual([{ applied: false, rejected: "RUN_STARTED" }]);
        expect(await s.commit([{ op: "runUpdate", userId: "u1", runId: "nope", expectState: ["RUN_STARTED"], patch: {} }])).toEqual([
          { applied: false, rejected: "unknown" },
        ]);

        const ff = { messageId: "f1", url: "http://127.0.0.1:1/fail", state: "CALLBACK_INPROGRESS" as const };
        const results = await s.commit([
          { op: "runUpdate", userId: "u1", runId: "r1", expectState: ["RUN_STARTED"], patch: { failureFunction: ff } },
          { op: "runUpdate", userId: "u1", runId: "r1", expectState: ["RUN_STARTED"], patch: { state: "RUN_FAILED", completedAtMs: 50, dlqId: "d1" }, then: [
            { op: "insertMessage", message: message({ id: "after" }) },
          ] },
        ]);
        expect(results).toEqual([{ applied: true, nested: [] }, { applied: true, nested: [{ applied: true }] }]);
        const got = (await s.getRun("u1", "r1"))!;
        expect(got).toEqual({ ...run("r1", "t1"), failureUrl: "http://127.0.0.1:1/fail", labels: ["x"], failureFunction: ff, state: "RUN_FAILED", completedAtMs: 50, dlqId: "d1" });
        expect(await s.listRunWaiters("u1", "r1")).toEqual([]);
        expect(await s.listAllWaiters()).toEqual([]);
      });

      it("lists runs newest first with filters and a cursor, and a run's messages with their events", async () => {
        const s = await fresh();
        for (let i = 0; i < 4; i++) {
          const r = { ...run(`r${i}`, `t${i}`), createdAtMs: 100 + (i >> 1), url: `http://127.0.0.1:1/wf${i % 2}`, labels: i === 3 ? ["hot"] : [] };
          await s.commit([step(`r${i}`, `t${i}`, { create: r, insert: { op: "insertMessage", message: message({ id: `t${i}`, workflow: { runId: `r${i}`, callType: "step" } }), events: [event(`t${i}`, "CREATED", 1)] } })]);
        }
        const p1 = await s.listRuns("u1", {}, { count: 3 });
        expect(p1.items.map((r) => r.runId)).toEqual(["r3", "r2", "r1"]);
        const p2 = await s.listRuns("u1", {}, { count: 3, cursor: p1.cursor });
        expect([p2.items.map((r) => r.runId), p2.cursor]).toEqual([["r0"], undefined]);
        expect((await s.listRuns("u1", { urlPrefix: ["http://127.0.0.1:1/wf1"] }, { count: 10 })).items.map((r) => r.runId)).toEqual(["r3", "r1"]);
        expect((await s.listRuns("u1", { label: ["hot", "cold"] }, { count: 10 })).items.map((r) => r.runId)).toEqual(["r3"]);
        expect((await s.listRuns("u1", { runIds: ["r0", "r2"], state: ["RUN_STARTED"] }, { count: 10 })).items.map((r) => r.runId)).toEqual(["r2", "r0"]);
        const msgs = await s.listRunMessages("u1", "r2");
        expect(msgs.map((m) => [m.message.id, m.events.map((e) => e.state)])).toEqual([["t2", ["CREATED"]]]);
      });

      it("a waiter is taken once, with its `then` applied once", async () => {
        const s = await fresh();
        await s.commit([step("r1", "t1", { create: run("r1", "t1") })]);
        const w = waiter("r1", "ev", 500);
        await s.commit([{ op: "putWaiter", waiter: w }, { op: "putWaiter", waiter: waiter("r1", "other", 100) }]);
        expect(typeof w.id).toBe("number");
        expect((await s.listWaiters("u1", "ev")).map((x) => x.id)).toEqual([w.id]);
        expect((await s.listWaiters("u1", "ev", "r1"))[0]).toEqual(w);
        expect((await s.listWaiters("u1", "ev", "r2"))).toEqual([]);
        expect((await s.listWaitersDue(1000, 10)).map((x) => x.eventId)).toEqual(["other", "ev"]);
        expect((await s.listWaitersDue(200, 10)).map((x) => x.eventId)).toEqual(["other"]);
        const take = (id: string): WriteOp => ({ op: "takeWaiter", userId: "u1", id: w.id!, then: [{ op: "insertMessage", message: message({ id }) }] });
        expect(await s.commit([take("a1"), take("a2")])).toEqual([{ applied: true, nested: [{ applied: true }] }, { applied: false }]);
        expect(await s.commit([take("a3")])).toEqual([{ applied: false }]);
        expect(await s.getMessage("u1", "a2")).toBeUndefined();
        expect((await s.listRunWaiters("u1", "r1")).map((x) => x.eventId)).toEqual(["other"]);
      });

      it("an event kept for a run is found oldest first and taken once", async () => {
        const s = await fresh();
        const e1: StoredRunEvent = { userId: "u1", runId: "r1", eventId: "ev", createdMs: 1, data: Buffer.from("one") };
        const e2: StoredRunEvent = { userId: "u1", runId: "r1", eventId: "ev", createdMs: 2, data: Buffer.from("two") };
        await s.commit([{ op: "putRunEvent", event: e1 }, { op: "putRunEvent", event: e2 }]);
        expect(await s.countRunEvents("u1", "r1")).toBe(2);
        expect(await s.findRunEvent("u1", "r1", "ev")).toEqual(e1);
        const take: WriteOp = { op: "takeRunEvent", userId: "u1", id: e1.id!, then: [{ op: "event", event: event("m", "CREATED", 1) }] };
        expect(await s.commit([take, take])).toEqual([{ applied: true, nested: [{ applied: true }] }, { applied: false }]);
        expect((await s.findRunEvent("u1", "r1", "ev"))!.data.toString()).toBe("two");
        expect(await s.countRunEvents("u1", "r1")).toBe(1);
      });

      it("nests results of `then` inside `then`", async () => {
        const s = await fresh();
        await s.commit([step("r1", "t1", { create: run("r1", "t1") }), { op: "insertDlq", entry: dlq("d1", "t1") }]);
        const w = waiter("r1", "ev");
        await s.commit([{ op: "putWaiter", waiter: w }]);
        const results = await s.commit([
          { op: "deleteDlq", userId: "u1", dlqId: "d1", then: [
            { op: "takeWaiter", userId: "u1", id: w.id!, then: [
              { op: "runUpdate", userId: "u1", runId: "r1", expectState: ["RUN_STARTED"], patch: { state: "RUN_CANCELED" }, then: [
                { op: "insertMessage", message: message({ id: "deep" }) },
              ] },
              { op: "runUpdate", userId: "u1", runId: "r1", expectState: ["RUN_STARTED"], patch: { state: "RUN_SUCCESS" } },
            ] },
            { op: "takeWaiter", userId: "u1", id: w.id! },
          ] },
        ]);
        expect(results).toEqual([
          { applied: true, nested: [
            { applied: true, nested: [{ applied: true, nested: [{ applied: true }] }, { applied: false, rejected: "RUN_CANCELED" }] },
            { applied: false },
          ] },
        ]);
        expect((await s.getMessage("u1", "deep"))!.id).toBe("deep");
      });
    });

    describe("logs and bulk selection", () => {
      it("lists events with filters, newest first or oldest first, by pages", async () => {
        const s = await fresh();
        await s.commit([
          { op: "insertMessage", message: message({ id: "m1", labels: ["x"], queueName: "q" }), events: [event("m1", "CREATED", 10)] },
          { op: "insertMessage", message: message({ id: "m2", labels: ["y"] }), events: [event("m2", "CREATED", 20)] },
          { op: "event", event: { ...event("m1", "ERROR", 30), error: "bad", responseStatus: 500, responseHeaders: { A: ["1"] }, responseBody: Buffer.from("r"), nextDeliveryTimeMs: 99 } },
        ]);
        const desc = await s.listEvents("u1", {}, { count: 2 });
        expect(desc.items.map((e) => [e.messageId, e.state])).toEqual([["m1", "ERROR"], ["m2", "CREATED"]]);
        const rest = await s.listEvents("u1", {}, { count: 2, cursor: desc.cursor });
        expect([rest.items.map((e) => e.state), rest.cursor]).toEqual([["CREATED"], undefined]);
        const err = desc.items[0];
        expect([err.error, err.responseStatus, err.responseHeaders, err.responseBody?.toString(), err.nextDeliveryTimeMs, err.message.id, err.timeMs]).toEqual([
          "bad", 500, { A: ["1"] }, "r", 99, "m1", 30,
        ]);
        const asc = await s.listEvents("u1", {}, { count: 10, asc: true });
        expect(asc.items.map((e) => e.timeMs)).toEqual([10, 20, 30]);
        expect((await s.listEvents("u1", { label: ["x"] }, { count: 10 })).items.map((e) => e.state)).toEqual(["ERROR", "CREATED"]);
        expect((await s.listEvents("u1", { state: ["CREATED"], fromDate: 15 }, { count: 10 })).items.map((e) => e.messageId)).toEqual(["m2"]);
        expect((await s.listEvents("u1", { queueName: ["q"], toDate: 15 }, { count: 10 })).items.map((e) => e.messageId)).toEqual(["m1"]);
        expect((await s.listEvents("u2", {}, { count: 10 })).items).toEqual([]);
      });

      it("finds unfinished messages; a capped search goes oldest first and skips those already asked to cancel", async () => {
        const s = await fresh();
        await s.commit([
          { op: "insertMessage", message: message({ id: "m1", createdAtMs: 3 }) },
          { op: "insertMessage", message: message({ id: "m2", createdAtMs: 1 }) },
          { op: "insertMessage", message: message({ id: "m3", createdAtMs: 2, state: "delivered", finishedMs: 5 }) },
          { op: "insertMessage", message: message({ id: "m4", createdAtMs: 0, state: "active" }) },
          { op: "event", event: event("m4", "CANCEL_REQUESTED", 5) },
        ]);
        expect((await s.findUnfinished("u1", {})).sort()).toEqual(["m1", "m2", "m4"]);
        expect(await s.findUnfinished("u1", {}, 10)).toEqual(["m2", "m1"]);
        expect(await s.findUnfinished("u1", {}, 1)).toEqual(["m2"]);
        expect(await s.findUnfinished("u1", { messageIds: ["m1", "m3"] })).toEqual(["m1"]);
      });

      it("a cancel asked for an attempt in flight is applied, and logged, only while the message is active", async () => {
        const s = await fresh();
        await s.commit([
          { op: "insertMessage", message: message({ id: "a1", state: "active" }) },
          { op: "insertMessage", message: message({ id: "p1" }) },
        ]);
        const asked = (id: string, userId = "u1") => ({ op: "requestCancel" as const, userId, id, events: [event(id, "CANCEL_REQUESTED", 7)] });
        const results = await s.commit([asked("a1"), asked("p1"), asked("a1", "u2"), asked("missing")]);
        expect(results.map((r) => r.applied)).toEqual([true, false, false, false]);
        const logged = await s.listEvents("u1", { state: ["CANCEL_REQUESTED"] }, { count: 10 });
        expect(logged.items.map((e) => e.messageId)).toEqual(["a1"]);
      });

      it("counts a queue's lag, a key's waiting messages and a queue's slot holders", async () => {
        const s = await fresh();
        await s.commit([
          { op: "insertMessage", message: message({ id: "q1", queueName: "q", flowControl: { key: "k" }, dueMs: 5 }) },
          { op: "insertMessage", message: message({ id: "q2", queueName: "q", flowControl: { key: "k" }, dueMs: 50, state: "active" }) },
          { op: "insertMessage", message: message({ id: "q3", queueName: "q", state: "delivered", finishedMs: 1 }) },
          { op: "insertMessage", message: message({ id: "cb", kind: "callback", sourceMessageId: "q3", sourceQueueName: "q" }) },
          { op: "insertMessage", message: message({ id: "q4", queueName: "q", flowControl: { key: "k" }, dueMs: 100 }) },
        ]);
        expect(await s.countQueueLag("u1", "q")).toBe(3);
        expect(await s.countQueueLag("u2", "q")).toBe(0);
        expect(await s.countWaiting("u1", "k", 60)).toBe(1);
        expect(await s.countActive("u1")).toBe(1);
        expect(await s.countActive("u1", "k")).toBe(1);
        expect(await s.countActive("u1", "other")).toBe(0);
        expect(await s.countActive("u2")).toBe(0);
        const holders = (await s.listQueueHolders()).sort((a, b) => a.id.localeCompare(b.id));
        expect(holders).toEqual([
          { userId: "u1", queueName: "q", id: "q2", finished: false, callbacks: 0 },
          { userId: "u1", queueName: "q", id: "q3", finished: true, callbacks: 1 },
        ]);
      });

      it("lists a user's flow-control keys in use: in flight or due and waiting, by name, bounded", async () => {
        const s = await fresh();
        await s.commit([
          { op: "insertMessage", message: message({ id: "b1", flowControl: { key: "beta" }, dueMs: 5 }) },
          { op: "insertMessage", message: message({ id: "b2", flowControl: { key: "beta" }, dueMs: 6 }) },
          { op: "insertMessage", message: message({ id: "a1", flowControl: { key: "alpha" }, dueMs: 500, state: "active" }) },
          { op: "insertMessage", message: message({ id: "g1", flowControl: { key: "gamma" }, dueMs: 5 }) },
          // Not in use: not yet due, finished, no key, another user's.
          { op: "insertMessage", message: message({ id: "l1", flowControl: { key: "later" }, dueMs: 500 }) },
          { op: "insertMessage", message: message({ id: "d1", flowControl: { key: "done" }, dueMs: 5, state: "delivered", finishedMs: 7 }) },
          { op: "insertMessage", message: message({ id: "n1", dueMs: 5 }) },
          { op: "insertMessage", message: message({ id: "o1", userId: "u2", flowControl: { key: "other" }, dueMs: 5 }) },
        ]);
        expect(await s.listFlowKeysInUse("u1", 60, "", 10)).toEqual(["alpha", "beta", "gamma"]);
        expect(await s.listFlowKeysInUse("u1", 600, "", 10)).toEqual(["alpha", "beta", "gamma", "later"]);
        expect(await s.listFlowKeysInUse("u1", 60, "", 2)).toEqual(["alpha", "beta"]);
        // The search is applied before the bound: a match past the first keys is still found.
        expect(await s.listFlowKeysInUse("u1", 60, "amm", 1)).toEqual(["gamma"]);
        expect(await s.listFlowKeysInUse("u1", 60, "nothing", 10)).toEqual([]);
        expect(await s.listFlowKeysInUse("u2", 60, "", 10)).toEqual(["other"]);
        expect(await s.listFlowKeysInUse("u3", 60, "", 10)).toEqual([]);
      });
    });

    describe("metrics", () => {
      it("counts pending and due messages, DLQ entries, schedules and active runs", async () => {
        const s = await fresh();
        await s.commit([
          { op: "insertMessage", message: message({ id: "p1", dueMs: 5 }) },
          { op: "insertMessage", message: message({ id: "p2", dueMs: 50, userId: "u2" }) },
          { op: "insertMessage", message: message({ id: "f1", state: "failed", finishedMs: 1 }) },
          { op: "insertDlq", entry: dlq("d1", "f1") },
          { op: "putSchedule", schedule: schedule({ id: "s1" }) },
          { op: "runStep", userId: "u1", runId: "r1", create: run("r1", "t1"), insert: { op: "insertMessage", message: message({ id: "t1", dueMs: 100 }) } },
        ]);
        expect(await s.countForMetrics(10)).toEqual({ pending: 3, due: 1, dlq: 1, schedules: 1, activeRuns: 1 });
      });
    });

    describe("settings", () => {
      it("upserts and deletes queues, URL groups, flow settings and rate windows", async () => {
        const s = await fresh();
        await s.commit([
          { op: "putQueue", queue: queue("q1") },
          { op: "putQueue", queue: { ...queue("q1"), parallelism: 3, paused: true, updatedAtMs: 9, createdAtMs: 999 } },
          { op: "putUrlGroup", group: { userId: "u1", name: "g", createdAtMs: 1, updatedAtMs: 1, endpoints: [{ url: "http://127.0.0.1:1/a", name: "a" }] }, expectUpdatedAtMs: null },
          { op: "putFlowSettings", userId: "u1", key: "k", settings: { parallelism: 2 } as never },
          { op: "putFlowWindows", windows: [{ userId: "u1", key: "k", startMs: 10, count: 2 }] },
          { op: "putFlowWindows", windows: [{ userId: "u1", key: "k", startMs: 20, count: 1 }] },
        ]);
        // An upsert keeps the creation time and changes the rest.
        expect(await s.listQueues()).toEqual([{ ...queue("q1"), parallelism: 3, paused: true, updatedAtMs: 9 }]);
        expect(await s.getQueue("u1", "q1")).toEqual({ ...queue("q1"), parallelism: 3, paused: true, updatedAtMs: 9 });
        expect(await s.getQueue("u2", "q1")).toBeUndefined();
        expect(await s.getQueue("u1", "q2")).toBeUndefined();
        expect(await s.listUrlGroups()).toEqual([{ userId: "u1", name: "g", createdAtMs: 1, updatedAtMs: 1, endpoints: [{ url: "http://127.0.0.1:1/a", name: "a" }] }]);
        expect(await s.getUrlGroup("u1", "g")).toEqual({ userId: "u1", name: "g", createdAtMs: 1, updatedAtMs: 1, endpoints: [{ url: "http://127.0.0.1:1/a", name: "a" }] });
        expect(await s.getUrlGroup("u2", "g")).toBeUndefined();
        expect(await s.getUrlGroup("u1", "h")).toBeUndefined();
        expect(await s.listFlowSettings()).toEqual([{ userId: "u1", key: "k", settings: { parallelism: 2 } }]);
        expect(await s.listFlowWindows()).toEqual([{ userId: "u1", key: "k", startMs: 20, count: 1 }]);
        expect(await s.commit([
          { op: "deleteQueue", userId: "u1", name: "q1" },
          { op: "deleteQueue", userId: "u1", name: "q1" },
          { op: "deleteUrlGroup", userId: "u1", name: "g" },
        ])).toEqual([{ applied: true }, { applied: false }, { applied: true }]);
        expect(await s.getQueue("u1", "q1")).toBeUndefined();
        expect(await s.listQueues()).toEqual([]);
        expect(await s.listUrlGroups()).toEqual([]);
        expect(await s.getUrlGroup("u1", "g")).toBeUndefined();
      });

      it("a queue put with no fields only creates an absent queue; one with fields changes only those", async () => {
        const s = await fresh();
        const explicit = { ...queue("q1"), parallelism: 5, createdAtMs: 10, updatedAtMs: 10 };
        const defaults = { ...queue("q1"), parallelism: 1, createdAtMs: 20, updatedAtMs: 20 };
        expect(await s.commit([{ op: "putQueue", queue: explicit, fields: [] }])).toEqual([{ applied: true }]);
        // A create-if-absent that comes second (an enqueue on another node) leaves the explicit settings alone.
        expect(await s.commit([{ op: "putQueue", queue: defaults, fields: [] }])).toEqual([{ applied: false }]);
        expect(await s.listQueues()).toEqual([explicit]);

        // A pause written from a read older than a parallelism change keeps that change, and the other way round.
        await s.commit([{ op: "putQueue", queue: { ...explicit, parallelism: 7, updatedAtMs: 30 }, fields: ["parallelism"] }]);
        await s.commit([{ op: "putQueue", queue: { ...explicit, paused: true, updatedAtMs: 40 }, fields: ["paused"] }]);
        expect(await s.listQueues()).toEqual([{ ...explicit, parallelism: 7, paused: true, updatedAtMs: 40 }]);
        await s.commit([{ op: "putQueue", queue: { ...explicit, parallelism: 2, paused: false, updatedAtMs: 50, createdAtMs: 99 }, fields: ["parallelism"] }]);
        expect(await s.listQueues()).toEqual([{ ...explicit, parallelism: 2, paused: true, updatedAtMs: 50 }]);

        // A patch of one field to an absent queue creates it whole, as given.
        expect(await s.commit([{ op: "putQueue", queue: { ...queue("q2"), paused: true }, fields: ["paused"] }])).toEqual([{ applied: true }]);
        expect((await s.listQueues()).find((q) => q.name === "q2")).toEqual({ ...queue("q2"), paused: true });
      });

      it("a URL group write with an expected version applies only to that version; a create only when absent", async () => {
        const s = await fresh();
        const group = (updatedAtMs: number, urls: string[]) => ({
          userId: "u1", name: "g", createdAtMs: 1, updatedAtMs, endpoints: urls.map((url) => ({ url })),
        });
        const a = "http://127.0.0.1:1/a";
        const b = "http://127.0.0.1:1/b";
        const c = "http://127.0.0.1:1/c";
        expect(await s.commit([{ op: "putUrlGroup", group: group(1, [a]), expectUpdatedAtMs: null }])).toEqual([{ applied: true }]);
        // A second create from a read that saw no group loses: the group it would overwrite is not the one it read.
        expect(await s.commit([{ op: "putUrlGroup", group: group(1, [b]), expectUpdatedAtMs: null }])).toEqual([{ applied: false }]);
        // Two edits read version 1: the first applies, the second (in the same commit, as if after it) does not.
        expect(await s.commit([
          { op: "putUrlGroup", group: group(2, [a, b]), expectUpdatedAtMs: 1 },
          { op: "putUrlGroup", group: group(2, [a, c]), expectUpdatedAtMs: 1 },
        ])).toEqual([{ applied: true }, { applied: false }]);
        expect(await s.listUrlGroups()).toEqual([group(2, [a, b])]);
        // The loser read again and applies to version 2.
        expect(await s.commit([{ op: "putUrlGroup", group: group(3, [a, b, c]), expectUpdatedAtMs: 2 }])).toEqual([{ applied: true }]);
        expect(await s.listUrlGroups()).toEqual([group(3, [a, b, c])]);
        // A delete of a version that is no longer stored leaves the group.
        expect(await s.commit([{ op: "deleteUrlGroup", userId: "u1", name: "g", expectUpdatedAtMs: 2 }])).toEqual([{ applied: false }]);
        expect(await s.listUrlGroups()).toHaveLength(1);
        expect(await s.commit([{ op: "deleteUrlGroup", userId: "u1", name: "g", expectUpdatedAtMs: 3 }])).toEqual([{ applied: true }]);
        expect(await s.listUrlGroups()).toEqual([]);
        // An edit of a group deleted since it was read does not bring it back.
        expect(await s.commit([{ op: "putUrlGroup", group: group(4, [a]), expectUpdatedAtMs: 3 }])).toEqual([{ applied: false }]);
        expect(await s.listUrlGroups()).toEqual([]);
      });

      it("stores a user's first signing keys once: a later or concurrent first pair gets the one stored", async () => {
        const s = await fresh();
        expect(await s.getSigningKeys("u1")).toBeUndefined();
        const firsts = await Promise.all(["a", "b", "c"].map((x) => s.insertSigningKeys("u1", { current: `c-${x}`, next: `n-${x}` })));
        const kept = await s.getSigningKeys("u1");
        expect(kept).toBeDefined();
        expect(["a", "b", "c"].map((x) => `c-${x}`)).toContain(kept!.current);
        expect(kept!.next).toBe(kept!.current.replace("c-", "n-"));
        // Every caller was answered with the pair that is stored, not its own.
        expect(firsts).toEqual([kept, kept, kept]);
        expect(await s.insertSigningKeys("u1", { current: "late", next: "late-next" })).toEqual(kept);
        expect(await s.getSigningKeys("u2")).toBeUndefined();
        expect(await s.insertSigningKeys("u2", { current: "c2", next: "n2" })).toEqual({ current: "c2", next: "n2" });
        expect(await s.getSigningKeys("u1")).toEqual(kept);
      });

      it("replaces signing keys only from the pair that is stored: of two rotations of one pair, one wins", async () => {
        const s = await fresh();
        await s.insertSigningKeys("u1", { current: "c1", next: "n1" });
        await s.insertSigningKeys("u2", { current: "c1", next: "n1" });
        expect(await s.replaceSigningKeys("u1", { current: "c1", next: "other" }, { current: "x", next: "y" })).toBe(false);
        expect(await s.replaceSigningKeys("u1", { current: "other", next: "n1" }, { current: "x", next: "y" })).toBe(false);
        expect(await s.replaceSigningKeys("nobody", { current: "c1", next: "n1" }, { current: "x", next: "y" })).toBe(false);
        expect(await s.getSigningKeys("u1")).toEqual({ current: "c1", next: "n1" });
        expect(await s.getSigningKeys("nobody")).toBeUndefined();

        const rotations = await Promise.all(
          ["a", "b", "c", "d"].map((x) => s.replaceSigningKeys("u1", { current: "c1", next: "n1" }, { current: "n1", next: `n2-${x}` })),
        );
        expect(rotations.filter(Boolean)).toHaveLength(1);
        const winner = ["a", "b", "c", "d"][rotations.indexOf(true)];
        expect(await s.getSigningKeys("u1")).toEqual({ current: "n1", next: `n2-${winner}` });
        // Another user's keys are their own, even when equal.
        expect(await s.getSigningKeys("u2")).toEqual({ current: "c1", next: "n1" });
        expect(await s.replaceSigningKeys("u1", { current: "n1", next: `n2-${winner}` }, { current: `n2-${winner}`, next: "n3" })).toBe(true);
        expect(await s.getSigningKeys("u1")).toEqual({ current: `n2-${winner}`, next: "n3" });
      });
    });

    describe("retention and shared bodies", () => {
      it("a fan-out keeps its body once; purge removes finished messages with their events and DLQ entries, and keeps the body while a message names it", async () => {
        const s = await fresh();
        const body = Buffer.from("shared body");
        const ops: WriteOp[] = ["f1", "f2", "f3"].map((id) => ({ op: "insertMessage", message: message({ id, body }), sharedBodyId: "b1", events: [event(id, "CREATED", 1)] }));
        await s.commit(ops);
        for (const id of ["f1", "f2", "f3"]) expect((await s.getMessage("u1", id))!.body).toEqual(body);
        expect((await s.getMessagesById(["f1", "f2"])).map((m) => m.body.toString())).toEqual(["shared body", "shared body"]);

        await s.commit([
          { op: "updateMessage", id: "f1", expectState: "pending", state: "delivered", retried: 1, dueMs: 1, finishedMs: 10 },
          { op: "updateMessage", id: "f2", expectState: "pending", state: "failed", retried: 1, dueMs: 1, finishedMs: 10 },
          { op: "insertDlq", entry: dlq("d2", "f2") },
          { op: "updateMessage", id: "f3", expectState: "pending", state: "delivered", retried: 1, dueMs: 1, finishedMs: 500 },
        ]);
        expect(await s.purge(100, 1000, 1000)).toBe(2);
        expect(await s.getMessage("u1", "f1")).toBeUndefined();
        expect(await s.getDlq("u1", "d2")).toBeUndefined();
        expect((await s.getMessage("u1", "f3"))!.body).toEqual(body);
        expect((await s.listEvents("u1", {}, { count: 10 })).items.map((e) => e.messageId)).toEqual(["f3"]);

        expect(await s.purge(1000, 1000, 1000)).toBe(1);
        expect(await s.purge(1000, 1000, 1000)).toBe(0);
      });

      it("purge removes finished runs with their entries and kept events, in batches of `limit`", async () => {
        const s = await fresh();
        const ops: WriteOp[] = [];
        for (let i = 0; i < 3; i++) {
          ops.push({ op: "runStep", userId: "u1", runId: `r${i}`, create: run(`r${i}`, `t${i}`), entry: { callType: "step", body: Buffer.from("x") }, insert: { op: "insertMessage", message: message({ id: `t${i}` }) } });
          ops.push({ op: "runUpdate", userId: "u1", runId: `r${i}`, expectState: ["RUN_STARTED"], patch: { state: "RUN_SUCCESS", completedAtMs: 10 } });
        }
        ops.push({ op: "putRunEvent", event: { userId: "u1", runId: "r0", eventId: "e", createdMs: 1, data: Buffer.from("d") } });
        await s.commit(ops);
        const removed = await s.purge(100, 1000, 2);
        expect(removed).toBe(2);
        expect((await s.listRuns("u1", {}, { count: 10 })).items.length).toBe(1);
        await s.purge(100, 1000, 2);
        expect((await s.listRuns("u1", {}, { count: 10 })).items).toEqual([]);
        expect(await s.getRunEntries("u1", "r0")).toEqual([]);
        expect(await s.countRunEvents("u1", "r0")).toBe(0);
      });
    });
  });
}

/** The event states of user u1's log, oldest first. */
async function logStates(s: Store): Promise<string[]> {
  return (await s.listEvents("u1", {}, { count: 100, asc: true })).items.map((e) => e.state);
}

export function message(over: Partial<MessageRecord> = {}): MessageRecord {
  const m: MessageRecord = {
    id: "m",
    userId: "u1",
    kind: "publish",
    url: "http://127.0.0.1:1/x",
    method: "POST",
    header: {},
    body: Buffer.from("hello"),
    maxRetries: 3,
    notBeforeMs: 0,
    createdAtMs: 1,
    callerIp: "127.0.0.1",
    labels: [],
    state: "pending",
    retried: 0,
    dueMs: 1,
    ...over,
  };
  // What the store returns leaves out what was never set.
  for (const k of Object.keys(m) as (keyof MessageRecord)[]) if (m[k] === undefined) delete m[k];
  return m;
}

export function event(messageId: string, state: LogEvent["state"], timeMs: number): LogEvent {
  return { userId: "u1", messageId, state, timeMs };
}

function dlq(dlqId: string, messageId: string): DlqEntry {
  return { dlqId, userId: "u1", messageId, createdMs: 1 };
}

function queue(name: string) {
  return { userId: "u1", name, parallelism: 1, paused: false, createdAtMs: 1, updatedAtMs: 1 };
}

export function schedule(over: Partial<StoredSchedule>): StoredSchedule {
  return {
    id: "s",
    userId: "u1",
    cron: "* * * * *",
    destination: "http://127.0.0.1:1/s",
    headers: {},
    body: Buffer.from("tick"),
    callerIp: "127.0.0.1",
    paused: false,
    createdAtMs: 1,
    revision: "rev-1",
    nextMs: 1000,
    lastMs: null,
    lastMessageIds: [],
    ...over,
  };
}

function run(runId: string, triggerMessageId: string): RunRecord {
  return {
    userId: "u1",
    runId,
    url: "http://127.0.0.1:1/wf",
    state: "RUN_STARTED",
    createdAtMs: 100,
    callerIp: "127.0.0.1",
    labels: [],
    triggerMessageId,
    inherit: { "upstash-retries": "1" },
  };
}

function waiter(runId: string, eventId: string, deadlineMs = 1000): StoredWaiter {
  return {
    userId: "u1",
    eventId,
    runId,
    createdMs: 1,
    deadlineMs,
    url: "http://127.0.0.1:1/wf",
    headers: { "Upstash-Workflow-RunId": [runId] },
    timeoutUrl: "http://127.0.0.1:1/wf",
    timeoutHeaders: {},
    step: { stepId: 1, stepName: "wait" },
  };
}


