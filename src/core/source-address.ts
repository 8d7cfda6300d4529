/**
 * One notion of a client's source address for every protocol: IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is
 * the IPv4 address, IPv6 is lower case without a zone id, and per-source limits group IPv6 by /64
 * (one subscriber usually holds a whole /64, so counting single addresses would be trivially dodged).
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * The address as every log, limit and comparison sees it (IPv6 in its RFC 5952 text, so that every
 * spelling of one address is one string). Anything that is not an IP passes as is.
 */
export function normalizeSource(address: string): string {
  const bare = address.split('%', 1)[0]!.toLowerCase();
  if (!isIPv6(bare)) return address;
  const groups = expandIPv6(bare);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255].join('.');
  }
  return formatIPv6(groups);
}

/** The key per-source limits count under: an IPv4 address as is, an IPv6 address as its /64. */
export function sourceKey(address: string): string {
  const source = normalizeSource(address);
  if (isIPv4(source) || !isIPv6(source)) return source;
  const prefix = expandIPv6(source).slice(0, 4);
  return `${formatIPv6([...prefix, 0, 0, 0, 0])}/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (a dotted IPv4 tail included). */
export function expandIPv6(address: string): number[] {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string | undefined): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(tail);
  const zeros = tail === undefined ? [] : new Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}

/** RFC 5952 text: lower case, no leading zeros, the longest run (≥ 2) of zero groups as `::`. */
function formatIPv6(groups: number[]): string {
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.length).join(':')}`;
}
