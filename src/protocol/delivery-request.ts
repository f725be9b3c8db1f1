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
  headers: HeaderList;
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

/**
 * Headers as undici takes them with the least work, and as they cross to the delivery thread most cheaply: name,
 * value, name, value… A value of several lines is a list (one header line each).
 */
export type HeaderList = (string | string[])[];

/** The value of `name` (exactly as written) in `headers`, or undefined. */
export function headerOf(headers: HeaderList, name: string): string | string[] | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
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
  const headers: HeaderList = [];
  for (const name in msg.header) {
    // A header of the message that the delivery sets itself is replaced by the delivery's (as QStash does).
    if (setByDelivery(name, msg, traceparent)) continue;
    const value = msg.header[name];
    headers.push(name, value.length === 1 ? value[0] : value);
  }
  headers.push("User-Agent", "Upstash-QStash", "Upstash-Message-Id", msg.id, "Upstash-Retried", String(msg.retried));
  if (msg.topicName) headers.push("Upstash-Topic-Name", msg.topicName);
  if (msg.scheduleId) headers.push("Upstash-Schedule-Id", msg.scheduleId);
  if (msg.callerIp) headers.push("Upstash-Caller-Ip", msg.callerIp);
  if (traceparent) headers.push("Traceparent", traceparent);
  return { url: msg.url, method: msg.method, headers, body, timeoutMs, signing: { key: signingKey, nowMs, nbfSkewSeconds } };
}

/** Whether the delivery sends a header `name` of its own for `msg` (message headers have canonical names). */
function setByDelivery(name: string, msg: MessageRecord, traceparent: string | undefined): boolean {
  switch (name) {
    case "User-Agent":
    case "Upstash-Message-Id":
    case "Upstash-Retried":
    case "Upstash-Signature":
      return true;
    case "Upstash-Topic-Name":
      return !!msg.topicName;
    case "Upstash-Schedule-Id":
      return !!msg.scheduleId;
    case "Upstash-Caller-Ip":
      return !!msg.callerIp;
    case "Traceparent":
      return !!traceparent;
    default:
      return false;
  }
}

/** The request's headers with its `Upstash-Signature` added (they are the request's own list, now signed). */
export function signedHeaders(req: DeliveryRequest): HeaderList {
  const { key, nowMs, nbfSkewSeconds } = req.signing;
  req.headers.push("Upstash-Signature", signDelivery({ signingKey: key, url: req.url, body: deliveredBody(req.method, req.body), nowMs, nbfSkewSeconds }));
  return req.headers;
}
