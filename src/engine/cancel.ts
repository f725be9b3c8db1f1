import type { MessageRecord } from "../model/message.js";
import type { Store } from "../store/store.js";
import type { Clock } from "./clock.js";
import type { Committer } from "./committer.js";
import type { Dispatcher } from "./dispatcher.js";
import type { DueLoader } from "./due-loader.js";
import type { EngineEmitter } from "./events.js";
import { cancelUpdate } from "./transitions.js";

export interface CancelDeps {
  store: Pick<Store, "getMessagesById">;
  committer: Pick<Committer, "run">;
  clock: Clock;
  dispatcher: Pick<Dispatcher, "cancelled">;
  loader: Pick<DueLoader, "remove">;
  /** The attempts in flight, by message id. */
  inFlight: ReadonlyMap<string, MessageRecord>;
  /** Whether other nodes may run attempts (a cluster): their active messages are asked to cancel through the store. */
  clustered: boolean;
  events: EngineEmitter;
}

/**
 * Cancels a user's unfinished messages. A pending one is cancelled at once; one whose attempt is in flight (here,
 * or on another node of a cluster) is cancelled when the attempt ends, unless that attempt delivered it. Resolves
 * how many were cancelled.
 */
export async function cancelMessages(deps: CancelDeps, userId: string, ids: string[]): Promise<number> {
  const { committer, inFlight } = deps;
  const now = deps.clock.now();
  const stored = await deps.store.getMessagesById(ids.filter((id) => !inFlight.has(id)));
  const pending = stored.filter((m) => m.userId === userId && m.state === "pending");
  // In flight on another node: flagged in the store, which tells that node; it cancels when the attempt ends.
  const elsewhere = deps.clustered ? stored.filter((m) => m.userId === userId && m.state === "active" && !inFlight.has(m.id)) : [];
  // Fenced on `pending`: a message that started its attempt meanwhile is left to the in-flight path below.
  const results = await committer.run([
    ...pending.map((m) => cancelUpdate(m, now)),
    ...elsewhere.map((m) => ({ op: "requestCancel" as const, userId, id: m.id, events: [{ userId, messageId: m.id, timeMs: now, state: "CANCEL_REQUESTED" as const }] })),
  ]);
  let count = 0;
  pending.forEach((m, i) => {
    if (!results[i].applied) return;
    count++;
    deps.loader.remove(m.id);
    m.state = "cancelled";
    deps.dispatcher.cancelled(m);
    deps.events.emit("cancelled", m);
  });
  count += results.slice(pending.length).filter((r) => r.applied).length;
  const late: MessageRecord[] = [];
  for (const id of ids) {
    const m = inFlight.get(id);
    if (!m || m.userId !== userId || m.cancelRequested) continue;
    m.cancelRequested = true;
    late.push(m);
  }
  try {
    await committer.run(late.map((m) => ({ op: "event", event: { userId, messageId: m.id, timeMs: now, state: "CANCEL_REQUESTED" } })));
  } catch (err) {
    // The caller is told the cancel failed, so it must not take effect when the attempt ends either.
    for (const m of late) m.cancelRequested = false;
    throw err;
  }
  return count + late.length;
}
