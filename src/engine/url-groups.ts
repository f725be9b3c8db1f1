import { badRequest, HttpError, notFound } from "../errors.js";
import type { StoredUrlGroup, Store } from "../store/store.js";
import { CoalescedReload } from "./coalesced-reload.js";
import type { Committer } from "./committer.js";
import { LocalChanges } from "./local-changes.js";

export type Endpoint = { url: string; name?: string };

export interface UrlGroupsDeps {
  store: Pick<Store, "listUrlGroups">;
  committer: Pick<Committer, "run">;
  now: () => number;
}

/**
 * URL groups ("topics"): named sets of endpoints a publish fans out to. Cached in memory, written through. Several
 * nodes may share the store: `reload` follows what they changed, and every change here starts from a fresh read.
 */
export class UrlGroups {
  private readonly groups = new Map<string, StoredUrlGroup>();
  private readonly changes = new LocalChanges();
  private readonly reloads = new CoalescedReload(() => this.readStore());
  private loaded = false;

  constructor(private readonly deps: UrlGroupsDeps) {}

  /**
   * Makes memory match the store: groups created, changed or deleted by another node are seen by the next publish.
   * Resolves once a read that began after the call has been applied (overlapping calls share one read); a group
   * this node is changing meanwhile keeps its new value. Safe at any moment; the first call is the first load, and
   * reads (`get`, `require`, `list`) refuse to answer before it.
   */
  reload(): Promise<void> {
    return this.reloads.request();
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
    await this.reload();
    const now = this.deps.now();
    const existing = this.get(userId, name);
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
    await this.save({ userId, name, createdAtMs: existing?.createdAtMs ?? now, updatedAtMs: now, endpoints: list });
  }

  /** Removes endpoints matching by name or URL; removing the last one removes the group. */
  async removeEndpoints(userId: string, name: string, endpoints: { url?: string; name?: string }[]): Promise<void> {
    await this.reload();
    const group = this.require(userId, name);
    const matches = (x: Endpoint): boolean =>
      endpoints.some((e) => (e.name !== undefined && x.name === e.name) || (e.url !== undefined && x.url === e.url));
    const kept = group.endpoints.filter((x) => !matches(x));
    if (kept.length === group.endpoints.length) throw notFound(`none of the given endpoints is in url group "${name}"`);
    if (kept.length === 0) return this.remove(userId, name);
    await this.save({ ...group, updatedAtMs: this.deps.now(), endpoints: kept });
  }

  async delete(userId: string, name: string): Promise<void> {
    await this.reload();
    this.require(userId, name);
    await this.remove(userId, name);
  }

  private async remove(userId: string, name: string): Promise<void> {
    const k = key(userId, name);
    this.groups.delete(k);
    await this.changes.around(k, () => this.deps.committer.run([{ op: "deleteUrlGroup", userId, name }]));
  }

  /**
   * Memory is updated before the write is awaited (the committer keeps writes in order), so a concurrent change
   * to the same group reads this one's result instead of the state before it and cannot undo it.
   */
  private async save(group: StoredUrlGroup): Promise<void> {
    const k = key(group.userId, group.name);
    this.groups.set(k, group);
    await this.changes.around(k, () => this.deps.committer.run([{ op: "putUrlGroup", group }]));
  }

  private readStore(): Promise<void> {
    return this.changes.follow(() => this.deps.store.listUrlGroups(), (stored, changed) => this.follow(stored, changed));
  }

  private follow(stored: StoredUrlGroup[], changed: ReadonlySet<string>): void {
    const seen = new Set<string>();
    const disagree: string[] = [];
    for (const g of stored) {
      const k = key(g.userId, g.name);
      seen.add(k);
      if (!changed.has(k)) this.groups.set(k, g);
      else if (JSON.stringify(this.groups.get(k)) !== JSON.stringify(g)) disagree.push(k);
    }
    for (const k of this.groups.keys()) {
      if (seen.has(k)) continue;
      if (changed.has(k)) disagree.push(k);
      else this.groups.delete(k); // deleted by another node
    }
    this.loaded = true;
    // A failed read is not reported here: the periodic reload that backs up the change notices tries again.
    if (disagree.length) this.changes.whenSettled(disagree, () => void this.reload().catch(() => undefined));
  }

  private assertLoaded(): void {
    // A read before the first load would answer "no such group" for every group the store has.
    if (!this.loaded) throw new Error("url groups read before their first load: call reload() first");
  }
}

const key = (userId: string, name: string): string => `${userId}\u0000${name}`;
