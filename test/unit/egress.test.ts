import { describe, it, expect } from "vitest";
import { EgressPolicy, parseCsvList, type EgressSettings } from "../../src/engine/egress.js";

const open: EgressSettings = { allowHosts: [], denyHosts: [], allowCidrs: [], denyCidrs: [], allowPrivate: true };
const production: EgressSettings = { ...open, allowPrivate: false };
const policy = (overrides: Partial<EgressSettings> = {}) => new EgressPolicy({ ...production, ...overrides });

describe("EgressPolicy.checkAddress with private ranges denied", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["::1", "loopback"],
    ["[::1]", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["10.1.2.3", "private network"],
    ["172.16.0.1", "private network"],
    ["172.31.255.255", "private network"],
    ["192.168.1.1", "private network"],
    ["fc00::1", "private network"],
    ["fd12:3456::1", "private network"],
    ["::ffff:10.0.0.1", "private network"],
    ["::ffff:192.168.0.1", "private network"],
    ["169.254.169.254", "link-local"], // cloud metadata endpoint
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["febf::1", "link-local"],
    ["::ffff:169.254.169.254", "link-local"],
    ["100.64.0.1", "shared address space"],
    ["100.127.255.255", "shared address space"],
    ["0.0.0.0", "unspecified address"],
    ["0.1.2.3", "unspecified address"],
    ["::", "unspecified address"],
    ["::ffff:0.0.0.0", "unspecified address"],
    ["192.0.0.1", "IETF protocol assignments"],
    ["192.0.0.255", "IETF protocol assignments"],
    ["198.18.0.1", "benchmarking network"],
    ["198.19.255.255", "benchmarking network"],
    ["240.0.0.1", "reserved range"],
    ["255.255.255.255", "reserved range"],
    // IPv6 forms a gateway turns into the IPv4 address they carry are judged by that address.
    ["64:ff9b::7f00:1", "loopback, embeds 127.0.0.1"], // NAT64
    ["64:ff9b::10.1.2.3", "private network, embeds 10.1.2.3"],
    ["64:FF9B::A9FE:A9FE", "link-local, embeds 169.254.169.254"],
    ["2002:7f00:1::", "loopback, embeds 127.0.0.1"], // 6to4
    ["2002:c0a8:101:1::5", "private network, embeds 192.168.1.1"],
    ["2002:a9fe:a9fe::1", "link-local, embeds 169.254.169.254"],
    ["::127.0.0.1", "loopback, embeds 127.0.0.1"], // IPv4-compatible
    ["::a00:1", "private network, embeds 10.0.0.1"],
    ["::ffff:0:127.0.0.1", "loopback, embeds 127.0.0.1"], // IPv4-translated
    ["::ffff:0:a9fe:a9fe", "link-local, embeds 169.254.169.254"],
    ["0:0:0:0:ffff:0:c612:1", "benchmarking network, embeds 198.18.0.1"],
  ])("%s is denied (%s)", (ip, reason) => {
    expect(policy().checkAddress(ip)).toBe(`destination address "${ip}" is denied by the egress policy (${reason})`);
  });

  it.each([
    "8.8.8.8",
    "1.1.1.1",
    "172.15.255.255",
    "172.32.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "11.0.0.1",
    "192.169.0.1",
    "128.0.0.1",
    "2606:4700::1111",
    "fec0::1",
    "::ffff:8.8.8.8",
    "192.0.1.1",
    "198.17.255.255",
    "198.20.0.0",
    "239.255.255.255",
    "64:ff9b::808:808",
    "64:ff9b::1:7f00:1", // not the NAT64 /96: nothing embedded
    "64:ff9b:1::7f00:1",
    "2002:808:808::1",
    "::808:808",
    "::ffff:0:808:808",
    "2001:db8::7f00:1",
  ])("%s is allowed", (ip) => {
    expect(policy().checkAddress(ip)).toBeUndefined();
  });

  it.each(["example.com", "", "1.2.3", "::g", "10.0.0.1/8"])("%j is not an IP address", (ip) => {
    expect(policy().checkAddress(ip)).toBe(`destination address "${ip}" is not an IP address`);
  });
});

