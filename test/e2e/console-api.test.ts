import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, TestReceiver } from "../helpers/receiver.js";
import { killHard, spawnSluice } from "../helpers/process.js";
import { startSluice, type TestSluice } from "../helpers/sluice.js";

let sluice: TestSluice;
let dest: TestReceiver;

beforeAll(async () => {
  sluice = await startSluice();
  dest = await TestReceiver.start();
  dest.respond = (req) => (req.path === "/fail" ? { status: 500, body: "no" } : { status: 200, body: "ok" });
});
afterAll(async () => {
  await dest?.close();
  await sluice?.close();
});

const overview = async (user = 0): Promise<any> => {
  const res = await sluice.api("GET", "/v2/console/overview", { token: sluice.token(user) });
  expect(res.status).toBe(200);
  return res.json();
};
const total = (o: any, name: string): number => o.lastHour.buckets.reduce((n: number, b: any) => n + b[name], 0);

describe("console files", () => {
  it("serves the page, its modules and the vendored libraries without a token", async () => {
    const page = await sluice.api("GET", "/console", { token: null });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain("/console/app.js");
    for (const path of ["/console/app.js", "/console/vendor/preact.js", "/console/vendor/hooks.js", "/console/vendor/htm.js"]) {
      const res = await sluice.api("GET", path, { token: null });
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type"), path).toContain("text/javascript");
    }
  });

  it("answers an unknown file with a JSON 404 naming it, and never reads outside its folder", async () => {
    for (const path of ["/console/nope.js", "/console/vendor/other.js", "/console/..%2Fapp.ts", "/console/vendor/..%2F..%2Fpackage.json"]) {
      const res = await sluice.api("GET", path, { token: null });
      expect(res.status, path).toBe(404);
      expect((await res.json()).error).toMatch(/not found/);
    }
  });

  it("offers the dev users in dev mode only", async () => {
    const res = await sluice.api("GET", "/console/api/dev-users", { token: null });
    const { users } = await res.json();
    expect(users.map((u: any) => u.userId)).toEqual(["defaultUser", "testUser1", "testUser2", "testUser3"]);
    expect(users[1].token).toBe(sluice.token(1));
    const served = await startSluice({ mode: "serve" });
    try {
      const refused = await served.api("GET", "/console/api/dev-users", { token: null });
      expect(refused.status).toBe(404);
      expect((await served.api("GET", "/console", { token: null })).status).toBe(200);
    } finally {
      await served.close();
    }
  });
});

describe("GET /v2/console/overview", () => {
  it("needs a token and takes no parameters", async () => {
    expect((await sluice.api("GET", "/v2/console/overview", { token: null })).status).toBe(401);
    const res = await sluice.api("GET", "/v2/console/overview?count=5");
    expect(res.status).toBe(400);
    expect((await res.json()).error).toContain('unknown query parameter "count"');
  });

  it("counts the last hour, the DLQ and what is due, for the token's user only", async () => {
    const before = await overview(0);
    const client = sluice.client(0);
    await client.publish({ url: dest.url("/ok"), body: "a" });
    await client.publish({ url: dest.url("/fail"), body: "b", retries: 0 });
    await client.publish({ url: dest.url("/later"), body: "c", delay: 3600 });
    const after = await eventually(async () => {
      const o = await overview(0);
      return o.dlq === before.dlq + 1 && total(o, "delivered") === total(before, "delivered") + 1 ? o : undefined;
    });
    expect(after.lastHour.buckets).toHaveLength(60);
    expect(total(after, "published") - total(before, "published")).toBe(3);
    expect(total(after, "failed") - total(before, "failed")).toBe(1);
    expect(after.notYetDue - before.notYetDue).toBe(1);
    expect(after).toMatchObject({ inFlight: 0, dueWaiting: 0, activeRuns: 0, dlqCapped: false, unfinishedCapped: false });

    const other = await overview(1);
    expect(total(other, "published")).toBe(0);
    expect(other).toMatchObject({ dlq: 0, notYetDue: 0, inFlight: 0 });
  });
});

describe("GET /v2/console/schedules/{id}/ticks", () => {
  it("lists a schedule's next ticks from its cron", async () => {
    const { scheduleId } = await sluice.client().schedules.create({ destination: dest.url("/tick"), cron: "0 * * * *" });
    const res = await sluice.api("GET", `/v2/console/schedules/${scheduleId}/ticks?count=3`);
    expect(res.status).toBe(200);
    const { ticks, paused } = await res.json();
    expect(paused).toBe(false);
    expect(ticks).toHaveLength(3);
    expect(ticks[0]).toBeGreaterThan(Date.now());
    expect(ticks[0] % 3_600_000).toBe(0);
    expect(ticks[1] - ticks[0]).toBe(3_600_000);
    expect(ticks[2] - ticks[1]).toBe(3_600_000);
  });

  it("refuses a bad count, an unknown parameter, and another user's or a missing schedule", async () => {
    const { scheduleId } = await sluice.client().schedules.create({ destination: dest.url("/tick"), cron: "*/5 * * * *" });
    const cases: [string, number, RegExp, number?][] = [
      [`/v2/console/schedules/${scheduleId}/ticks?count=0`, 400, /invalid count 0: must be at least 1/],
      [`/v2/console/schedules/${scheduleId}/ticks?count=abc`, 400, /invalid count "abc"/],
      [`/v2/console/schedules/${scheduleId}/ticks?from=1`, 400, /unknown query parameter "from"/],
      ["/v2/console/schedules/scd_missing/ticks", 404, /schedule scd_missing not found/],
      [`/v2/console/schedules/${scheduleId}/ticks`, 404, /not found/, 1],
    ];
    for (const [path, status, error, user] of cases) {
      const res = await sluice.api("GET", path, { token: sluice.token(user ?? 0) });
      expect(res.status, path).toBe(status);
      expect((await res.json()).error, path).toMatch(error);
    }
  });
});

describe("the built package", () => {
  it("prints the console's link in the dev banner and serves the console from dist/", async () => {
    const p = await spawnSluice(["dev", "--memory", "--port", "0"]);
    try {
      expect(p.output()).toContain(`console: ${p.url}/console`);
      const res = await fetch(`${p.url}/console/app.js`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('from "preact"');
    } finally {
      await killHard(p);
    }
  });
});
