import { describe, expect, it } from "vitest";
import { MAX_ENTRIES_PER_KIND, NewsCollector, parseNews } from "../../src/store/postgres/news.js";

/** PostgreSQL's limit on a NOTIFY payload. */
const NOTIFY_LIMIT_BYTES = 8000;

describe("cluster news", () => {
  it("names each changed schedule, URL group and queue once, beside the kinds to read whole", () => {
    const news = new NewsCollector("node-a");
    news.changedEntry("schedules", "u1", "s1");
    news.changedEntry("schedules", "u1", "s1");
    news.changedEntry("schedules", "u2", "s1");
    news.changedEntry("urlGroups", "u1", "g");
    news.changedEntry("queues", "u1", "q");
    news.changed("flowSettings");
    const [payload, ...rest] = news.payloads();
    expect(rest).toEqual([]);
    expect(parseNews(payload)).toEqual({
      from: "node-a",
      due: [],
      cancels: [],
      changed: ["flowSettings"],
      entries: { schedules: [["u1", "s1"], ["u2", "s1"]], urlGroups: [["u1", "g"]], queues: [["u1", "q"]] },
      leaderReleased: false,
    });
  });

  it("asks for a whole read of a kind with more entries than it lists, or an entry too long to list", () => {
    const many = new NewsCollector("node-a");
    for (let i = 0; i <= MAX_ENTRIES_PER_KIND; i++) many.changedEntry("schedules", "u1", `s${i}`);
    many.changedEntry("urlGroups", "u1", "g");
    expect(many.payloads().map((p) => parseNews(p))).toMatchObject([{ changed: ["schedules"], entries: { urlGroups: [["u1", "g"]] } }]);

    const long = new NewsCollector("node-a");
    long.changedEntry("urlGroups", "u".repeat(1000), "g");
    expect(long.payloads().map((p) => parseNews(p))).toMatchObject([{ changed: ["urlGroups"], entries: {} }]);
  });

  it("splits many long entries over payloads PostgreSQL accepts, losing none", () => {
    const news = new NewsCollector("node-a");
    const listed: string[][] = [];
    for (let i = 0; i < MAX_ENTRIES_PER_KIND; i++) {
      const id = `${i}-`.padEnd(200, "x");
      news.changedEntry("schedules", "some-user", id);
      news.changedEntry("urlGroups", "some-user", id);
      listed.push(["some-user", id]);
    }
    const payloads = news.payloads();
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThan(NOTIFY_LIMIT_BYTES);
    const heard = payloads.map((p) => parseNews(p)!);
    expect(heard.flatMap((n) => n.entries.schedules ?? [])).toEqual(listed);
    expect(heard.flatMap((n) => n.entries.urlGroups ?? [])).toEqual(listed);
  });

  it("measures entries in bytes: a user id of letters beyond ASCII still splits under the limit", () => {
    const news = new NewsCollector("node-a");
    // 160 characters, 320 bytes in UTF-8: within the entry bound in characters and in bytes.
    const user = "é".repeat(160);
    for (let i = 0; i < MAX_ENTRIES_PER_KIND; i++) {
      for (const kind of ["schedules", "urlGroups", "queues"] as const) news.changedEntry(kind, user, `${i}`.padEnd(100, "x"));
    }
    const payloads = news.payloads();
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThan(NOTIFY_LIMIT_BYTES);
    expect(payloads.map((p) => parseNews(p)!).flatMap((n) => n.entries.queues ?? [])).toHaveLength(MAX_ENTRIES_PER_KIND);

    // 300 characters but 600 bytes: too long to list.
    const long = new NewsCollector("node-a");
    long.changedEntry("queues", "é".repeat(300), "q");
    expect(long.payloads().map((p) => parseNews(p))).toMatchObject([{ changed: ["queues"], entries: {} }]);
  });

  it("reads only well-formed entries from a payload", () => {
    const payload = JSON.stringify({ f: "node-b", s: [["u1", "s1"], ["u1"], "s2", [1, 2], ["u1", "s3", "extra"]], g: "not a list" });
    expect(parseNews(payload)?.entries).toEqual({ schedules: [["u1", "s1"]] });
    expect(parseNews("not json")).toBeUndefined();
  });
});
