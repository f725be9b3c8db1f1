import type { FlowSettings } from "../model/flow-settings.js";
import type { DlqEntry, DlqRecord } from "../model/dlq.js";
import type { LogEvent, LogState, StoredEvent } from "../model/log.js";
import type { MessageRecord, MessageState, CallType } from "../model/message.js";
import type { RunEntry, RunFilter, RunRecord, RunState } from "../model/run.js";
import type { StoredRunEvent, StoredWaiter } from "../model/waiter.js";

/**
 * The one storage contract. Implementations expose no driver or transaction types; a write is a list of
 * operations applied atomically by `commit`, so the engine can group the writes of many requests into one
 * transaction (group commit) on any backend.
 *
 * Rules every backend follows (test/store/contract.ts runs the same cases against each):
 * - Operations of one commit are applied in order, each seeing the ones before it (several ops on one id in one
 *   commit behave as if committed one by one); the results of an op's `then` come back in its `nested`.
 * - A commit is all or nothing. An error thrown by `commit` changed nothing, and `classifyStoreError`
 *   (store-errors.ts) must classify it right: a constraint or a value the store cannot hold is `rejected`, a busy,
 *   conflicting or lost connection `transient`, no room `full`. The committer splits a rejected group to find the
 *   caller at fault and retries a transient one.
 * - Reads see every commit that has resolved.
 * - Ids (messages, runs, DLQ entries, shared bodies) are never reused once stored.
 */
export interface Store {
  /** Applies every operation in one transaction; one result per operation, in order. */
  commit(ops: WriteOp[]): Promise<OpResult[]>;

  getMessage(userId: string, id: string): Promise<MessageRecord | undefined>;
  /** Pending messages (any user) ordered by (due, id), strictly after `after` and due before `beforeMs`. */
  listDue(after: DueKey, beforeMs: number, limit: number): Promise<DueKey[]>;
  /** Full records of pending messages by id (any user), for dispatch. */
  getMessagesById(ids: string[]): Promise<MessageRecord[]>;
  /**
   * Messages whose attempt was in flight on a node that is gone: on one node, every active message (the process
   * stopped); in a cluster, active messages of nodes whose lease has expired. Each carries `nodeId` (the node it
   * was active on, when the store records it), which its outcome names as `owner`.
   */
  listActive(): Promise<MessageRecord[]>;
  /**
   * Ids of a user's unfinished messages that match the filter. With `limit`, at most that many, oldest first, and
   * none already asked to cancel: a capped cancel repeated until it reports 0 then reaches every match.
   */
  findUnfinished(userId: string, filter: MessageFilter, limit?: number): Promise<string[]>;

  listEvents(userId: string, filter: MessageFilter, page: Page): Promise<{ items: StoredEvent[]; cursor?: string }>;
  listDlq(userId: string, filter: MessageFilter, page: Page): Promise<{ items: DlqRecord[]; cursor?: string }>;
  getDlq(userId: string, dlqId: string): Promise<DlqRecord | undefined>;

  listQueues(): Promise<StoredQueue[]>;
  /** One queue as stored now: what news of a queue changed on another node reads, instead of every queue. */
  getQueue(userId: string, name: string): Promise<StoredQueue | undefined>;
  /** Unfinished messages of each queue, for its `lag`. */
  countQueueLag(userId: string, queueName: string): Promise<number>;
  listUrlGroups(): Promise<StoredUrlGroup[]>;
  /** One group as stored now: what a change in a cluster reads first, instead of every group. */
  getUrlGroup(userId: string, name: string): Promise<StoredUrlGroup | undefined>;
  listSchedules(): Promise<StoredSchedule[]>;
  /** One schedule as stored now: what a change in a cluster reads first, instead of every schedule. */
  getSchedule(userId: string, id: string): Promise<StoredSchedule | undefined>;
  /** A user's schedules created at or after `sinceMs`: those a create's deduplication compares with. */
  listRecentSchedules(userId: string, sinceMs: number): Promise<StoredSchedule[]>;
  /** The states of the given messages (any user), for a schedule's `lastScheduleStates`. */
  messageStates(ids: string[]): Promise<Map<string, MessageState>>;
  listFlowSettings(): Promise<{ userId: string; key: string; settings: FlowSettings }[]>;
  /** A user's messages whose attempt is in flight (on any node), or only those of one flow-control key. */
  countActive(userId: string, flowKey?: string): Promise<number>;
  /** Messages of a flow-control key that are due and waiting (pending, due by `nowMs`). */
  countWaiting(userId: string, flowKey: string, nowMs: number): Promise<number>;
  /**
   * A user's flow-control keys in use in the store: of a message in flight or pending and due by `nowMs` (what
   * `countActive` and `countWaiting` count), whose name contains `search` (all when ""), by name, at most `limit`.
   */
  listFlowKeysInUse(userId: string, nowMs: number, search: string, limit: number): Promise<string[]>;
  /** The saved rate windows of flow-control keys. */
  listFlowWindows(): Promise<FlowWindow[]>;
  /** Totals for the metrics gauges, across users (read from indexes; the caller bounds how often). */
  countForMetrics(nowMs: number): Promise<MetricsCounts>;
  /** Queue messages that hold their queue's slot: past their first attempt and unfinished, or finished with callbacks unfinished. */
  listQueueHolders(): Promise<{ userId: string; queueName: string; id: string; finished: boolean; callbacks: number }[]>;

