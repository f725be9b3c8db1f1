import { BlockList, isIP } from "node:net";

/** Which destinations deliveries may reach (DECISIONS #18); resolved from configuration once at startup. */
export interface EgressSettings {
  allowHosts: string[];
  denyHosts: string[];
  allowCidrs: string[];
  denyCidrs: string[];
  allowPrivate: boolean;
}

/** Ranges a server on a private network must not be tricked into calling, by the label shown in the error. */
const PRIVATE_RANGES = (
  [
    ["loopback", ["127.0.0.0/8", "::1/128"]],
    ["private network", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]],
    ["link-local", ["169.254.0.0/16", "fe80::/10"]],
    ["shared address space", ["100.64.0.0/10"]],
    ["unspecified address", ["0.0.0.0/8", "::/128"]],
  ] as const
).map(([label, cidrs]) => ({ label, list: toBlockList([...cidrs], "built-in range") }));

/**
 * Decides whether a delivery may go to a host or address. Explicit allow entries win, then explicit deny entries,
 * then (unless `allowPrivate`) loopback, private, link-local, CGNAT and unspecified ranges are refused.
 * Node's BlockList also matches IPv4-mapped IPv6 (`::ffff:127.0.0.1`) against the IPv4 ranges.
 */
export class EgressPolicy {
  private readonly allowHosts: HostList;
  private readonly denyHosts: HostList;
  private readonly allowNets: BlockList;
  private readonly denyNets: BlockList;
  private readonly allowPrivate: boolean;

  constructor(s: EgressSettings) {
    this.allowHosts = toHostList(s.allowHosts);
    this.denyHosts = toHostList(s.denyHosts);
    // IP literals listed as hosts behave like single-address CIDRs, so literal-IP URLs match them.
    this.allowNets = toBlockList([...s.allowCidrs, ...this.allowHosts.addresses], "allowCidrs");
    this.denyNets = toBlockList([...s.denyCidrs, ...this.denyHosts.addresses], "denyCidrs");
    this.allowPrivate = s.allowPrivate;
  }

  /**
   * Undefined when `hostname` (a name or IP literal, without port) may be called, decided before any DNS lookup;
   * otherwise the reason it may not. Resolved addresses still need checkAddress.
   */
  checkHost(hostname: string): string | undefined {
    const host = canonicalHost(hostname);
    if (host === undefined) return `destination host "${hostname}" is not a valid host name`;
    if (isIP(host)) return this.checkAddress(host);
    if (this.allowHosts.matches(host)) return undefined;
    if (this.denyHosts.matches(host)) return denied("host", hostname, "deny list");
    if (!this.allowPrivate && (host === "localhost" || host.endsWith(".localhost"))) {
      return denied("host", hostname, "loopback");
    }
    return undefined;
  }

  /**
   * Undefined when a connection to `ip` is allowed; otherwise the reason. Pass the `hostname` it was resolved from
   * so an explicitly allowed host may still reach a private address.
   */
  checkAddress(ip: string, hostname?: string): string | undefined {
    // Zone ids ("fe80::1%eth0") name an interface, not part of the address.
    const address = stripBrackets(ip.trim()).replace(/%.*$/, "");
    const family = isIP(address);
    if (family === 0) return `destination address "${ip}" is not an IP address`;
    const type = family === 4 ? "ipv4" : "ipv6";
    if (this.allowNets.check(address, type)) return undefined;
    const host = hostname === undefined ? undefined : canonicalHost(hostname);
    if (host !== undefined && this.allowHosts.matches(host)) return undefined;
    if (this.denyNets.check(address, type)) return denied("address", ip, "deny list");
    if (this.allowPrivate) return undefined;
    const range = PRIVATE_RANGES.find(({ list }) => list.check(address, type));
    return range && denied("address", ip, range.label);
  }
}

/** Splits a comma-separated setting into trimmed, non-empty entries. */
export function parseCsvList(v: string | undefined): string[] {
  return (v ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
}

interface HostList {
  matches(host: string): boolean;
  addresses: string[];
}

/** Entries match exactly, or — written `*.example.com` or `.example.com` — any subdomain (not the apex itself). */
function toHostList(entries: string[]): HostList {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  const addresses: string[] = [];
  for (const entry of entries) {
    const wildcard = /^\*?\./.exec(entry);
    const host = canonicalHost(wildcard ? entry.slice(wildcard[0].length) : entry);
    if (host === undefined) throw new Error(`invalid egress host entry "${entry}"`);
    if (isIP(host)) addresses.push(host);
    else if (wildcard) suffixes.push(`.${host}`);
    else exact.add(host);
  }
  return { addresses, matches: (host) => exact.has(host) || suffixes.some((suffix) => host.endsWith(suffix)) };
}

/** A BlockList of IP addresses and CIDRs; throws naming `setting` on an entry that is neither. */
function toBlockList(entries: string[], setting: string): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix, extra] = stripBrackets(entry.trim()).split("/");
    const family = isIP(address);
    const type = family === 4 ? "ipv4" : "ipv6";
    if (family === 0 || extra !== undefined || (prefix !== undefined && !/^\d+$/.test(prefix))) {
      throw new Error(`invalid ${setting} entry "${entry}": expected an IP address or CIDR like 10.0.0.0/8`);
    }
    try {
      if (prefix === undefined) list.addAddress(address, type);
      else list.addSubnet(address, Number(prefix), type);
    } catch {
      throw new Error(`invalid ${setting} entry "${entry}": prefix length out of range`);
    }
  }
  return list;
}

/**
 * Lower-cased, punycoded, trailing-dot-free host, with IPv4 shorthands ("127.1", "2130706433") expanded the way
 * the URL parser (and so the HTTP client) reads them. Undefined for anything that is not a bare host.
 */
function canonicalHost(raw: string): string | undefined {
  const host = stripBrackets(raw.trim().toLowerCase());
  if (isIP(host)) return host;
  let url: URL;
  try {
    url = new URL(`http://${host}/`);
  } catch {
    return undefined;
  }
  // Userinfo, ports or paths ("a@b", "a:81", "a/b") would make the parsed host differ from what the caller meant.
  if (url.port !== "" || url.href !== `http://${url.hostname}/`) return undefined;
  const parsed = stripBrackets(url.hostname).replace(/\.+$/, "");
  return parsed === "" ? undefined : parsed;
}

/** `::1` for `[::1]`; anything else unchanged. */
function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** The error text shared by every refusal, so logs and tests can rely on one shape. */
function denied(noun: "host" | "address", value: string, reason: string): string {
  return `destination ${noun} "${value}" is denied by the egress policy (${reason})`;
}
