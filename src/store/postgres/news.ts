import type { ClusterNews, KeyedSetting, SettingEntry, SharedSetting } from "../cluster.js";

/**
 * Pending messages due later than this are left to the leader's due loader, whose cursor over the store finds
 * them (it reads a minute ahead); the margin covers clocks of nodes that disagree by a few minutes.
 */
const DUE_SOON_MS = 5 * 60_000;

/** PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more; news is split below that. */
const MAX_PAYLOAD_BYTES = 7_000;

/**
 * Entries of one kind a commit names at most; with more (an import of many schedules) the kind is read whole: past a
 * few dozen, one read of every entry is cheaper than that many reads of one entry each.
 */
export const MAX_ENTRIES_PER_KIND = 32;

/** An entry longer than this in bytes as JSON (a very long user id) is not listed: its kind is read whole. */
const MAX_ENTRY_BYTES = 500;

interface Wire {
  f: string;
  d?: [string, number][];
  c?: string[];
  k?: SharedSetting[];
  /** Schedules changed: [userId, id]. */
  s?: SettingEntry[];
  /** URL groups changed: [userId, name]. */
  g?: SettingEntry[];
  /** Queues changed: [userId, name]. */
  q?: SettingEntry[];
  r?: 1;
}

/** Where a keyed kind's entries travel. */
const ENTRY_FIELD = { schedules: "s", urlGroups: "g", queues: "q" } as const satisfies Record<KeyedSetting, keyof Wire>;
const KEYED = Object.keys(ENTRY_FIELD) as KeyedSetting[];

/** Collects what one commit tells the other nodes, and writes it as NOTIFY payloads (JSON, split to fit). */
export class NewsCollector {
  private readonly dueSoon: [string, number][] = [];
  private readonly cancels: string[] = [];
  private readonly settings = new Set<SharedSetting>();
  /** By `user\0key`: each entry once, with its size in a payload (bytes of its JSON and a comma). */
  private readonly entries: Record<KeyedSetting, Map<string, { entry: SettingEntry; bytes: number }>> = {
    schedules: new Map(),
    urlGroups: new Map(),
    queues: new Map(),
  };
  private readonly horizon = Date.now() + DUE_SOON_MS;

  constructor(private readonly from: string) {}

  due(id: string, dueMs: number): void {
    if (dueMs <= this.horizon) this.dueSoon.push([id, dueMs]);
  }

  cancel(id: string): void {
    this.cancels.push(id);
  }

  /** A setting of `kind` changed: the other nodes read all of that kind again. */
  changed(kind: SharedSetting): void {
    this.settings.add(kind);
  }

  /** One entry of a keyed kind changed: the other nodes read it alone (unless the commit changed too many). */
  changedEntry(kind: KeyedSetting, userId: string, key: string): void {
    const entries = this.entries[kind];
    const entry: SettingEntry = [userId, key];
    const bytes = Buffer.byteLength(JSON.stringify(entry)) + 1;
    entries.set(`${userId}\u0000${key}`, { entry, bytes });
    // A payload is split only between items, so one item must leave the split's margin below PostgreSQL's limit.
    if (entries.size > MAX_ENTRIES_PER_KIND || bytes > MAX_ENTRY_BYTES) this.settings.add(kind);
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
    for (const kind of KEYED) {
      if (this.settings.has(kind)) continue;
      for (const { entry, bytes } of this.entries[kind].values()) {
        if (size > MAX_PAYLOAD_BYTES) flush();
        (wire[ENTRY_FIELD[kind]] ??= []).push(entry);
        size += bytes;
      }
    }
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
    if (wire.d || wire.c || wire.k || KEYED.some((kind) => wire[ENTRY_FIELD[kind]])) flush();
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
  const entries: ClusterNews["entries"] = {};
  for (const kind of KEYED) {
    const list: unknown = w[ENTRY_FIELD[kind]];
    if (Array.isArray(list)) entries[kind] = list.filter(isEntry);
  }
  return { from: w.f, due: w.d ?? [], cancels: w.c ?? [], changed: w.k ?? [], entries, leaderReleased: w.r === 1 };
}

function isEntry(value: unknown): value is SettingEntry {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && typeof value[1] === "string";
}
