import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { killHard, spawnSluice } from "../helpers/process.js";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "sluice-pack-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the npm package", () => {
  it("packs the built server, installs into an empty folder and serves", { timeout: 120_000 }, async () => {
    // A user's `npm pack` builds first (the `prepare` script); here dist/ is already built (`npm test` builds before
    // the tests), and rebuilding it under the other tests that run the built CLI would race with them.
    const packed = await run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], { cwd: ROOT, timeout: 90_000 });
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
    const files = info.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(["bin/sluice.js", "dist/src/cli.js", "dist/src/server.js", "docs/sluice.service", "README.md"]));
    expect(files.filter((f) => f.startsWith("test/") || f.startsWith("src/") || f.startsWith("dist/test/"))).toEqual([]);

    const app = join(work, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "uses-sluice", private: true }));
    // Scripts are skipped only to spare this test better-sqlite3's native build (a minute of two shared cores):
    // its addon is the one this checkout built for the same Node, copied in. Everything else is the tarball's.
    await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", join(work, info.filename)], { cwd: app, timeout: 90_000 });
    const addon = "node_modules/better-sqlite3/build/Release";
    mkdirSync(join(app, addon), { recursive: true });
    copyFileSync(join(ROOT, addon, "better_sqlite3.node"), join(app, addon, "better_sqlite3.node"));

    const sluice = await spawnSluice(["dev", "--port", "0", "--data", join(work, "data")], {}, 15_000, join(app, "node_modules/sluice/bin/sluice.js"));
    try {
      expect(await (await fetch(`${sluice.url}/health`)).json()).toEqual({ status: "ok" });
      const doc = (await (await fetch(`${sluice.url}/openapi.json`)).json()) as { info: { version: string } };
      expect(doc.info.version).toBe((await import("../../package.json", { with: { type: "json" } })).default.version);
    } finally {
      await killHard(sluice);
    }
  });
});
