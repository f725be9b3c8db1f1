import { badRequest, HttpError, notFound } from "../errors.js";
import type { SettingEntry } from "../store/cluster.js";
import type { StoredUrlGroup, Store } from "../store/store.js";
import { CoalescedReload } from "./coalesced-reload.js";
import type { Committer } from "./committer.js";
import { LocalChanges } from "./local-changes.js";
import { PerKeySerial } from "./per-key-serial.js";

export type Endpoint = { url: string; name?: string };

export interface UrlGroupsDeps {
  store: Pick<Store, "listUrlGroups" | "getUrlGroup">;
  /**
   * No other process writes this store's groups (a SQLite data folder, which its lock keeps to one process): after
   * the first load, memory holds what the store holds, so a change reads nothing first (in a cluster it reads the
   * group it changes).
   */
  ownsStore: boolean;
  committer: Pick<Committer, "run">;
  now: () => number;
}

/**
 * URL groups ("topics"): named sets of endpoints a publish fans out to. Cached in memory, written through. Several
 * nodes may share the store: `reload` follows what they changed, every change here starts from a fresh read of its
 * group (in a cluster), and is written only over the version it read.
 */
export class UrlGroups {
  private readonly groups = new Map<string, StoredUrlGroup>();
  private readonly changes = new LocalChanges();
  private readonly reloads: CoalescedReload;
  private readonly edits = new PerKeySerial();
  private loaded = false;

  constructor(private readonly deps: UrlGroupsDeps) {
    this.reloads = new CoalescedReload(() => this.readStore(), deps.ownsStore);
  }

  /**
   * Makes memory match the store: groups created, changed or deleted by another node are seen by the next publish.
   * Resolves once a read that began after the call has been applied (overlapping calls share one read); a group
   * this node is changing meanwhile keeps its new value. Safe at any moment; the first call is the first load, and
   * reads (`get`, `require`, `list`) refuse to answer before it.
   */
  reload(): Promise<void> {
    return this.reloads.request();
  }

  /** `reload` for the groups another node's commit changed, read one by one; before the first load, a whole reload. */
  reloadEntries(entries: SettingEntry[]): Promise<void> {
    return this.reloads.entriesChanged(entries, (userId, name) => this.readOne(userId, name));
  }

  get(userId: string, name: string): StoredUrlGroup | undefined {
    this.assertLoaded();
    return this.groups.get(key(userId, name));
  }

  /** The group, or a 404 naming it. */
  require(userId: string, name: string): StoredUrlGroup {
    const g = this.get(userId, name);
    if (!g) throw notFound(`url group "${name}" not found`);
    return g;
  }

