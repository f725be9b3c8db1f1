import { badRequest } from "../errors.js";
import { NAME_PATTERN } from "./names.js";

/** Where a publish goes: one URL, or every endpoint of a URL group. */
export type Destination = { kind: "url"; url: string } | { kind: "group"; name: string };

/**
 * Rebuilds the destination from the raw path remainder and raw query of `/v2/publish/{destination}` (SPEC §0.3):
 * the SDK does not encode the destination, so its own query string arrives as ours. QStash's own params
 * (`qstash_token`, `upstash-*`) are taken out; `upstash-*` ones are returned in `config` with lower-cased keys.
 */
export function parseDestination(
  rawRemainder: string,
  rawQuery: string,
): { destination: Destination; config: Record<string, string> } {
  if (rawRemainder === "") throw badRequest("destination is required");
  const { kept, config } = splitQuery(rawQuery);

  // Some clients do encode the whole URL; only then is decoding safe, since a raw URL's own %XX must survive.
  const remainder = /^https?%3A/i.test(rawRemainder) ? decode(rawRemainder) : rawRemainder;
  // One slash is accepted because proxies collapse "//" in paths.
  const scheme = /^(https?):\/\/?/i.exec(remainder);
  if (scheme) {
    const url = withQuery(`${scheme[1]}://${remainder.slice(scheme[0].length)}`, kept);
    return { destination: { kind: "url", url: validateUrl(url) }, config };
  }
  if (NAME_PATTERN.test(rawRemainder)) return { destination: { kind: "group", name: rawRemainder }, config };
  throw badRequest(`invalid destination "${rawRemainder}": must be an http(s) URL or a URL group name`);
}

/** Separates QStash's own params from the destination's; the destination's pieces stay raw and in order. */
function splitQuery(rawQuery: string): { kept: string[]; config: Record<string, string> } {
  const kept: string[] = [];
  const config: Record<string, string> = {};
  for (const piece of rawQuery.split("&")) {
    if (piece === "") continue;
    // URLSearchParams decodes one pair the way browsers do ("+" is a space) and never throws on bad escapes.
    const [[name, value]] = new URLSearchParams(piece);
    if (name === "qstash_token") continue;
    const key = name.toLowerCase();
    if (key.startsWith("upstash-")) config[key] = value;
    else kept.push(piece);
  }
  return { kept, config };
}

/** `url` with the raw query pieces appended. */
function withQuery(url: string, pieces: string[]): string {
  if (pieces.length === 0) return url;
  // A fully encoded destination may carry its own "?query" and "#fragment"; new params go between them.
  const hashAt = url.indexOf("#");
  const [base, hash] = hashAt < 0 ? [url, ""] : [url.slice(0, hashAt), url.slice(hashAt)];
  return `${base}${base.includes("?") ? "&" : "?"}${pieces.join("&")}${hash}`;
}

/** Returns `url` unchanged if it parses as an http(s) URL with a host; otherwise throws a 400. */
function validateUrl(url: string): string {
  urlHostname(url, "destination");
  const protocol = new URL(url).protocol;
  if (protocol !== "http:" && protocol !== "https:") {
    throw badRequest(`invalid destination "${url}": only http and https URLs are supported`);
  }
  return url;
}

/** A scheme followed by a third slash (or backslash): the URL parser would skip the empty host and take the path's first segment. */
const EMPTY_AUTHORITY = /^[a-z][a-z0-9+.-]*:[\\/]{3}/i;

/** The host name the HTTP client will call for `url`; a 400 naming `what` when it does not parse or has no host. */
export function urlHostname(url: string, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw badRequest(`invalid ${what} "${url}": not a valid URL`);
  }
  if (parsed.hostname === "" || EMPTY_AUTHORITY.test(url)) throw badRequest(`invalid ${what} "${url}": the host is missing`);
  return parsed.hostname;
}

/** decodeURIComponent that throws a 400 instead of a URIError. */
function decode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest(`invalid destination "${raw}": malformed percent-encoding`);
  }
}
