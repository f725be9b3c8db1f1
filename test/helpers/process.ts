import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));

export interface SluiceProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Runs the built `sluice` CLI as a child process and resolves with its URL once the banner is printed. */
export function spawnSluice(args: string[], env: Record<string, string> = {}, timeoutMs = 10_000): Promise<SluiceProcess> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, SLUICE_LOG_LEVEL: "error", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`sluice did not start within ${timeoutMs}ms:\n${out}`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /running at (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], output: () => out });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`sluice exited with ${code} before starting:\n${out}`));
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
