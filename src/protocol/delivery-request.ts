import type { MessageRecord } from "../model/message.js";
import { signDelivery } from "./signature.js";

/**
 * One attempt's outbound HTTP request, as the deliverer sends it. It is plain data (it may cross to the delivery
 * thread), and unsigned: the deliverer signs it just before sending, with `signing`, so the hashing and HMAC run
 * on the thread that sends.
 */
export interface DeliveryRequest {
  url: string;
  method: string;
  headers: Record<string, string | string[]>;
  body: Uint8Array;
  timeoutMs: number;
  signing: DeliverySigning;
}

/** What an attempt's `Upstash-Signature` is made of besides its URL and body. */
export interface DeliverySigning {
  /** The user's current signing key. */
  key: string;
  /** The attempt's time, read on the engine's clock. */
  nowMs: number;
  nbfSkewSeconds: number;
}

const NO_BODY = new Uint8Array(0);

/**
 * The bytes an attempt actually sends: GET and HEAD requests go without a body. The signature's `body` claim
 * must hash exactly these bytes, or a receiver verifying what it received would reject the delivery.
 */
export function deliveredBody(method: string, body: Uint8Array): Uint8Array {
  return method === "GET" || method === "HEAD" ? NO_BODY : body;
}

/**
 * The request of one attempt of `msg` with `body` (its own, or a workflow step list): the message's headers and
 * the QStash delivery headers (SPEC §3.1); `signedHeaders` adds the `Upstash-Signature` JWT, signed with the
 * user's current key. `traceparent` names the attempt's span to the destination. The arguments are positional so
 * the attempt path allocates nothing for them.
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
  return { url: msg.url, method: msg.method, headers, body, timeoutMs, signing: { key: signingKey, nowMs, nbfSkewSeconds } };
}

/** The request's headers with its `Upstash-Signature` added (they are the request's own object, now signed). */
export function signedHeaders(req: DeliveryRequest): Record<string, string | string[]> {
  const { key, nowMs, nbfSkewSeconds } = req.signing;
  req.headers["Upstash-Signature"] = signDelivery({ signingKey: key, url: req.url, body: deliveredBody(req.method, req.body), nowMs, nbfSkewSeconds });
  return req.headers;
}
