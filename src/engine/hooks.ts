import type { OpResult, WriteOp } from "../store/store.js";
import type { InsertMessageOp, NewMessage } from "./build-message.js";
import type { Transition } from "./transitions.js";
import type { DlqEntry } from "../model/dlq.js";
import type { MessageRecord } from "../model/message.js";

/**
 * What the engine asks of a layer built on top of it (the workflow runs). The engine calls these and never
 * imports that layer; `server.ts` wires one in with `Engine.use`. Each is called only for messages the layer
 * tagged (`msg.workflow`), so a plain message costs nothing extra.
 */
export interface EngineHooks {
  /** The body of a workflow step's delivery; undefined when the delivery is dropped (its run has ended). */
  deliveryBody(msg: MessageRecord): Promise<Buffer | undefined>;
  /** What a finished attempt of a tagged message writes in the same transaction as its outcome. */
  afterAttempt(msg: MessageRecord, t: Transition, dlq: DlqEntry | undefined, nowMs: number): Promise<WriteOp[]>;
  /** The ops `afterAttempt` gave, once their transaction committed, with their results. */
  afterCommit(ops: WriteOp[], results: OpResult[]): void;
}

/** Without a layer on top, a tagged message is delivered with its own body and changes nothing else. */
export const noHooks: EngineHooks = {
  deliveryBody: async (msg) => msg.body,
  afterAttempt: async () => [],
  afterCommit: () => undefined,
};

/** What the engine offers the layers built on it to store and cancel messages (its narrow write surface). */
export interface MessageWrites {
  /** The write that stores a new message, wrapped by the message's `wrap` when it joins something (a run). */
  storeOp(item: NewMessage): WriteOp;
  /** The bare insert of a new message (no `wrap`). */
  insertOp(item: NewMessage): InsertMessageOp;
  /** Commits ops, then starts or schedules every message they inserted (nested ones included). */
  commitAndStart(ops: WriteOp[]): Promise<OpResult[]>;
  /** Commits ops that insert no message (a plain group commit). */
  commit(ops: WriteOp[]): Promise<OpResult[]>;
  /** Deletes DLQ entries of a user; resolves how many were still there. */
  deleteDlq(userId: string, dlqIds: string[]): Promise<number>;
  /** Cancels a user's unfinished messages; resolves how many were cancelled. */
  cancel(userId: string, ids: string[]): Promise<number>;
}

/** A background part built beside the engine (schedules, wait deadlines): started and stopped with it. */
export interface Lifecycle {
  start(): Promise<void>;
  stop(): void;
}
