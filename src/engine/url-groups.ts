import { badRequest, HttpError, notFound } from "../errors.js";
import type { StoredUrlGroup, Store } from "../store/store.js";
import type { Committer } from "./committer.js";

export type Endpoint = { url: string; name?: string };

/** URL groups ("topics"): named sets of endpoints a publish fans out to. Cached in memory, written through. */
export class UrlGroups {
  private readonly groups = new Map<string, StoredUrlGroup>();

  constructor(
    private readonly committer: Committer,
    private readonly now: () => number,
  ) {}

  async load(store: Store): Promise<void> {
    for (const g of await store.listUrlGroups()) this.groups.set(`${g.userId}\u0000${g.name}`, g);
  }

  get(userId: string, name: string): StoredUrlGroup | undefined {
    return this.groups.get(`${userId}\u0000${name}`);
  }

  /** The group, or a 404 naming it. */
  require(userId: string, name: string): StoredUrlGroup {
    const g = this.get(userId, name);
    if (!g) throw notFound(`url group "${name}" not found`);
    return g;
  }

  list(userId: string): StoredUrlGroup[] {
    return [...this.groups.values()].filter((g) => g.userId === userId).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Adds endpoints, creating the group if needed; an endpoint already there (same URL and name) is kept once.
   * A change that would leave the group with more than `maxEndpoints` is refused whole (413).
   */
  async addEndpoints(userId: string, name: string, endpoints: Endpoint[], maxEndpoints: number): Promise<void> {
    const now = this.now();
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
    const group = this.require(userId, name);
    const matches = (x: Endpoint): boolean =>
      endpoints.some((e) => (e.name !== undefined && x.name === e.name) || (e.url !== undefined && x.url === e.url));
    const kept = group.endpoints.filter((x) => !matches(x));
    if (kept.length === group.endpoints.length) throw notFound(`none of the given endpoints is in url group "${name}"`);
    if (kept.length === 0) return this.delete(userId, name);
    await this.save({ ...group, updatedAtMs: this.now(), endpoints: kept });
  }

  async delete(userId: string, name: string): Promise<void> {
    this.require(userId, name);
    this.groups.delete(`${userId}\u0000${name}`);
    await this.committer.run([{ op: "deleteUrlGroup", userId, name }]);
  }

  /**
   * Memory is updated before the write is awaited (the committer keeps writes in order), so a concurrent change
   * to the same group reads this one's result instead of the state before it and cannot undo it.
   */
  private async save(group: StoredUrlGroup): Promise<void> {
    this.groups.set(`${group.userId}\u0000${group.name}`, group);
    await this.committer.run([{ op: "putUrlGroup", group }]);
  }
}
