import { BlockList, isIP } from "node:net";
import { badRequest } from "../errors.js";
import { urlHostname } from "../protocol/destination.js";
import { embeddedIpv4 } from "./embedded-ipv4.js";

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
    ["IETF protocol assignments", ["192.0.0.0/24"]],
    ["benchmarking network", ["198.18.0.0/15"]],
    ["reserved range", ["240.0.0.0/4"]],
  ] as const
).map(([label, cidrs]) => ({ label, list: toBlockList([...cidrs], "built-in range") }));

/** The addresses `localhost` names (RFC 6761), by which a localhost name is judged before any lookup. */
const LOCALHOST_ADDRESSES = ["127.0.0.1", "::1"];

/**
 * Decides whether a delivery may go to a host or address. Explicit allow entries win, then explicit deny entries,
 * then (unless `allowPrivate`) loopback, private, link-local, CGNAT, unspecified and reserved ranges are refused.
 * An IPv6 address that embeds an IPv4 one (mapped, NAT64, 6to4, ...) is judged by both.
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
    // Every publish and every attempt asks this of the same few hosts; the policy is fixed for its lifetime.
    if (this.hostDecisions.has(hostname)) return this.hostDecisions.get(hostname);
    const decision = this.decideHost(hostname);
    if (this.hostDecisions.size >= 10_000) this.hostDecisions.clear();
    this.hostDecisions.set(hostname, decision);
    return decision;
  }

  private readonly hostDecisions = new Map<string, string | undefined>();

  private decideHost(hostname: string): string | undefined {
    const host = canonicalHost(hostname);
    if (host === undefined) return `destination host "${hostname}" is not a valid host name`;
    if (isIP(host)) return this.checkAddress(host);
    if (this.allowHosts.matches(host)) return undefined;
    if (this.denyHosts.matches(host)) return denied("host", hostname, "deny list");
    if (host === "localhost" || host.endsWith(".localhost")) {
      // Judged as the loopback addresses it names, so allowing 127.0.0.0/8 (or ::1) allows localhost too.
      const rules = LOCALHOST_ADDRESSES.map((address) => this.addressRule(address));
      return rules.includes(undefined) ? undefined : denied("host", hostname, rules[0]!);
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
    const rule = this.addressRule(address, hostname === undefined ? undefined : canonicalHost(hostname));
    return rule && denied("address", ip, rule);
  }

  /** The rule that refuses a valid address (undefined when it is allowed); `host` is the canonical name it came from. */
  private addressRule(address: string, host?: string): string | undefined {
    const embedded = isIP(address) === 6 ? embeddedIpv4(address) : undefined;
    const forms: Form[] = [{ address, type: isIP(address) === 4 ? "ipv4" : "ipv6", note: "" }];
    if (embedded !== undefined) forms.push({ address: embedded, type: "ipv4", note: `, embeds ${embedded}` });
    const matching = (list: BlockList): Form | undefined => forms.find((f) => list.check(f.address, f.type));
    if (matching(this.allowNets)) return undefined;
    if (host !== undefined && this.allowHosts.matches(host)) return undefined;
    const deniedForm = matching(this.denyNets);
    if (deniedForm) return `deny list${deniedForm.note}`;
    if (this.allowPrivate) return undefined;
    for (const form of forms) {
      const range = PRIVATE_RANGES.find(({ list }) => list.check(form.address, form.type));
      if (range) return `${range.label}${form.note}`;
    }
    return undefined;
  }
}

/** One way of reading an address: as written, or as the IPv4 address it embeds. */
interface Form {
  address: string;
  type: "ipv4" | "ipv6";
  /** Added to the rule's label, so an error shows which address was refused. */
  note: string;
}

/** What a new message would call: its destination (a URL group endpoint, if it names one) and its callbacks. */
export interface MessageDestinations {
  url?: string;
  topicName?: string;
  callback?: string;
  failureCallback?: string;
}

const policies = new WeakMap<EgressSettings, EgressPolicy>();

/**
 * Refuses with a 400 naming the rule a new message whose destination or callback the policy denies without a DNS
 * lookup: an IP literal, `localhost`, a listed host or CIDR. A name that needs resolving passes here; its
 * addresses are checked at every attempt, since they may change by then. A URL without a host is a 400 too.
 */
export function assertPublishable(settings: EgressSettings, target: MessageDestinations): void {
  let policy = policies.get(settings);
  if (!policy) policies.set(settings, (policy = new EgressPolicy(settings)));
  if (target.url !== undefined) {
    checkPublishable(policy, target.topicName === undefined ? "destination" : `endpoint of URL group "${target.topicName}"`, target.url);
  }
  if (target.callback !== undefined) checkPublishable(policy, "Upstash-Callback", target.callback);
  if (target.failureCallback !== undefined) checkPublishable(policy, "Upstash-Failure-Callback", target.failureCallback);
}

function checkPublishable(policy: EgressPolicy, what: string, url: string): void {
  const reason = policy.checkHost(hostnameOf(url, what));
  if (reason) throw badRequest(`${what} "${url}" is refused: ${reason}`);
}

/** Host names of recent valid URLs: the messages of a batch or a fan-out name the same few, each parsed once. */
const hostnames = new Map<string, string>();

function hostnameOf(url: string, what: string): string {
  let hostname = hostnames.get(url);
  if (hostname === undefined) {
    // Throws the 400 for an invalid URL, which is therefore never kept.
    hostname = urlHostname(url, what);
    if (hostnames.size >= 1024) hostnames.clear();
    hostnames.set(url, hostname);
  }
  return hostname;
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
