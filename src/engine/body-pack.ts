/**
 * The bodies of one message between the engine's thread and the delivery thread, sent as a single buffer.
 *
 * The structured clone gives every typed array it carries an ArrayBuffer of its own on the other side (an
 * allocation and a backing store each, the larger part of a job's cost to cross); packed, a message carries one,
 * transferred rather than copied. An attempt then names its body by offset and length in the pack.
 */
export class BodyPacker {
  private parts: Uint8Array[] = [];
  private size = 0;

  /** Adds `bytes` to the next pack; resolves to where they will start in it. */
  add(bytes: Uint8Array): number {
    const at = this.size;
    if (bytes.byteLength > 0) this.parts.push(bytes);
    this.size += bytes.byteLength;
    return at;
  }

  /** Every body added since the last take, in order, in one ArrayBuffer of its own (so it can be transferred). */
  take(): Uint8Array<ArrayBuffer> {
    const pack = new Uint8Array(this.size);
    let at = 0;
    for (const part of this.parts) {
      pack.set(part, at);
      at += part.byteLength;
    }
    this.clear();
    return pack;
  }

  /** Drops what was added since the last take (its attempts were never sent). */
  clear(): void {
    this.parts = [];
    this.size = 0;
  }
}

/**
 * A body copied out of the pack as a Buffer of its own: what the engine keeps of a response can outlive the
 * message it came in (a DLQ entry, a workflow call's result), and a view would hold every body of the pack.
 * Small ones land in Node's Buffer pool, so the copy costs no allocation of its own.
 */
export function bufferFrom(pack: Uint8Array, at: number, length: number): Buffer {
  const body = Buffer.allocUnsafe(length);
  body.set(pack.subarray(at, at + length));
  return body;
}
