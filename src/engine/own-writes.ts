import type { Committer } from "./committer.js";
import { isFencedOut } from "../store/store-errors.js";
import type { OpResult, WriteOp } from "../store/store.js";

/** Back-off between tries of the engine's own writes (starts, outcomes) while the store refuses them. */
const OWN_WRITE_RETRY_MIN_MS = 50;
const OWN_WRITE_RETRY_MAX_MS = 5_000;

export interface OwnWritesDeps {
  committer: Pick<Committer, "run">;
  isStopped(): boolean;
  onError(err: unknown): void;
}

/**
 * Commits the engine's own writes (starts, outcomes), retrying with back-off for as long as the store refuses
 * them (a full disk, a lost connection), so no attempt is forgotten and no slot is leaked. Gives up when the
 * engine stops (what is unwritten then is still in the store as it was, and recovered on the next start), and when
 * the writes were fenced out (resolving them as not applied): in a cluster, another node has taken them over.
 */
export class OwnWrites {
  constructor(private readonly deps: OwnWritesDeps) {}

  async commit(ops: WriteOp[], firstError?: unknown): Promise<OpResult[]> {
    let delay = OWN_WRITE_RETRY_MIN_MS;
    let err = firstError;
    for (;;) {
      if (err !== undefined) {
        // Another node took this attempt over (this one was declared dead): retrying could never succeed.
        if (isFencedOut(err)) return ops.map(() => ({ applied: false }));
        if (this.deps.isStopped()) throw err;
        this.deps.onError(err);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, OWN_WRITE_RETRY_MAX_MS);
      }
      try {
        return await this.deps.committer.run(ops);
      } catch (e) {
        err = e;
      }
    }
  }
}
