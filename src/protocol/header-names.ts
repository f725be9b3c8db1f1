/** Go-style canonical header name (`content-type` → `Content-Type`), the form the vendor's JSON uses. */
export function canonicalHeaderName(name: string): string {
  let canonical = canonicalNames.get(name);
  if (canonical === undefined) {
    canonical = canonicalize(name);
    // Bounded: header names come from clients and destinations, but the ones in use repeat.
    if (canonicalNames.size >= 4096) canonicalNames.clear();
    canonicalNames.set(name, canonical);
  }
  return canonical;
}

/** Names seen before, and their canonical form: every publish and every response passes the same few. */
const canonicalNames = new Map<string, string>();

function canonicalize(name: string): string {
  return name
    .toLowerCase()
    .split("-")
    .map((part) => (part ? part[0].toUpperCase() + part.slice(1) : part))
    .join("-");
}

/** Converts Node's header object (lower-case names, string or string[] values) into `{Name: [values]}`. */
export function headerMap(headers: Record<string, string | string[] | number | undefined>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  // A plain loop: this runs for every response and every publish, and entries() would build an array per header.
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    const key = canonicalHeaderName(name);
    // A list of our own: the caller's arrays are never shared or extended.
    const list = Array.isArray(value) ? [...value] : [String(value)];
    const seen = out[key];
    if (seen === undefined) out[key] = list;
    else seen.push(...list);
  }
  return out;
}