  list(userId: string): StoredUrlGroup[] {
    this.assertLoaded();
    return [...this.groups.values()].filter((g) => g.userId === userId).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Adds endpoints, creating the group if needed; an endpoint already there (same URL and name) is kept once.
   * A change that would leave the group with more than `maxEndpoints` is refused whole (413).
   */
  async addEndpoints(userId: string, name: string, endpoints: Endpoint[], maxEndpoints: number): Promise<void> {
    await this.edit(userId, name, (existing) => {
      const list = [...(existing?.endpoints ?? [])];
      for (const e of endpoints) {
        if (e.name !== undefined && list.some((x) => x.name === e.name && x.url !== e.url)) {
          throw badRequest(`endpoint name "${e.name}" is already used in url group "${name}" for another URL`);
        }
        if (!list.some((x) => x.url === e.url && x.name === e.name)) list.push(e);
      }
      if (list.length > maxEndpoints) {
        throw new HttpError(
          413,
          `url group "${name}" would have ${list.length} endpoints; the configured limit maxUrlGroupEndpoints is ${maxEndpoints}`,
        );
      }
      return list;
    });
  }

  /** Removes endpoints matching by name or URL; removing the last one removes the group. */
  async removeEndpoints(userId: string, name: string, endpoints: { url?: string; name?: string }[]): Promise<void> {
    await this.edit(userId, name, (existing) => {
      if (!existing) throw notFound(`url group "${name}" not found`);
      const matches = (x: Endpoint): boolean =>
        endpoints.some((e) => (e.name !== undefined && x.name === e.name) || (e.url !== undefined && x.url === e.url));
      const kept = existing.endpoints.filter((x) => !matches(x));
      if (kept.length === existing.endpoints.length) throw notFound(`none of the given endpoints is in url group "${name}"`);
      return kept;
    });
  }

  async delete(userId: string, name: string): Promise<void> {
    const k = key(userId, name);
    await this.edits.run(k, async () => {
      await this.reloads.beforeChange(() => this.readOne(userId, name));
      this.require(userId, name);
      // Deleted whatever it holds now: a delete asks for no version.
      await this.changes.around(k, async () => {
        await this.deps.committer.run([{ op: "deleteUrlGroup", userId, name }]);
        this.groups.delete(k);
      });
    });
  }

  /**
   * A read-modify-write of a group's endpoint list: `change` gets the group as stored (undefined: none) and
   * returns the new list (empty: the group goes), or throws to refuse the change. The write applies only to the
   * version read, so an edit made on another node meanwhile is never lost: the edit that loses reads again and
   * applies its change to the other's result, a bounded number of times. Edits of a group made here run one after
   * another, so they never lose to each other.
   */
  private async edit(userId: string, name: string, change: (existing: StoredUrlGroup | undefined) => Endpoint[]): Promise<void> {
    const k = key(userId, name);
    await this.edits.run(k, async () => {
      for (let attempt = 1; attempt <= EDIT_ATTEMPTS; attempt++) {
        // After a lost write, what the store has now whoever wrote it.
        await (attempt === 1 ? this.reloads.beforeChange(() => this.readOne(userId, name)) : this.readOne(userId, name));
        const existing = this.get(userId, name);
        if (await this.write(userId, name, existing, change(existing))) return;
      }
      throw new HttpError(409, `url group "${name}" kept changing on other nodes while this change was being made; try again`);
    });
  }

  /** Writes a group's new endpoint list over the version read; resolves whether that version was still stored. */
  private async write(userId: string, name: string, existing: StoredUrlGroup | undefined, endpoints: Endpoint[]): Promise<boolean> {
    const k = key(userId, name);
    // Memory changes only once the store has: a write that loses must leave the version it lost to for the next read.
    return this.changes.around(k, async () => {
      if (endpoints.length === 0) {
        const [gone] = await this.deps.committer.run([{ op: "deleteUrlGroup", userId, name, expectUpdatedAtMs: existing!.updatedAtMs }]);
        if (gone.applied) this.groups.delete(k);
        return gone.applied;
      }
      const now = this.deps.now();
      // Later than the version it replaces, even on a node whose clock is behind: a version is never stored twice,
      // so a node that read an older one cannot match it again.
      const updatedAtMs = existing ? Math.max(now, existing.updatedAtMs + 1) : now;
      const group: StoredUrlGroup = { userId, name, createdAtMs: existing?.createdAtMs ?? now, updatedAtMs, endpoints };
      const [put] = await this.deps.committer.run([{ op: "putUrlGroup", group, expectUpdatedAtMs: existing?.updatedAtMs ?? null }]);
      if (put.applied) this.groups.set(k, group);
      return put.applied;
    });
  }

  private readStore(): Promise<void> {
    return this.changes.follow(() => this.deps.store.listUrlGroups(), (stored, changed) => this.follow(stored, changed));
  }

  /** Makes memory match the store for one group (what a change in a cluster reads first, and news of one made elsewhere). */
  private readOne(userId: string, name: string): Promise<void> {
    return this.changes.follow(
      () => this.deps.store.getUrlGroup(userId, name),
      (group, changed) => this.follow(group ? [group] : [], changed, [key(userId, name)]),
    );
  }

  /**
   * Applies a read. `covered`: for a read of some groups only, those of memory it covers (one missing from `stored`
   * was deleted); without it, the read was of every group.
   */
  private follow(stored: StoredUrlGroup[], changed: ReadonlySet<string>, covered?: string[]): void {
    const seen = new Set<string>();
    const disagree: string[] = [];
    for (const g of stored) {
      const k = key(g.userId, g.name);
      seen.add(k);
      if (!changed.has(k)) this.groups.set(k, g);
      else if (JSON.stringify(this.groups.get(k)) !== JSON.stringify(g)) disagree.push(k);
    }
    for (const k of covered ?? this.groups.keys()) {
      if (seen.has(k) || !this.groups.has(k)) continue;
      if (changed.has(k)) disagree.push(k);
      else this.groups.delete(k); // deleted by another node
    }
    if (covered === undefined) this.loaded = true;
    // A failed read is not reported here: the periodic reload that backs up the change notices tries again.
    if (disagree.length) this.changes.whenSettled(disagree, () => void this.reload().catch(() => undefined));
  }

  private assertLoaded(): void {
    // A read before the first load would answer "no such group" for every group the store has.
    if (!this.loaded) throw new Error("url groups read before their first load: call reload() first");
  }
}

const key = (userId: string, name: string): string => `${userId}\u0000${name}`;

/** How many times an edit reads again after losing to one made on another node, before it answers 409. */
const EDIT_ATTEMPTS = 5;
