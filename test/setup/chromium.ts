import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { CHROMIUM_PATH } from "../helpers/browser.js";

/**
 * Vitest global setup: on a fresh Debian machine where the tests run as root (CI, a new box), Debian's Chromium
 * is installed before the suite starts, as `.ci/run` does, so `npm install && npm test` works there too.
 * Elsewhere nothing is installed, and the browser tests fail with a message saying what to install.
 */
export default function ensureChromium(): void {
  if (existsSync(CHROMIUM_PATH) || process.env.CHROMIUM_PATH || process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) return;
  console.log(`Chromium is missing at ${CHROMIUM_PATH}: installing Debian's chromium for the console tests`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-q"], { stdio: "inherit", env, timeout: 300_000 });
  execFileSync("apt-get", ["install", "-y", "-q", "chromium"], { stdio: "inherit", env, timeout: 900_000 });
}