  getRun(userId: string, runId: string): Promise<RunRecord | undefined>;
  /** A run's entries in append order (only those after `afterSeq` when given). */
  getRunEntries(userId: string, runId: string, afterSeq?: number): Promise<RunEntry[]>;
  /** Runs newest first (by creation), after the cursor. */
  listRuns(userId: string, filter: RunFilter, page: Page): Promise<{ items: RunRecord[]; cursor?: string }>;
  /** Messages of a run (any state), oldest first, with their events. */
  listRunMessages(userId: string, runId: string): Promise<{ message: MessageRecord; events: LogEvent[] }[]>;
  /** Live waiters of an event (and, when given, of one run). */
  listWaiters(userId: string, eventId: string, runId?: string): Promise<StoredWaiter[]>;
  /** Live waiters of one run, for its log. */
  listRunWaiters(userId: string, runId: string): Promise<StoredWaiter[]>;
  /** Every live waiter (any user), for the deadline timer. */
  listAllWaiters(): Promise<StoredWaiter[]>;
  /** Live waiters (any user) whose deadline is before `beforeMs`, earliest first, at most `limit`: the deadline timer's window. */
  listWaitersDue(beforeMs: number, limit: number): Promise<StoredWaiter[]>;
  /** The oldest event notified to a run for `eventId` that no wait has taken yet. */
  findRunEvent(userId: string, runId: string, eventId: string): Promise<StoredRunEvent | undefined>;
  /** How many events are kept for a run (any event id), waiting for a wait to take them. */
  countRunEvents(userId: string, runId: string): Promise<number>;

  /** A user's signing keys, when they have been stored. */
  getSigningKeys(userId: string): Promise<SigningKeyPair | undefined>;
  /**
   * Stores a user's first signing keys, unless the user has keys already; resolves the pair stored afterwards
   * (`keys`, or the pair that was there). Nodes that start at once for a user without keys thus all use the pair
   * stored first, whichever it was.
   */
  insertSigningKeys(userId: string, keys: SigningKeyPair): Promise<SigningKeyPair>;
  /**
   * Replaces a user's signing keys with `keys` only if both stored keys are still those of `expected`; resolves
   * whether they were replaced. A rotation is this compare-and-set, so of two rotations of one pair exactly one wins.
   */
  replaceSigningKeys(userId: string, expected: SigningKeyPair, keys: SigningKeyPair): Promise<boolean>;

  /**
   * Deletes finished messages, their events and DLQ entries older than `beforeMs` (and shared bodies no message
   * names any more), and expired dedup keys.
   */
  purge(beforeMs: number, nowMs: number, limit: number): Promise<number>;
  close(): Promise<void>;
}

