import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { killHard, runSluiceToExit, spawnSluice, type SluiceProcess } from "../helpers/process.js";

/** The real binary (`npm run build` first): what a user sees when starting Sluice goes right or wrong. */
const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
const procs: SluiceProcess[] = [];
let blocker: Server | undefined;
afterAll(async () => {
  for (const p of procs) await killHard(p);
  await new Promise((r) => (blocker ? blocker.close(r) : r(undefined)));
});

describe("sluice command line", () => {
  it("--version prints the package version", async () => {
    for (const flag of ["--version", "-v"]) {
      const run = await runSluiceToExit([flag]);
      expect({ code: run.code, out: run.output.trim() }).toEqual({ code: 0, out: version });
    }
  });

  it("a port in use says so and names --port", async () => {
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    const run = await runSluiceToExit(["dev", "--memory", "--port", String(port)]);
    expect(run.code).toBe(1);
    expect(run.output).toContain(`address already in use: port ${port} on 127.0.0.1 (EADDRINUSE): stop what is using it, or choose another port with --port (or SLUICE_PORT)`);
  });

  it("the banner prints the address actually listened on", async () => {
    const p = await spawnSluice(["dev", "--memory", "--port", "0", "--host", "0.0.0.0"]);
    procs.push(p);
    const port = new URL(p.url).port;
    expect(p.output()).toContain(`Sluice is running at http://127.0.0.1:${port} (listening on 0.0.0.0:${port}, dev mode, in memory)`);
    expect((await fetch(`${p.url}/health`)).status).toBe(200);
  });

  it("a bad setting stops the start with its name", async () => {
    const run = await runSluiceToExit(["dev", "--memory", "--port", "0"], { SLUICE_LOG_LEVEL: "loud" });
    expect(run.code).toBe(1);
    expect(run.output).toContain('setting logLevel must be one of fatal, error, warn, info, debug, trace, silent, got "loud"');
  });
});
