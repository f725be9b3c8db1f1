import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * Which process opened a TCP connection to this machine, found the way `ss -p` finds it: the connection's socket
 * inode from /proc/net/tcp, then the process among `pids` that holds that inode in /proc/<pid>/fd. A cluster test
 * uses it to tell which node sent a delivery (the nodes are separate processes on one box): a plain message is
 * delivered by the node that accepted it. Linux only: elsewhere, and for a process that is already gone, the
 * answer is undefined.
 */
export function socketOwner(clientPort: number, serverPort: number, pids: number[]): number | undefined {
  const inode = socketInode(clientPort, serverPort);
  if (inode === undefined) return undefined;
  const link = `socket:[${inode}]`;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === link) return pid;
      } catch {
        // The descriptor closed while we looked: not the one we are after.
      }
    }
  }
  return undefined;
}

/** The inode of the established IPv4 connection from local port `clientPort` to `serverPort`, from /proc/net/tcp. */
function socketInode(clientPort: number, serverPort: number): string | undefined {
  let table: string;
  try {
    table = readFileSync("/proc/net/tcp", "utf8");
  } catch {
    return undefined;
  }
  // Columns: sl, local "ADDR:PORT" (hex), remote "ADDR:PORT", state, queues, timers, retransmits, uid, timeout, inode.
  for (const line of table.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10) continue;
    const local = parseInt(cols[1].split(":")[1], 16);
    const remote = parseInt(cols[2].split(":")[1], 16);
    if (local === clientPort && remote === serverPort && cols[9] !== "0") return cols[9];
  }
  return undefined;
}