export type WriteOp =
  | {
      op: "insertMessage";
      message: MessageRecord;
      /**
       * The deduplication window: the insert is a duplicate (nothing written, `duplicateOf` = the message the key
       * names) when the user's key is stored with an expiry after this message's `createdAtMs`; otherwise the key
       * is taken (or taken anew) for this message until `dedupExpiresMs`.
       */
      dedupKey?: string;
      dedupExpiresMs?: number;
      events?: LogEvent[];
      /**
       * Insert only if this DLQ entry (of this user) exists, and remove it: a DLQ retry happens once even when asked
       * twice at once. Checked before the deduplication key.
       */
      consumeDlq?: { userId: string; dlqId: string };
      /**
       * Messages of one request that carry the same body (a URL-group fan-out) name the same id here: the store
       * keeps their body once, written with the first of them that is applied, reads it back with each, and removes
       * it with the last of them (at retention). Unset: the body is kept with the message.
       */
      sharedBodyId?: string;
    }
  /**
   * Moves a message to `state` only if it is still in `expectState` (the fence that keeps a cancel and a
   * dispatch from both winning); `events` are written only when the move happened.
   */
  | {
      op: "updateMessage";
      id: string;
      expectState: MessageState;
      state: MessageState;
      retried: number;
      dueMs: number;
      finishedMs?: number;
      events?: LogEvent[];
      /**
       * For the outcome of an attempt (from `active`): the node that ran it (null: none recorded). A store shared by
       * several nodes applies the outcome only if the message is still active on that node, and otherwise fails the
       * whole commit with a fenced-out error (`isFencedOut`), so a node declared dead cannot also write the
       * callbacks, DLQ entry or workflow step that go with its late outcome. A store of one node ignores it.
       */
      owner?: string | null;
    }
  /**
   * Asks for the cancel of a message whose attempt is in flight, maybe on another node: applied (and `events`
   * written) only if the message is active. The node running the attempt cancels it when the attempt ends,
   * unless it delivered it.
   */
  | { op: "requestCancel"; userId: string; id: string; events: LogEvent[] }
  | { op: "event"; event: LogEvent }
  | { op: "insertDlq"; entry: DlqEntry }
  /** Removes a DLQ entry; `then` is applied only if it was still there (a resume or restart happens once). */
  | { op: "deleteDlq"; userId: string; dlqId: string; then?: WriteOp[] }
  /**
   * Creates the queue as given, or changes the stored one (which keeps its createdAtMs). `fields` limits what a
   * stored queue takes from `queue` (with its updatedAtMs), so a patch of one field leaves the other as stored,
   * whatever another node wrote there since it was read; `[]` only creates an absent queue and leaves a stored
   * one as it is (`applied`: whether it was created). Unset: both fields.
   */
  | { op: "putQueue"; queue: StoredQueue; fields?: QueueField[] }
  | { op: "deleteQueue"; userId: string; name: string }
  | { op: "putFlowSettings"; userId: string; key: string; settings: FlowSettings }
  /**
   * Saves rate windows. A store shared by several nodes writes them only while the committing node leads in the
   * epoch it holds, as it starts attempts (else not applied): only the leader counts starts, and a leader that has
   * lost its lease must not overwrite the windows its successor continues.
   */
  | { op: "putFlowWindows"; windows: FlowWindow[] }
  /**
   * Stores a group whole, only if the stored group is still the version that was read (`expectUpdatedAtMs`):
   * `null`, none is stored; a number, the stored one has that updatedAtMs (else not applied). An edit is a
   * read-modify-write of the endpoint list, so two edits on two nodes at once must not both apply: the one that
   * loses reads again. The caller makes every write's updatedAtMs greater than the one it replaces, so a version
   * is never seen twice.
   */
  | { op: "putUrlGroup"; group: StoredUrlGroup; expectUpdatedAtMs: number | null }
  /** Deletes a group; with `expectUpdatedAtMs`, only the version that was read (as `putUrlGroup`). */
  | { op: "deleteUrlGroup"; userId: string; name: string; expectUpdatedAtMs?: number }
  | { op: "putSchedule"; schedule: StoredSchedule }
  | { op: "deleteSchedule"; userId: string; id: string }
  /**
   * One tick of a schedule: moves it from `expectNextMs` to `nextMs` and inserts the tick's messages, all
   * only if the schedule still expects that tick (not fired already, not paused, replaced or deleted since) in
   * the version the tick was built from (`expectRevision`): a schedule replaced on another node that keeps the
   * same next tick fires it in its new version only.
   */
  | {
      op: "fireSchedule";
      userId: string;
      id: string;
      expectNextMs: number;
      expectRevision: string;
      nextMs: number | null;
      firedMs: number;
      inserts: Extract<WriteOp, { op: "insertMessage" }>[];
    }
  | WorkflowOp;

type InsertOp = Extract<WriteOp, { op: "insertMessage" }>;

/** The parts of a run an update may change. */
export type RunPatch = Partial<Pick<RunRecord, "state" | "completedAtMs" | "response" | "failureFunction" | "dlqId">>;

