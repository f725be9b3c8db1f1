import type { Store } from "../store/store.js";

/**
 * What the API reads straight from the store (messages, logs, the DLQ, runs): a read-only view, so a route can
 * show state but never change it around the engine.
 */
export type StoreReads = Pick<
  Store,
  | "getMessage"
  | "findUnfinished"
  | "messageStates"
  | "listEvents"
  | "getDlq"
  | "listDlq"
  | "getRun"
  | "listRuns"
  | "getRunEntries"
  | "listRunMessages"
  | "listRunWaiters"
  | "countActive"
  | "countWaiting"
  | "listFlowKeysInUse"
>;
