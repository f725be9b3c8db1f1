import type { MessageRecord } from "../model/message.js";
import { signDelivery } from "./signature.js";

/** One attempt's outbound HTTP request, as the deliverer sends it. */
export interface DeliveryRequest {
  url: string;
  method: string;
  headers: Record<string, string | string[]>;
  body: Buffer;
  timeoutMs: number;
}

const NO_BODY = Buffer.alloc(0);

/**
 * The bytes an attempt actually sends: GET and HEAD requests go without a body. The signature's `body` claim
 * must hash exactly these bytes, or a receiver verifying what it received would reject the delivery.
 */
export function deliveredBody(method: string, body: Buffer): Buffer {
  return method === "GET" || method === "HEAD" ? NO_BODY : body;
}

/**
 * The request of one attempt of `msg` with `body` (its own, or a workflow step list): the message's headers, the
 * QStash delivery headers (SPEC §3.1) and the `Upstash-Signature` JWT signed with the user's current key.
 * `traceparent` names the attempt's span to the destination. The arguments are positional so the attempt path
 * allocates nothing for them.
 */
export function deliveryRequest(
  msg: MessageRecord,
  body: Buffer,
  signingKey: string,
  nowMs: number,
  nbfSkewSeconds: number,
  timeoutMs: number,
  traceparent?: string,
): DeliveryRequest {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(msg.header)) headers[k] = v.length === 1 ? v[0] : v;
  headers["User-Agent"] = "Upstash-QStash";
  headers["Upstash-Message-Id"] = msg.id;
  headers["Upstash-Retried"] = String(msg.retried);
  if (msg.topicName) headers["Upstash-Topic-Name"] = msg.topicName;
  if (msg.scheduleId) headers["Upstash-Schedule-Id"] = msg.scheduleId;
  if (msg.callerIp) headers["Upstash-Caller-Ip"] = msg.callerIp;
  if (traceparent) headers["Traceparent"] = traceparent;
  headers["Upstash-Signature"] = signDelivery({
    signingKey,
    url: msg.url,
    body: deliveredBody(msg.method, body),
    nowMs,
    nbfSkewSeconds,
  });
  return { url: msg.url, method: msg.method, headers, body, timeoutMs };
}