/** Workflow writes (SPEC §5): run records, their entries, waiters and stored events. */
export type WorkflowOp =
  /**
   * A message that carries an entry of a run. With `create`, the run is created. When the id names a started run
   * it is not applied (`duplicateOf` = that run's trigger message), unless `continueExisting`: then that run takes
   * the new trigger instead (run, configuration and first entry stay; the message is inserted, no entry is
   * appended). When the id names a run that has ended (DECISIONS #21), that run is removed first, in the same
   * transaction: its record, all its entries (the new run's entries start again at seq 0), waiters, stored run
   * events, and the DLQ entry named by its `dlqId` (as `deleteDlq` would); its messages and their events stay.
   * Without `create`, the run must exist and be started (else not applied, `rejected` says why). Then the message
   * is inserted (its own dedup and DLQ rules apply: when it is not applied, neither is the step, and its result is
   * the step's) and the entry appended. Entries of a run are numbered 0, 1, 2… in append order, whatever op
   * appends them.
   */
  | {
      op: "runStep";
      userId: string;
      runId: string;
      create?: RunRecord;
      continueExisting?: boolean;
      entry?: { callType: CallType; body: Buffer };
      insert: InsertOp;
    }
  /**
   * Changes a run only if it is in one of `expectState` and, when `expectCreatedAtMs` is given, was created then
   * (not a newer run of the same id); else not applied, `rejected` = its state or "unknown". Only the fields in
   * `patch` change (an empty patch only fences `then`). `then` is applied only when it was (`nested` is then always
   * a list). A run moved out of RUN_STARTED loses its waiters.
   */
  | { op: "runUpdate"; userId: string; runId: string; expectState: RunState[]; expectCreatedAtMs?: number; patch: RunPatch; then?: WriteOp[] }
  /** Appends entries to a run regardless of its state (copied steps of a resumed run). */
  | { op: "runCopyEntries"; userId: string; runId: string; entries: Omit<RunEntry, "seq">[] }
  /** Stores a waiter; the store sets its `id` (unique, increasing) before the commit resolves. */
  | { op: "putWaiter"; waiter: StoredWaiter }
  /** Removes a waiter; applied (and `then` applied) only if it was still there, so an event is delivered once. */
  | { op: "takeWaiter"; userId: string; id: number; then?: WriteOp[] }
  /** Stores an event for a run's lookback; the store sets its `id` (unique, increasing) before the commit resolves. */
  | { op: "putRunEvent"; event: StoredRunEvent }
  | { op: "takeRunEvent"; userId: string; id: number; then?: WriteOp[] };

/** A user's signing keys: deliveries are signed with `current`; receivers also accept `next`, the one a rotation makes current. */
export interface SigningKeyPair {
  current: string;
  next: string;
}

/** A flow-control key's rate window: when it opened and how many attempts it has started. */
export interface FlowWindow {
  userId: string;
  key: string;
  startMs: number;
  count: number;
}

export interface MetricsCounts {
  pending: number;
  /** Pending and due by `nowMs`: waiting for a delivery slot. */
  due: number;
  dlq: number;
  schedules: number;
  activeRuns: number;
}

export interface StoredUrlGroup {
  userId: string;
  name: string;
  createdAtMs: number;
  updatedAtMs: number;
  endpoints: { url: string; name?: string }[];
}

export interface StoredSchedule {
  id: string;
  userId: string;
  /** As given, including a `CRON_TZ=` prefix. */
  cron: string;
  /** A URL or a URL group name. */
  destination: string;
  /** The publish headers given at creation (lower-case names), parsed again for every tick. */
  headers: Record<string, string>;
  body: Buffer;
  callerIp: string;
  paused: boolean;
  createdAtMs: number;
  /**
   * The version of what the schedule sends (cron, destination, headers, body, pause): new, unique, on every put;
   * a tick leaves it. A replacement keeps createdAtMs, so a tick is fenced on this instead. Empty for a schedule
   * stored before revisions were.
   */
  revision: string;
  nextMs: number | null;
  lastMs: number | null;
  lastMessageIds: string[];
}

/** The settings of a queue a `putQueue` may change on its own. */
export type QueueField = "parallelism" | "paused";

export interface StoredQueue {
  userId: string;
  name: string;
  parallelism: number;
  paused: boolean;
  createdAtMs: number;
  updatedAtMs: number;
}

/** A position in due order: ties on due time are broken by id. */
export interface DueKey {
  dueMs: number;
  id: string;
}

export interface OpResult {
  /** False when an insert was a duplicate or an update's expected state did not match. */
  applied: boolean;
  /** For an insert that was a duplicate: the id of the earlier message (nothing was written). */
  duplicateOf?: string;
  /** For a run step that was refused: the run's state, or "unknown". */
  rejected?: RunState | "unknown";
  /** Results of an operation's `then` list, when it was applied. */
  nested?: OpResult[];
}

export interface Page {
  cursor?: string;
  count: number;
  /** Newest first unless `asc`. */
  asc?: boolean;
}

/** Selection shared by logs, bulk cancel and the DLQ; arrays match any of their values. */
export interface MessageFilter {
  messageIds?: string[];
  dlqIds?: string[];
  messageId?: string;
  url?: string[];
  topicName?: string[];
  endpointName?: string[];
  scheduleId?: string[];
  queueName?: string[];
  label?: string[];
  flowControlKey?: string[];
  callerIp?: string[];
  host?: string[];
  path?: string[];
  fromDate?: number;
  toDate?: number;
  state?: LogState[];
  responseStatus?: number[];
  runId?: string[];
  /** true: only messages of workflow runs; false: only plain messages. */
  workflow?: boolean;
  /**
   * DLQ only: entries that failed their workflow run (the run's `dlqId`, SPEC §5.11), and these filters on that
   * run. With `dlqIds` only the first condition applies.
   */
  failedRun?: { url?: string[]; createdAt?: number; callerIp?: string[]; failureFunctionState?: string[] };
}
