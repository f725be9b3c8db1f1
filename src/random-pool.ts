import { randomFillSync } from "node:crypto";

/**
 * Random bytes drawn a block at a time: one system call per block instead of one per id or token, and no buffer
 * per draw. `take(n)` says where the `n` fresh bytes are in `bytes`; they stay valid until the next draw.
 */
export class RandomPool {
  readonly bytes: Buffer;
  private offset: number;

  constructor(blockBytes = 4096) {
    this.bytes = Buffer.alloc(blockBytes);
    this.offset = blockBytes;
  }

  /** The offset in `bytes` of `n` random bytes not handed out before (`n` at most the block's size). */
  take(n: number): number {
    if (this.offset + n > this.bytes.length) {
      randomFillSync(this.bytes);
      this.offset = 0;
    }
    this.offset += n;
    return this.offset - n;
  }
}