describe("EgressPolicy precedence", () => {
  it.each<[string, Partial<EgressSettings>, string, string | undefined, string | undefined]>([
    ["allowPrivate lets private ranges through", { allowPrivate: true }, "10.0.0.1", undefined, undefined],
    ["allow CIDR beats the private ranges", { allowCidrs: ["10.0.0.0/8"] }, "10.9.9.9", undefined, undefined],
    ["allow CIDR beats deny CIDR", { allowCidrs: ["10.1.0.0/16"], denyCidrs: ["10.0.0.0/8"] }, "10.1.2.3", undefined, undefined],
    ["deny CIDR outside the allow CIDR", { allowCidrs: ["10.1.0.0/16"], denyCidrs: ["10.0.0.0/8"] }, "10.2.0.1", undefined, "deny list"],
    ["deny CIDR applies with allowPrivate", { allowPrivate: true, denyCidrs: ["203.0.113.0/24"] }, "203.0.113.7", undefined, "deny list"],
    ["deny single address", { denyCidrs: ["8.8.8.8"] }, "8.8.8.8", undefined, "deny list"],
    ["deny IPv6 CIDR", { denyCidrs: ["2001:db8::/32"] }, "2001:db8::5", undefined, "deny list"],
    ["deny IPv4 CIDR covers mapped IPv6", { denyCidrs: ["203.0.113.0/24"] }, "::ffff:203.0.113.1", undefined, "deny list"],
    ["allowed host name reaches its private address", { allowHosts: ["db.internal"] }, "10.0.0.5", "db.internal", undefined],
    ["allowed wildcard host name too", { allowHosts: ["*.internal"] }, "10.0.0.5", "DB.Internal.", undefined],
    ["allowed host beats deny CIDR", { allowHosts: ["db.internal"], denyCidrs: ["10.0.0.0/8"] }, "10.0.0.5", "db.internal", undefined],
    ["unlisted host name gets no pass", { allowHosts: ["db.internal"] }, "10.0.0.5", "other.internal", "private network"],
    ["IP in allowHosts acts as a CIDR", { allowHosts: ["127.0.0.1"] }, "127.0.0.1", undefined, undefined],
    ["IP in denyHosts acts as a CIDR", { denyHosts: ["[2001:db8::1]"] }, "2001:db8::1", undefined, "deny list"],
    ["deny IPv4 CIDR covers NAT64", { allowPrivate: true, denyCidrs: ["203.0.113.0/24"] }, "64:ff9b::cb00:7101", undefined, "deny list, embeds 203.0.113.1"],
    ["deny IPv4 CIDR covers 6to4", { allowPrivate: true, denyCidrs: ["203.0.113.0/24"] }, "2002:cb00:7101::", undefined, "deny list, embeds 203.0.113.1"],
    ["deny IPv6 CIDR of the embedding form", { allowPrivate: true, denyCidrs: ["64:ff9b::/96"] }, "64:ff9b::808:808", undefined, "deny list"],
    ["allow IPv4 CIDR covers its NAT64 form", { allowCidrs: ["10.0.0.0/8"] }, "64:ff9b::a00:1", undefined, undefined],
    ["allow IPv4 CIDR covers its 6to4 form", { allowCidrs: ["10.0.0.0/8"] }, "2002:a00:1::", undefined, undefined],
    ["allow 127.0.0.0/8 does not cover ::1", { allowCidrs: ["127.0.0.0/8"] }, "::1", undefined, "loopback"],
  ])("%s", (_label, settings, ip, hostname, reason) => {
    const expected = reason && `destination address "${ip}" is denied by the egress policy (${reason})`;
    expect(policy(settings).checkAddress(ip, hostname)).toBe(expected);
  });
});

