import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import pg from "pg";
import type { BenchKit } from "./cluster.js";

/**
 * CPU seconds of the PostgreSQL server processes connected to these Sluice processes: their sockets' client ports
 * looked up in pg_stat_activity. With `before`, also the CPU used since then (a backend that ended meanwhile is
 * missed; one that started counts whole).
 */
export async function backendCpu(kit: Pick<BenchKit, "database" | "cpuSeconds">, pids: number[], before?: { seconds: Map<number, number> }): Promise<{ seconds: Map<number, number>; usedSince: number }> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkQuiet(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    }
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && inodes.has(f[9])) ports.push(parseInt(f[1].split(":").pop()!, 16));
    }
  }
  const client = new pg.Client({ connectionString: kit.database });
  await client.connect();
  let backends: number[];
  try {
    backends = (await client.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])", [ports])).rows.map((r) => r.pid);
  } finally {
    await client.end();
  }
  const seconds = new Map<number, number>();
  for (const pid of backends) {
    try {
      seconds.set(pid, kit.cpuSeconds(pid));
    } catch {
      // Ended meanwhile.
    }
  }
  let usedSince = 0;
  for (const [pid, s] of seconds) usedSince += s - (before?.seconds.get(pid) ?? 0);
  return { seconds, usedSince };
}

function readlinkQuiet(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return "";
  }
}
