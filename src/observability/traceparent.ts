import type { MessageRecord } from "../engine/message.js";

/** The header name a carried traceparent is stored under in a message's delivered headers. */
export const TRACEPARENT_HEADER = "Traceparent";

export interface TraceIds {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

/** W3C Trace Context, version 00 (later versions may add fields after the flags: they are read the same way). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The ids of a valid traceparent; undefined for anything else (all-zero ids and version ff are invalid). */
export function parseTraceparent(value: string): TraceIds | undefined {
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, traceFlags: parseInt(flags, 16) };
}

export function formatTraceparent(ids: TraceIds): string {
  return `00-${ids.traceId}-${ids.spanId}-${ids.traceFlags.toString(16).padStart(2, "0")}`;
}

/** The traceparent a message was published with (stored among its delivered headers), if any. */
export function storedTraceparent(header: Record<string, string[]>): string | undefined {
  return header[TRACEPARENT_HEADER]?.[0];
}

/**
 * Keeps a publish's traceparent with its message, so every delivery carries the trace on: as is when tracing is off,
 * replaced by the attempt span's own when it is on. A content-based deduplication hash was taken before, so two
 * publishes that differ only in their trace still deduplicate.
 */
export function carryTraceparent(record: MessageRecord, traceparent: string): void {
  // A copy: messages of one publish (a URL group's) and a schedule's ticks share one header object.
  record.header = { ...record.header, [TRACEPARENT_HEADER]: [traceparent] };
}
