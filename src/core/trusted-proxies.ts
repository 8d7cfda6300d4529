/**
 * `trustedProxies`: the load balancers whose PROXY protocol header we believe. Lives in the core
 * beside the source address it guards, so the config check and every listener share one reading.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { normalizeSource } from './source-address.js';

/** `trustedProxies` (addresses or CIDR blocks) as a membership test; throws on a malformed entry. */
export function trustList(entries: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix, ...rest] = entry.split('/');
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    const bits = prefix === undefined ? (family === 'ipv4' ? 32 : 128) : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (!family || rest.length > 0 || !(bits >= 0 && bits <= (family === 'ipv4' ? 32 : 128))) {
      throw new Error(`"${entry}" is not an IP address or CIDR block`);
    }
    list.addSubnet(address, bits, family);
  }
  return (address) => {
    const source = normalizeSource(address);
    const family = isIPv4(source) ? 'ipv4' : isIPv6(source) ? 'ipv6' : undefined;
    return family !== undefined && list.check(source, family);
  };
}

