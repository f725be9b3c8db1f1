import { generateSigningKey } from "../protocol/signature.js";
import type { Store } from "../store/store.js";
import type { UserConfig } from "../config.js";

export interface SigningKeys {
  current: string;
  next: string;
}

/**
 * Each user's signing keys, cached in memory and kept in the store. Dev users start with their well-known keys,
 * other users with generated ones; either way a rotation is stored and survives restarts.
 */
export class KeyRing {
  private readonly keys = new Map<string, SigningKeys>();

  private constructor(private readonly store: Store) {}

  static async load(store: Store, users: UserConfig[]): Promise<KeyRing> {
    const ring = new KeyRing(store);
    for (const u of users) {
      // Stored keys win over configured ones: otherwise a restart would silently undo a rotation and every
      // receiver already moved to the new pair would start rejecting deliveries.
      let keys = (await store.getSigningKeys(u.userId)) ?? u.signingKeys;
      if (!keys) keys = { current: generateSigningKey(), next: generateSigningKey() };
      await store.setSigningKeys(u.userId, keys);
      ring.keys.set(u.userId, keys);
    }
    return ring;
  }

  get(userId: string): SigningKeys {
    const k = this.keys.get(userId);
    if (!k) throw new Error(`no signing keys for user ${userId}`);
    return k;
  }

  /** The next key becomes current and a new next key is made. */
  async rotate(userId: string): Promise<SigningKeys> {
    const old = this.get(userId);
    const keys = { current: old.next, next: generateSigningKey() };
    await this.store.setSigningKeys(userId, keys);
    this.keys.set(userId, keys);
    return keys;
  }
}
