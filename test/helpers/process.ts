import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { schemaUrl } from "./postgres.js";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));

export interface SluiceProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/**
 * Starts the built `sluice` CLI (or the `bin` given) and collects everything it prints, stdout and stderr in
 * arrival order. With SLUICE_TEST_STORE=postgres the process keeps its data in the PostgreSQL schema of its
 * `--data` folder instead.
 */
function launch(args: string[], env: Record<string, string>, bin = BIN): { child: ChildProcess; output: () => string } {
  const data = args.indexOf("--data");
  // A short lease: a node restarted after kill -9 waits for the old one's lease to pass before it leads.
  const store = process.env.SLUICE_TEST_STORE === "postgres" && data >= 0 ? { SLUICE_DATABASE_URL: schemaUrl(args[data + 1]), SLUICE_CLUSTER_LEASE: "2s" } : {};
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, SLUICE_LOG_LEVEL: "error", ...store, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

/** Kills the child if it is still running after `timeoutMs`, then calls `onTimeout`; clear the timer to cancel. */
function killAfter(child: ChildProcess, timeoutMs: number, onTimeout: () => void): NodeJS.Timeout {
  return setTimeout(() => {
    child.kill("SIGKILL");
    onTimeout();
  }, timeoutMs);
}

/**
 * Runs the built `sluice` CLI (or the `bin` given: an installed copy) as a child process and resolves with its URL
 * once the banner is printed.
 */
export function spawnSluice(args: string[], env: Record<string, string> = {}, timeoutMs = 10_000, bin = BIN): Promise<SluiceProcess> {
  const { child, output } = launch(args, env, bin);
  return new Promise((resolve, reject) => {
    const timer = killAfter(child, timeoutMs, () => reject(new Error(`sluice did not start within ${timeoutMs}ms:\n${output()}`)));
    child.stdout!.on("data", () => {
      const m = /running at (http:\/\/[^\s]+)/.exec(output());
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], output });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`sluice exited with ${code} before starting:\n${output()}`));
    });
  });
}

/**
 * Runs the `sluice` CLI expecting it to stop by itself (a refused start), and resolves with its exit code and
 * everything it printed once its output is closed; a process still running after `timeoutMs` is killed and fails.
 */
export function runSluiceToExit(args: string[], env: Record<string, string> = {}, timeoutMs = 10_000): Promise<{ code: number | null; output: string }> {
  const { child, output } = launch(args, env);
  return new Promise((resolve, reject) => {
    const timer = killAfter(child, timeoutMs, () => reject(new Error(`sluice was still running after ${timeoutMs}ms:\n${output()}`)));
    // "close", not "exit": it comes after the output pipes are drained, so the last message is in the output.
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output: output() });
    });
  });
}

/** Kills the process without giving it any chance to clean up, and waits for it to be gone. */
export async function killHard(p: SluiceProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const gone = new Promise((r) => p.child.once("exit", r));
  p.child.kill("SIGKILL");
  await gone;
}