describe("EgressPolicy.checkHost", () => {
  it.each<[string, Partial<EgressSettings>, string, string | undefined]>([
    ["public name", {}, "example.com", undefined],
    ["localhost", {}, "localhost", "loopback"],
    ["LOCALHOST with trailing dot", {}, "LOCALHOST.", "loopback"],
    ["*.localhost", {}, "api.localhost", "loopback"],
    ["localhost allowed with allowPrivate", { allowPrivate: true }, "localhost", undefined],
    ["localhost allowed explicitly", { allowHosts: ["localhost"] }, "localhost", undefined],
    ["not-localhost.com is fine", {}, "notlocalhost.com", undefined],
    ["exact deny", { denyHosts: ["evil.com"] }, "evil.com", "deny list"],
    ["exact deny, case and trailing dot", { denyHosts: ["Evil.COM."] }, "EVIL.com.", "deny list"],
    ["exact deny does not cover subdomains", { denyHosts: ["evil.com"] }, "a.evil.com", undefined],
    ["*. deny covers subdomains", { denyHosts: ["*.evil.com"] }, "a.b.evil.com", "deny list"],
    [". deny covers subdomains", { denyHosts: [".evil.com"] }, "a.evil.com", "deny list"],
    ["suffix deny does not cover the apex", { denyHosts: ["*.evil.com"] }, "evil.com", undefined],
    ["suffix deny needs a dot boundary", { denyHosts: ["*.evil.com"] }, "notevil.com", undefined],
    ["allow beats deny", { allowHosts: ["ok.evil.com"], denyHosts: ["*.evil.com"] }, "ok.evil.com", undefined],
    ["IDN entries match punycode hosts", { denyHosts: ["bücher.example"] }, "xn--bcher-kva.example", "deny list"],
    ["IDN hosts match punycode entries", { denyHosts: ["xn--bcher-kva.example"] }, "BÜCHER.example", "deny list"],
    ["deny applies with allowPrivate", { allowPrivate: true, denyHosts: ["evil.com"] }, "evil.com", "deny list"],
    ["localhost allowed by 127.0.0.0/8", { allowCidrs: ["127.0.0.0/8"] }, "localhost", undefined],
    ["localhost allowed by 127.0.0.1 in allowHosts", { allowHosts: ["127.0.0.1"] }, "localhost", undefined],
    ["*.localhost allowed by ::1", { allowCidrs: ["::1"] }, "api.localhost", undefined],
    ["localhost outside the allowed CIDR", { allowCidrs: ["10.0.0.0/8"] }, "localhost", "loopback"],
    ["localhost whose addresses are both deny-listed", { allowPrivate: true, denyCidrs: ["127.0.0.0/8", "::1"] }, "localhost", "deny list"],
    ["localhost with one address deny-listed", { allowPrivate: true, denyCidrs: ["127.0.0.0/8"] }, "localhost", undefined],
  ])("%s", (_label, settings, host, reason) => {
    const expected = reason && `destination host "${host}" is denied by the egress policy (${reason})`;
    expect(policy(settings).checkHost(host)).toBe(expected);
  });

  it.each([
    ["127.0.0.1", "127.0.0.1", "loopback"],
    ["[::1]", "::1", "loopback"],
    ["[::ffff:7f00:1]", "::ffff:7f00:1", "loopback"],
    ["127.1", "127.0.0.1", "loopback"], // shorthand the URL parser expands
    ["2130706433", "127.0.0.1", "loopback"],
    ["0x7f.1", "127.0.0.1", "loopback"],
    ["169.254.169.254", "169.254.169.254", "link-local"],
    ["[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe", "link-local, embeds 169.254.169.254"],
    ["[2002:7f00:1::]", "2002:7f00:1::", "loopback, embeds 127.0.0.1"],
    ["198.18.0.1", "198.18.0.1", "benchmarking network"],
  ])("literal %s is checked as address %s", (host, address, reason) => {
    expect(policy().checkHost(host)).toBe(`destination address "${address}" is denied by the egress policy (${reason})`);
  });

  it.each(["8.8.8.8", "[2606:4700::1111]"])("public literal %s passes", (host) => {
    expect(policy().checkHost(host)).toBeUndefined();
  });

  it.each(["", "exa mple.com", "user@localhost", "localhost:8080", "a/b", "a?b", "[::1"])(
    "%j is not a valid host name",
    (host) => {
      expect(policy().checkHost(host)).toBe(`destination host "${host}" is not a valid host name`);
    },
  );

  it("allows everything when nothing is configured and private ranges are allowed", () => {
    const p = new EgressPolicy(open);
    for (const host of ["localhost", "10.0.0.1", "[::1]", "example.com"]) expect(p.checkHost(host)).toBeUndefined();
  });
});

describe("EgressPolicy configuration errors", () => {
  it.each<[Partial<EgressSettings>, string]>([
    [{ allowCidrs: ["10.0.0.0/33"] }, 'invalid allowCidrs entry "10.0.0.0/33": prefix length out of range'],
    [{ denyCidrs: ["fc00::/129"] }, 'invalid denyCidrs entry "fc00::/129": prefix length out of range'],
    [{ denyCidrs: ["10.0.0.0/abc"] }, 'invalid denyCidrs entry "10.0.0.0/abc": expected an IP address or CIDR'],
    [{ denyCidrs: ["10.0.0.0/8/8"] }, 'invalid denyCidrs entry "10.0.0.0/8/8"'],
    [{ denyCidrs: ["example.com"] }, 'invalid denyCidrs entry "example.com"'],
    [{ denyCidrs: ["10.0.0.0/"] }, 'invalid denyCidrs entry "10.0.0.0/"'],
    [{ allowHosts: ["exa mple.com"] }, 'invalid egress host entry "exa mple.com"'],
    [{ denyHosts: ["*."] }, 'invalid egress host entry "*."'],
  ])("%j throws", (settings, message) => {
    expect(() => policy(settings)).toThrow(message);
  });
});

describe("parseCsvList", () => {
  it.each<[string | undefined, string[]]>([
    [undefined, []],
    ["", []],
    [" , ,", []],
    ["a", ["a"]],
    ["a,b", ["a", "b"]],
    [" 10.0.0.0/8 , *.example.com ,,", ["10.0.0.0/8", "*.example.com"]],
  ])("%j → %j", (input, expected) => {
    expect(parseCsvList(input)).toEqual(expected);
  });
});
