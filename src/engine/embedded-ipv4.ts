import { isIPv6 } from "node:net";

/**
 * The IPv4 address an IPv6 address stands for, in the forms that reach it: IPv4-mapped `::ffff:a.b.c.d`,
 * IPv4-translated `::ffff:0:a.b.c.d` (SIIT), IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and 6to4
 * `2002:aabb:ccdd::/48`. A gateway on the path turns such an address into the IPv4 one, so the policy must judge
 * that one. Undefined for any other address (and for `::` and `::1`, which are IPv6's own).
 */
export function embeddedIpv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  if (g === undefined) return undefined;
  const zero = (from: number, to: number): boolean => g.slice(from, to).every((x) => x === 0);
  if (g[0] === 0x2002) return dotted(g[1], g[2]);
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return dotted(g[6], g[7]);
  if (zero(0, 5) && g[5] === 0xffff) return dotted(g[6], g[7]);
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return dotted(g[6], g[7]);
  if (zero(0, 6) && !(g[6] === 0 && g[7] <= 1)) return dotted(g[6], g[7]);
  return undefined;
}

/** The eight 16-bit groups of a valid IPv6 address (a trailing dotted quad counts as the last two). */
function ipv6Groups(address: string): number[] | undefined {
  if (!isIPv6(address)) return undefined;
  let text = address.toLowerCase();
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number);
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const groups = (part: string): number[] => (part === "" ? [] : part.split(":").map((h) => parseInt(h, 16)));
  const [head, tail] = text.split("::");
  if (tail === undefined) return groups(head);
  const before = groups(head);
  const after = groups(tail);
  return [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
}

function dotted(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}
