import type { ClusterNews, SharedSetting } from "../cluster.js";

/**
 * Pending messages due later than this are left to the leader's due loader, whose cursor over the store finds
 * them (it reads a minute ahead); the margin covers clocks of nodes that disagree by a few minutes.
 */
const DUE_SOON_MS = 5 * 60_000;

/** PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more; news is split below that. */
const MAX_PAYLOAD_BYTES = 7_000;

interface Wire {
  f: string;
  d?: [string, number][];
  c?: string[];
  k?: SharedSetting[];
  r?: 1;
}

/** Collects what one commit tells the other nodes, and writes it as NOTIFY payloads (JSON, split to fit). */
export class NewsCollector {
  private readonly dueSoon: [string, number][] = [];
  private readonly cancels: string[] = [];
  private readonly settings = new Set<SharedSetting>();
  private readonly horizon = Date.now() + DUE_SOON_MS;

  constructor(private readonly from: string) {}

  due(id: string, dueMs: number): void {
    if (dueMs <= this.horizon) this.dueSoon.push([id, dueMs]);
  }

  cancel(id: string): void {
    this.cancels.push(id);
  }

  changed(kind: SharedSetting): void {
    this.settings.add(kind);
  }

  /** Nothing when the commit changed nothing another node needs to hear of. */
  payloads(): string[] {
    const out: string[] = [];
    let wire: Wire = { f: this.from };
    let size = 0;
    const flush = (): void => {
      out.push(JSON.stringify(wire));
      wire = { f: this.from };
      size = 0;
    };
    if (this.settings.size) wire.k = [...this.settings];
    for (const d of this.dueSoon) {
      if (size > MAX_PAYLOAD_BYTES) flush();
      (wire.d ??= []).push(d);
      size += d[0].length + 20;
    }
    for (const id of this.cancels) {
      if (size > MAX_PAYLOAD_BYTES) flush();
      (wire.c ??= []).push(id);
      size += id.length + 3;
    }
    if (wire.d || wire.c || wire.k) flush();
    return out;
  }
}

/** The payload that says the leader let go of its lease. */
export function leaderReleasedPayload(from: string): string {
  return JSON.stringify({ f: from, r: 1 } satisfies Wire);
}

/** Reads a payload back; undefined for one that is not Sluice's (another program on the channel). */
export function parseNews(payload: string): ClusterNews | undefined {
  let w: Wire;
  try {
    w = JSON.parse(payload) as Wire;
  } catch {
    return undefined;
  }
  if (typeof w?.f !== "string") return undefined;
  return { from: w.f, due: w.d ?? [], cancels: w.c ?? [], changed: w.k ?? [], leaderReleased: w.r === 1 };
}
