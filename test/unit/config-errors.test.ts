import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";

/** Every bad value stops the start with a message naming its setting. */
const dev = (env: Record<string, string>, flags = {}) => loadConfig("dev", { memory: true, ...flags }, env);

function configFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "sluice-config-")), "sluice.json");
  writeFileSync(path, text);
  return path;
}

describe("configuration errors name the setting", () => {
  it("log level: info by default, an unknown level is refused", () => {
    expect(dev({}).logLevel).toBe("info");
    expect(dev({ SLUICE_LOG_LEVEL: "DEBUG" }).logLevel).toBe("debug");
    expect(() => dev({ SLUICE_LOG_LEVEL: "verbose" })).toThrow(/setting logLevel must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"/);
  });

  it("booleans are true or false, nothing else", () => {
    expect(dev({ SLUICE_EGRESS_ALLOW_PRIVATE: "false" }).egress.allowPrivate).toBe(false);
    expect(dev({ SLUICE_EGRESS_ALLOW_PRIVATE: "TRUE" }).egress.allowPrivate).toBe(true);
    for (const v of ["yes", "1", "off"]) {
      expect(() => dev({ SLUICE_EGRESS_ALLOW_PRIVATE: v }), v).toThrow(`setting egressAllowPrivate must be true or false, got "${v}"`);
    }
    expect(() => dev({ SLUICE_REJECT_UNKNOWN_HEADERS: "strict" })).toThrow(/setting rejectUnknownHeaders must be true or false/);
  });

  it("a config file with an unknown key is refused, naming the key and the file", () => {
    const path = configFile(JSON.stringify({ port: 9000, maxRetrys: 3, logLevl: "info" }));
    expect(() => dev({}, { config: path })).toThrow(`config file ${path}: unknown settings "maxRetrys", "logLevl"`);
  });

  it("a key given both in the file and as a flag is still known", () => {
    const path = configFile(JSON.stringify({ port: 9000, host: "127.0.0.1" }));
    expect(dev({}, { config: path, port: "9001" }).port).toBe(9001);
  });

  it("a JSON syntax error names the file", () => {
    const path = configFile('{"port": 8080,}');
    expect(() => dev({}, { config: path })).toThrow(new RegExp(`config file ${path} is not valid JSON`));
    expect(() => dev({}, { config: configFile("[1, 2]") })).toThrow(/must hold a JSON object of settings/);
    expect(() => dev({}, { config: "/nonexistent/sluice.json" })).toThrow(/config file \/nonexistent\/sluice.json cannot be read/);
  });

  it("sluice dev refuses SLUICE_USERS and file users instead of ignoring them", () => {
    expect(() => dev({ SLUICE_USERS: "alice:secret" })).toThrow(/sluice dev always serves the four dev users and does not read SLUICE_USERS/);
    const path = configFile(JSON.stringify({ users: [{ userId: "alice", password: "secret" }] }));
    expect(() => dev({}, { config: path })).toThrow(/does not read SLUICE_USERS or "users"/);
    expect(loadConfig("serve", { memory: true, config: path }, {}).users.map((u) => u.userId)).toEqual(["alice"]);
  });

  it("maxResponseBodyBytes is a setting", () => {
    expect(dev({}).limits.maxResponseBodyBytes).toBe(256 * 1024);
    expect(dev({ SLUICE_MAX_RESPONSE_BODY_BYTES: "1024" }).limits.maxResponseBodyBytes).toBe(1024);
    expect(() => dev({ SLUICE_MAX_RESPONSE_BODY_BYTES: "0" })).toThrow(/setting maxResponseBodyBytes must be an integer ≥ 1/);
  });

  it("trustProxy takes addresses and CIDRs, and refuses anything else", () => {
    expect(dev({}).trustProxy).toEqual([]);
    expect(dev({ SLUICE_TRUST_PROXY: "10.0.0.1, 192.168.0.0/16,::1,fd00::/8" }).trustProxy).toEqual(["10.0.0.1", "192.168.0.0/16", "::1", "fd00::/8"]);
    for (const v of ["proxy.local", "10.0.0.0/33", "10.0.0.0/8/1", "::1/129"]) {
      expect(() => dev({ SLUICE_TRUST_PROXY: v }), v).toThrow(`setting trustProxy must list proxy addresses or CIDRs (10.0.0.1, 10.0.0.0/8), got "${v}"`);
    }
  });

  it("sqliteSynchronous names its setting and the value", () => {
    expect(() => dev({ SLUICE_SQLITE_SYNCHRONOUS: "OFF" })).toThrow(/setting sqliteSynchronous \(SLUICE_SQLITE_SYNCHRONOUS\) must be NORMAL or FULL, got "OFF"/);
  });
});
