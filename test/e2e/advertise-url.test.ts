import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killHard, runSluiceToExit, spawnSluice, type SluiceProcess } from "../helpers/process.js";

/**
 * SLUICE_ADVERTISE_URL (`advertiseUrl`) through the real command line: the URL the other nodes of a cluster pass the
 * leader's reads to (the request's path is appended to it). A value that could not be used that way stops
 * `sluice serve` before it opens anything, with a message naming the setting. That a good value is the one the
 * cluster uses is in test/cluster/leader-reads.test.ts (it needs PostgreSQL).
 */

const USERS = { SLUICE_USERS: "alice:alice-pw" };
const folder = mkdtempSync(join(tmpdir(), "sluice-advertise-"));
const procs: SluiceProcess[] = [];
afterAll(async () => {
  for (const p of procs) await killHard(p);
  rmSync(folder, { recursive: true, force: true });
});

async function refused(env: Record<string, string>, args: string[] = []): Promise<string> {
  const run = await runSluiceToExit(["serve", "--memory", "--port", "0", ...args], { ...USERS, ...env });
  expect(run.code, run.output).toBe(1);
  // Refused while reading the settings: it never got as far as listening.
  expect(run.output).not.toContain("running at");
  return run.output;
}

describe("SLUICE_ADVERTISE_URL", () => {
  it.each([
    ["not a URL", "not a url"],
    ["a host name alone", "node-2.internal:8080"],
    ["another scheme", "ftp://node-2.internal:8080"],
    ["http without slashes", "http:node-2"],
    ["no host", "http://?x=1"],
    ["a port out of range", "http://node-2:99999"],
  ])("%s is refused, naming the setting", async (_, value) => {
    const out = await refused({ SLUICE_ADVERTISE_URL: value });
    expect(out).toContain(`setting advertiseUrl (SLUICE_ADVERTISE_URL) must be an http:// or https:// URL, got "${value}"`);
  });

  it.each([
    ["a query", "http://node-2:8080?via=lb"],
    ["a fragment", "http://node-2:8080/#top"],
  ])("with %s it is refused: the request's path could not be appended", async (_, value) => {
    const out = await refused({ SLUICE_ADVERTISE_URL: value });
    expect(out).toContain(`setting advertiseUrl (SLUICE_ADVERTISE_URL) must have no query or fragment (each read passed to the leader appends its own path and query), got "${value}"`);
  });

  it("with a user name or password it is refused: the token goes in the Authorization header, never in the URL", async () => {
    const out = await refused({ SLUICE_ADVERTISE_URL: "http://ops:secret@node-2:8080" });
    expect(out).toContain("setting advertiseUrl (SLUICE_ADVERTISE_URL) must not carry a user name or password");
    // The password is not printed back.
    expect(out).not.toContain("secret");
  });

  it("empty in the config file is refused; empty in the environment is unset, as for every setting", async () => {
    const file = join(folder, "empty.json");
    writeFileSync(file, JSON.stringify({ advertiseUrl: "" }));
    const out = await refused({}, ["--config", file]);
    expect(out).toContain('setting advertiseUrl (SLUICE_ADVERTISE_URL) must be an http:// or https:// URL, got ""');

    const p = await spawnSluice(["serve", "--memory", "--port", "0", "--host", "127.0.0.1"], { ...USERS, SLUICE_ADVERTISE_URL: "" });
    procs.push(p);
    expect((await fetch(`${p.url}/health/ready`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);
  });

  it("http and https URLs, with a port, an IPv6 address or a path (a proxy in front of the node), are taken", async () => {
    for (const value of ["https://node-2.internal", "http://[::1]:8080", "http://10.0.0.2:8080/sluice/"]) {
      const p = await spawnSluice(["serve", "--memory", "--port", "0", "--host", "127.0.0.1"], { ...USERS, SLUICE_ADVERTISE_URL: value });
      procs.push(p);
      expect((await fetch(`${p.url}/health/ready`, { signal: AbortSignal.timeout(5000) })).status, value).toBe(200);
      await killHard(p);
    }
  });
});
