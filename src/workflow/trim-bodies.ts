/**
 * `trimBody` of the workflow logs (the vendor's OpenAPI): request and response bodies in a log are cut to that many
 * bytes, or left out entirely with -1, so a log of runs with large payloads stays small. The fields are the bodies
 * the logs carry: step results (`out`), error and callback response bodies, call bodies, the run's response.
 */
const BODY_FIELDS = new Set(["out", "body", "callBody", "callResponseBody", "workflowRunResponse", "failResponse", "responseBody", "invokedWorkflowRunBody"]);

/** Trims every body field of `value` (a log, nested objects and arrays included) in place. */
export function trimBodies(value: unknown, limit: number): void {
  if (Array.isArray(value)) {
    for (const item of value) trimBodies(item, limit);
    return;
  }
  if (typeof value !== "object" || value === null) return;
  const obj = value as Record<string, unknown>;
  for (const [key, v] of Object.entries(obj)) {
    if (BODY_FIELDS.has(key) && typeof v === "string") {
      if (limit < 0) delete obj[key];
      else obj[key] = cutUtf8(v, limit);
    } else if (key !== "headers" && key !== "callHeaders" && key !== "responseHeaders") {
      trimBodies(v, limit);
    }
  }
}

/** The longest prefix of `s` that is at most `limit` bytes of UTF-8, never ending inside a character. */
function cutUtf8(s: string, limit: number): string {
  const bytes = Buffer.from(s, "utf8");
  if (bytes.length <= limit) return s;
  let end = limit;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString("utf8");
}
