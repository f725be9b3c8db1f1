import type { QueueField } from "./store.js";

/** Every field of a queue a `putQueue` may change. */
export const QUEUE_FIELDS: readonly QueueField[] = ["parallelism", "paused"];

/**
 * The `ON CONFLICT (user_id, name) …` action of a `putQueue` (the same text on both stores): a stored queue keeps
 * its created_ms and takes only `fields`, with updated_ms; no fields leaves it as it is. Setting only the fields
 * a patch names, rather than comparing versions, means two patches of different fields on two nodes both hold,
 * with no read to retry.
 */
export function queueConflictAction(fields: readonly QueueField[]): string {
  if (fields.length === 0) return "DO NOTHING";
  return `DO UPDATE SET ${[...fields, "updated_ms"].map((column) => `${column} = excluded.${column}`).join(", ")}`;
}
