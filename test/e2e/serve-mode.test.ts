import { Client } from "@upstash/qstash";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tokenFor } from "../../src/config.js";
import { killHard, spawnSluice, type SluiceProcess } from "../helpers/process.js";
import { TestReceiver } from "../helpers/receiver.js";

const dataDir = mkdtempSync(join(tmpdir(), "sluice-serve-"));
const procs: SluiceProcess[] = [];
afterAll(async () => {
  for (const p of procs) await killHard(p);
  rmSync(dataDir, { recursive: true, force: true });
});

const alice = { userId: "alice", password: "alice-secret" };
const bob = { userId: "bob", password: "bob-secret" };
const env = { SLUICE_USERS: "alice:alice-secret,bob:bob-secret", SLUICE_HOST: "127.0.0.1" };

describe("sluice serve (production mode)", () => {
  it("refuses to start without users", async () => {
    await expect(spawnSluice(["serve", "--memory", "--port", "0"], { SLUICE_USERS: "" }, 5000)).rejects.toThrow(/at least one user/);
  });

  it("serves configured users with generated keys that survive a restart, and denies private destinations", async () => {
    const first = await spawnSluice(["serve", "--data", dataDir, "--port", "0"], env);
    procs.push(first);
    const auth = (u: typeof alice) => ({ Authorization: `Bearer ${tokenFor(u)}` });
    const keysRes = await fetch(`${first.url}/v2/keys`, { headers: auth(alice) });
    expect(keysRes.status).toBe(200);
    const keys = (await keysRes.json()) as { current: string; next: string };
    expect(keys.current).toMatch(/^sig_/);
    expect(keys.current).not.toBe("sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r");
    const bobKeys = await (await fetch(`${first.url}/v2/keys`, { headers: auth(bob) })).json();
    expect(bobKeys).not.toEqual(keys);
    // The dev token is not a user here.
    const dev = await fetch(`${first.url}/v2/keys`, { headers: { Authorization: `Bearer ${tokenFor({ userId: "defaultUser", password: "defaultPassword" })}` } });
    expect(dev.status).toBe(401);

    // Loopback is a private destination: the publish is refused naming the rule, nothing is stored or sent.
    const dest = await TestReceiver.start();
    const client = new Client({ baseUrl: first.url, token: tokenFor(alice) });
    await expect(client.publish({ url: dest.url("/private"), body: "x", retries: 0 })).rejects.toThrow(
      /is refused: destination address \\"127\.0\.0\.1\\" is denied by the egress policy \(loopback\)/,
    );
    expect((await client.logs({})).logs).toEqual([]);
    expect(dest.requests).toHaveLength(0);
    await dest.close();

    await killHard(first);
    const second = await spawnSluice(["serve", "--data", dataDir, "--port", "0"], env);
    procs.push(second);
    const again = await (await fetch(`${second.url}/v2/keys`, { headers: auth(alice) })).json();
    expect(again).toEqual(keys);
  });

  it("delivers to an explicitly allowed private address", async () => {
    const dest = await TestReceiver.start();
    const p = await spawnSluice(["serve", "--memory", "--port", "0"], { ...env, SLUICE_EGRESS_ALLOW_HOSTS: "127.0.0.1" });
    procs.push(p);
    const client = new Client({ baseUrl: p.url, token: tokenFor(bob) });
    await client.publish({ url: dest.url("/allowed"), body: "x" });
    await dest.waitFor(1);
    expect(dest.requests[0].path).toBe("/allowed");
    await dest.close();
  });
});
