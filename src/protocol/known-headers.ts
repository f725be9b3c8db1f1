/**
 * Every `Upstash-*` request header Sluice reads or the official SDKs send: the one list an unknown header (a typo
 * such as `Upstash-Delays`) is judged against. test/e2e/known-headers.test.ts captures what both SDKs send.
 */
const KNOWN_NAMES = new Set([
  // Publish, enqueue, batch and schedules (SPEC §1, §2.4).
  "upstash-method",
  "upstash-delay",
  "upstash-not-before",
  "upstash-retries",
  "upstash-retry-delay",
  "upstash-timeout",
  "upstash-callback",
  "upstash-failure-callback",
  "upstash-deduplication-id",
  "upstash-content-based-deduplication",
  "upstash-label",
  "upstash-redact-fields",
  "upstash-flow-control-key",
  "upstash-flow-control-value",
  "upstash-header-forward",
  "upstash-queue-name",
  "upstash-cron",
  "upstash-schedule-id",
  // The workflow SDK's feature flags (LazyFetch, WF_DetectTrigger…).
  "upstash-feature-set",
  // The qstash SDK's multi-region setup names the region it talks to; one server has none to choose.
  "upstash-region",
  // Headers of our own deliveries, which a handler may pass on when it publishes in turn.
  "upstash-message-id",
  "upstash-retried",
  "upstash-signature",
  "upstash-caller-ip",
  "upstash-topic-name",
]);

/** Families whose every member is known: forwarded headers, workflow protocol headers, SDK telemetry. */
const KNOWN_PREFIXES = ["upstash-forward-", "upstash-workflow-", "upstash-telemetry-"];

/** Families that configure a callback exactly like a publish: the rest of the name is judged as a publish header. */
const NESTED_PREFIXES = ["upstash-callback-", "upstash-failure-callback-"];

/** Whether a lower-case header name is an `Upstash-*` header Sluice knows (names outside the family are not judged). */
export function isKnownUpstashHeader(name: string): boolean {
  if (!name.startsWith("upstash-")) return true;
  if (KNOWN_NAMES.has(name)) return true;
  if (KNOWN_PREFIXES.some((p) => name.startsWith(p) && name.length > p.length)) return true;
  const nested = NESTED_PREFIXES.find((p) => name.startsWith(p) && name.length > p.length);
  return nested !== undefined && isKnownUpstashHeader(`upstash-${name.slice(nested.length)}`);
}

/** The `Upstash-*` names in `names` that Sluice does not know, lower-case, each once. */
export function unknownUpstashHeaders(names: Iterable<string>): string[] {
  const unknown = new Set<string>();
  for (const raw of names) {
    const name = raw.toLowerCase();
    if (!isKnownUpstashHeader(name)) unknown.add(name);
  }
  return [...unknown];
}
