import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tokenFor } from "../../src/config.js";
import { killHard, spawnSluice, type SluiceProcess } from "../helpers/process.js";
import { eventually } from "../helpers/receiver.js";

const root = mkdtempSync(join(tmpdir(), "sluice-secrets-"));
const procs: SluiceProcess[] = [];
afterAll(async () => {
  for (const p of procs) await killHard(p);
  rmSync(root, { recursive: true, force: true });
});

const alice = { userId: "alice", password: "alice-very-secret-pw" };
const bob = { userId: "bob", password: "bob-very-secret-pw" };
const env = { SLUICE_USERS: "alice:alice-very-secret-pw,bob:bob-very-secret-pw", SLUICE_HOST: "127.0.0.1" };

const serve = async (args: string[], extraEnv: Record<string, string> = {}): Promise<SluiceProcess> => {
  const p = await spawnSluice(["serve", "--port", "0", ...args], { ...env, ...extraEnv });
  procs.push(p);
  return p;
};
const bearer = (u: typeof alice) => ({ Authorization: `Bearer ${tokenFor(u)}` });
const banner = (p: SluiceProcess): Promise<string> => eventually(() => /\/v2\/keys\s*$/m.test(p.output()) && p.output());

describe("tokens stay out of the server's output", () => {
  it.each(["debug", "trace"])("a qstash_token in the URL and the Authorization header are masked in request logs (shown from debug) at %s", async (level) => {
    // Private destinations allowed, so the publish below is accepted (and logged) rather than refused at publish.
    const p = await serve(["--memory"], { SLUICE_LOG_LEVEL: level, SLUICE_EGRESS_ALLOW_PRIVATE: "true" });
    const token = encodeURIComponent(tokenFor(alice));
    expect((await fetch(`${p.url}/v2/keys?qstash_token=${token}`)).status).toBe(200);
    expect((await fetch(`${p.url}/v2/keys?qstash%5Ftoken=${token}&page=1`)).status).toBe(200);
    expect((await fetch(`${p.url}/v2/keys`, { headers: bearer(bob) })).status).toBe(200);
    expect((await fetch(`${p.url}/v2/nowhere?qstash_token=${token}`)).status).toBe(404);
    const published = await fetch(`${p.url}/v2/publish/http://127.0.0.1:9/hook?qstash_token=${token}&keep=1`, {
      method: "POST",
      body: "x",
      headers: { "Upstash-Delay": "1h" },
    });
    expect(published.status).toBe(200);

    // The requests are logged (so the check below can fail), with the token's value masked.
    const log = await eventually(() => p.output().includes(`"url":"/v2/publish/http://127.0.0.1:9/hook?qstash_token=[redacted]&keep=1"`) && p.output());
    expect(log).toContain(`"url":"/v2/keys?qstash_token=[redacted]"`);
    expect(log).toContain(`"url":"/v2/keys?qstash%5Ftoken=[redacted]&page=1"`);
    for (const secret of [tokenFor(alice), token, tokenFor(bob), alice.password, bob.password]) expect(log).not.toContain(secret);
  }, 30_000);

  it("sluice serve prints generated signing keys on their first start only, and never a token", async () => {
    const dataDir = join(root, "banner");
    const first = await serve(["--data", dataDir]);
    const firstBanner = await banner(first);
    const keys = (await (await fetch(`${first.url}/v2/keys`, { headers: bearer(alice) })).json()) as { current: string; next: string };
    const bobKeys = (await (await fetch(`${first.url}/v2/keys`, { headers: bearer(bob) })).json()) as { current: string; next: string };
    expect(firstBanner).toContain(`QSTASH_CURRENT_SIGNING_KEY=${keys.current}`);
    expect(firstBanner).toContain(`QSTASH_NEXT_SIGNING_KEY=${bobKeys.next}`);
    // Says where the keys are kept and how to read them again.
    expect(firstBanner).toContain(join(dataDir, "sluice.db"));
    expect(firstBanner).toContain(`${first.url}/v2/keys`);
    await killHard(first);

    const second = await serve(["--data", dataDir]);
    const secondBanner = await banner(second);
    expect(secondBanner).toContain(`${second.url}/v2/keys`);
    expect(await (await fetch(`${second.url}/v2/keys`, { headers: bearer(alice) })).json()).toEqual(keys);
    for (const out of [firstBanner, secondBanner]) {
      for (const secret of [tokenFor(alice), tokenFor(bob), alice.password, bob.password]) expect(out).not.toContain(secret);
    }
    for (const key of [keys.current, keys.next, bobKeys.current, bobKeys.next]) expect(secondBanner).not.toContain(key);
  }, 30_000);
});

describe("token lookup", () => {
  it("accepts exactly a user's token: a prefix, an extension, a same-length forgery or another's password are refused", async () => {
    const p = await serve(["--memory"]);
    const good = tokenFor(alice);
    const sameLength = good.slice(0, -2) + (good.endsWith("AA") ? "BB" : "AA");
    for (const t of [good.slice(0, -1), `${good}A`, sameLength, tokenFor({ userId: "alice", password: bob.password })]) {
      const res = await fetch(`${p.url}/v2/keys`, { headers: { Authorization: `Bearer ${t}` } });
      expect({ t, status: res.status, body: await res.json() }).toEqual({ t, status: 401, body: { error: "invalid token" } });
    }
    expect((await fetch(`${p.url}/v2/keys`, { headers: bearer(alice) })).status).toBe(200);
    expect((await fetch(`${p.url}/v2/keys`, { headers: bearer(bob) })).status).toBe(200);
  }, 30_000);
});
