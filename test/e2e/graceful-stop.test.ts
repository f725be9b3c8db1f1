import { Client } from "@upstash/qstash";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { killHard, spawnSluice, type SluiceProcess } from "../helpers/process.js";
import { TestReceiver } from "../helpers/receiver.js";
import { DEV_TOKEN } from "../helpers/sluice.js";

const dataDir = mkdtempSync(join(tmpdir(), "sluice-stop-"));
const procs: SluiceProcess[] = [];
afterAll(async () => {
  for (const p of procs) await killHard(p);
  rmSync(dataDir, { recursive: true, force: true });
});

describe("SIGTERM with an attempt that does not finish", () => {
  it("exits after the grace period, and the attempt is retried on the next start", async () => {
    const dest = await TestReceiver.start();
    dest.respond = (_req, i) => (i === 0 ? { status: 200, delayMs: 60_000 } : { status: 200 });
    const env = { SLUICE_SHUTDOWN_GRACE: "500ms" };
    const first = await spawnSluice(["dev", "--data", dataDir, "--port", "0"], env);
    procs.push(first);
    const { messageId } = await new Client({ baseUrl: first.url, token: DEV_TOKEN }).publish({ url: dest.url("/slow"), body: "x", retryDelay: "0" });
    await dest.waitFor(1);

    const t0 = Date.now();
    const exited = new Promise<number | null>((r) => first.child.once("exit", (code) => r(code)));
    first.child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);

    const second = await spawnSluice(["dev", "--data", dataDir, "--port", "0"], env);
    procs.push(second);
    const [, again] = await dest.waitFor(2, 10_000);
    expect(again.headers["upstash-message-id"]).toBe(messageId);
    expect(again.headers["upstash-retried"]).toBe("1");
    await dest.close();
  }, 30_000);
});

describe("SIGTERM with a client that never finishes its request", () => {
  it("closes that connection after the grace period instead of waiting for the headers timeout", async () => {
    const env = { SLUICE_SHUTDOWN_GRACE: "500ms", SLUICE_HEADERS_TIMEOUT: "30s", SLUICE_REQUEST_TIMEOUT: "60s" };
    const p = await spawnSluice(["dev", "--memory", "--port", "0"], env);
    procs.push(p);
    const { hostname, port } = new URL(p.url);
    // Half a request: the request line and one header, then nothing.
    const socket = connect(Number(port), hostname);
    await new Promise<void>((r) => socket.once("connect", () => r()));
    socket.write("POST /v2/publish/http://127.0.0.1:9/x HTTP/1.1\r\nHost: x\r\n");
    const closed = new Promise<void>((r) => socket.once("close", () => r()));
    await new Promise((r) => setTimeout(r, 200));

    const t0 = Date.now();
    const exited = new Promise<number | null>((r) => p.child.once("exit", (code) => r(code)));
    p.child.kill("SIGTERM");
    expect(await exited).toBe(0);
    await closed;
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
