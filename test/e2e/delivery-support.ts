import { createServer } from "node:net";
import type { Client } from "@upstash/qstash";
import { eventually, TestReceiver, type Received } from "../helpers/receiver.js";

/** Shared bits of the delivery-semantics e2e files (not a test file itself). */

/** A log entry as `GET /v2/events` returns it; the SDK types are narrower than what Sluice sends. */
export type LogEntry = Record<string, any> & { state: string; time: number; messageId: string };

/** Every log entry of one message, oldest first. */
export async function logsOf(client: Client, messageId: string): Promise<LogEntry[]> {
  const { logs } = await client.logs({ filter: { messageId }, count: 1000 });
  return (logs as unknown as LogEntry[]).slice().reverse();
}

/** Waits (bounded) until the message's log contains `state` (or any of them), then returns the whole log, oldest first. */
export function logsUntil(client: Client, messageId: string, state: string | string[], timeoutMs = 5000): Promise<LogEntry[]> {
  const wanted = Array.isArray(state) ? state : [state];
  return eventually(async () => {
    const logs = await logsOf(client, messageId);
    return logs.some((l) => wanted.includes(l.state)) ? logs : undefined;
  }, timeoutMs);
}

/** The whole log once the message is finished either way. */
export const finalLogs = (client: Client, messageId: string, timeoutMs = 5000): Promise<LogEntry[]> =>
  logsUntil(client, messageId, ["DELIVERED", "FAILED"], timeoutMs);

/** The DLQ entry of one message, once it exists. */
export function dlqEntryOf(client: Client, messageId: string, timeoutMs = 5000): Promise<Record<string, any>> {
  return eventually(async () => {
    const { messages } = await client.dlq.listMessages({ filter: { messageId } });
    return messages.find((m) => m.messageId === messageId) as Record<string, any> | undefined;
  }, timeoutMs);
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Runs `fn` with a fresh TestReceiver, always closing it afterwards. */
export async function withReceiver<T>(fn: (r: TestReceiver) => Promise<T>): Promise<T> {
  const r = await TestReceiver.start();
  try {
    return await fn(r);
  } finally {
    await r.close();
  }
}

/** Sleeps `ms` so a test can check that nothing more happened (bounded by construction). */
export const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Gaps in ms between consecutive requests. */
export const gaps = (reqs: Received[]): number[] => reqs.slice(1).map((r, i) => r.at - reqs[i].at);

export const b64 = (s: string): string => Buffer.from(s).toString("base64");
export const unb64 = (s: string): string => Buffer.from(s, "base64").toString("utf8");
