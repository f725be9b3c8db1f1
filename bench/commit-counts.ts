import { request } from "undici";

/** Group commits a server has made so far, and the write operations they held (its /metrics). */
export interface CommitCounts {
  commits: number;
  ops: number;
}

/** Reads the commit histogram's count and sum from a server's /metrics (public, no token). */
export async function commitCounts(baseUrl: string): Promise<CommitCounts> {
  const res = await request(`${baseUrl}/metrics`);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET /metrics answered ${res.statusCode}`);
  const value = (name: string): number => {
    const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
    if (!m) throw new Error(`/metrics has no ${name}`);
    return Number(m[1]);
  };
  return { commits: value("sluice_store_commit_ops_count"), ops: value("sluice_store_commit_ops_sum") };
}

/**
 * Commits per delivered message and operations per commit between two readings (of each node, summed): what a
 * scenario costs in transactions. Fewer commits need not mean less CPU: at 1,000 msg/s halving them saved none in
 * Sluice (docs/architecture.md, "Cost per message").
 */
export function commitsPerMessage(before: CommitCounts[], after: CommitCounts[], delivered: number): string {
  let commits = 0;
  let ops = 0;
  after.forEach((a, i) => {
    commits += a.commits - before[i].commits;
    ops += a.ops - before[i].ops;
  });
  return `commits/msg ${(commits / delivered).toFixed(2)} (${commits ? (ops / commits).toFixed(1) : "0"} ops each)`;
}
