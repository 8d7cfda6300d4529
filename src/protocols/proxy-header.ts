/**
 * The PROXY protocol header (versions 1 and 2) a load balancer puts in front of a connection to say
 * whose connection it is. Socket-free: bytes in, a verdict out, so hostile input is unit-testable.
 */
import { isIPv4, isIPv6 } from 'node:net';

export type ProxyHeaderParse =
  /** More bytes are needed to decide. */
  | { state: 'incomplete' }
  /** The bytes do not start a PROXY header: the connection speaks its protocol right away. */
  | { state: 'absent' }
  | { state: 'invalid'; reason: string }
  /**
   * A whole header of `length` bytes. `source` is the client it names; absent for a LOCAL (health
   * check) or UNKNOWN/UNSPEC header, where the connection's own address stands.
   */
  | { state: 'complete'; length: number; source?: { address: string; port: number } };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** v1 caps a header at 107 bytes, CRLF included. */
const V1_MAX_BYTES = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED_BYTES = 16;
/** Addresses plus TLVs; ours need none of the TLVs, so a few KiB is generous and bounds the buffer. */
export const V2_MAX_PAYLOAD_BYTES = 4096;
/** No valid header is longer: what a reader ever has to buffer. */
export const MAX_PROXY_HEADER_BYTES = V2_FIXED_BYTES + V2_MAX_PAYLOAD_BYTES;

export function parseProxyHeader(bytes: Buffer): ProxyHeaderParse {
  if (startsLike(bytes, V2_SIGNATURE)) return bytes.length < V2_SIGNATURE.length ? { state: 'incomplete' } : parseV2(bytes);
  if (startsLike(bytes, V1_PREFIX)) return bytes.length < V1_PREFIX.length ? { state: 'incomplete' } : parseV1(bytes);
  return { state: 'absent' };
}

/** Whether `bytes` and `prefix` agree on their common length (an empty buffer agrees with anything). */
function startsLike(bytes: Buffer, prefix: Buffer): boolean {
  const n = Math.min(bytes.length, prefix.length);
  return bytes.subarray(0, n).equals(prefix.subarray(0, n));
}

function parseV1(bytes: Buffer): ProxyHeaderParse {
  const end = bytes.indexOf('\r\n', 0, 'latin1');
  if (end < 0) return bytes.length >= V1_MAX_BYTES ? invalid('v1 header without CRLF in 107 bytes') : { state: 'incomplete' };
  if (end + 2 > V1_MAX_BYTES) return invalid('v1 header longer than 107 bytes');
  const line = bytes.toString('latin1', 0, end);
  if (!/^[\x21-\x7e ]+$/.test(line)) return invalid('v1 header with a control or non-ASCII byte');
  const [, family, src, dst, srcPort, dstPort, ...extra] = line.split(' ');
  if (family === 'UNKNOWN') return { state: 'complete', length: end + 2 };
  const isFamily = family === 'TCP4' ? isIPv4 : family === 'TCP6' ? isIPv6 : undefined;
  if (!isFamily) return invalid(`v1 header with protocol ${JSON.stringify(family)}`);
  if (extra.length > 0 || !src || !dst || !isFamily(src) || !isFamily(dst)) return invalid('v1 header with bad addresses');
  const port = v1Port(srcPort);
  if (port === undefined || v1Port(dstPort) === undefined) return invalid('v1 header with bad ports');
  return { state: 'complete', length: end + 2, source: { address: src, port } };
}

function v1Port(text: string | undefined): number | undefined {
  if (!text || !/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function parseV2(bytes: Buffer): ProxyHeaderParse {
  if (bytes.length < V2_FIXED_BYTES) return { state: 'incomplete' };
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) return invalid(`v2 header with version ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid(`v2 header with command ${command}`);
  const payload = bytes.readUInt16BE(14);
  if (payload > V2_MAX_PAYLOAD_BYTES) return invalid(`v2 header of ${payload} bytes`);
  const length = V2_FIXED_BYTES + payload;
  if (bytes.length < length) return { state: 'incomplete' };
  // LOCAL: the proxy's own connection (a health check); other families than TCP over IPv4/IPv6
  // carry no address we could use: the connection's own address stands for both.
  if (command === 0) return { state: 'complete', length };
  const familyProtocol = bytes[13]!;
  const body = bytes.subarray(V2_FIXED_BYTES, length);
  if (familyProtocol === 0x11) {
    if (body.length < 12) return invalid('v2 TCP4 header too short');
    return { state: 'complete', length, source: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) } };
  }
  if (familyProtocol === 0x21) {
    if (body.length < 36) return invalid('v2 TCP6 header too short');
    const groups = Array.from({ length: 8 }, (_, i) => body.readUInt16BE(i * 2).toString(16));
    return { state: 'complete', length, source: { address: groups.join(':'), port: body.readUInt16BE(32) } };
  }
  return { state: 'complete', length };
}

const invalid = (reason: string): ProxyHeaderParse => ({ state: 'invalid', reason });
