/**
 * PROXY protocol on an accepted socket: behind a load balancer the client's address arrives in a
 * header before the protocol's first byte. Every listener calls `readClientAddress()` in its one
 * accept path, before admission, so the address the header carries drives the per-source limits,
 * the lockout and the audit trail. Only `trustedProxies` may send a header.
 *
 * Modes: `off` reads nothing. `required`: a connection from an untrusted address, or without a
 * valid header within the timeout, is closed. `optional`: a trusted peer may send a header; when it
 * sends no byte within a short wait (FTP clients wait for the greeting) its own address stands. An
 * untrusted peer is not read at all: a header it sends reaches the protocol's own parser, which
 * refuses it (SSH: a bad identification; FTP: the v1 line or v2's `QUIT`; HTTP: 400), and the
 * connection ends.
 */
import type { Socket } from 'node:net';
import { normalizeSource, trustList } from '../core/index.js';
import { MAX_PROXY_HEADER_BYTES, parseProxyHeader } from './proxy-header.js';

export type ProxyProtocolMode = 'off' | 'optional' | 'required';

export interface ProxyPolicy {
  mode: ProxyProtocolMode;
  /** Whether a peer may send a header (`trustedProxies`). */
  trusted(address: string): boolean;
  /** A header must be complete this long after accept. */
  timeoutMs: number;
}

export interface ClientAddress {
  /** The client's address (normalized): the header's when one came, else the socket's peer. */
  remoteAddress: string;
  remotePort: number;
}

export class ProxyHeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProxyHeaderError';
  }
}

/** In `optional` mode, how long a trusted peer may stay silent before it counts as not proxied. */
export const OPTIONAL_HEADER_WAIT_MS = 500;

/**
 * The client address of a freshly accepted socket, reading a PROXY header per `policy`. Leftover
 * bytes after the header go back onto the socket for the protocol. Rejects with ProxyHeaderError
 * (the caller destroys the socket) on a bad, untrusted, missing-but-required or late header.
 */
export function readClientAddress(socket: Socket, policy: ProxyPolicy): Promise<ClientAddress> {
  const own: ClientAddress = { remoteAddress: normalizeSource(socket.remoteAddress ?? ''), remotePort: socket.remotePort ?? 0 };
  if (policy.mode === 'off') return Promise.resolve(own);
  if (!policy.trusted(own.remoteAddress)) {
    return policy.mode === 'required'
      ? Promise.reject(new ProxyHeaderError(`PROXY header required, and ${own.remoteAddress} is not a trusted proxy`))
      : Promise.resolve(own);
  }
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const finish = (error: Error | undefined, address: ClientAddress = own, rest: Buffer = Buffer.alloc(0)): void => {
      clearTimeout(silence);
      clearTimeout(deadline);
      socket.removeListener('readable', onReadable);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onClose);
      if (error) return reject(error);
      if (rest.length > 0) socket.unshift(rest);
      resolve(address);
    };
    const onReadable = (): void => {
      clearTimeout(silence);
      for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) {
        buffered = Buffer.concat([buffered, chunk]);
        const parsed = parseProxyHeader(buffered);
        if (parsed.state === 'incomplete') {
          if (buffered.length > MAX_PROXY_HEADER_BYTES) return finish(new ProxyHeaderError('PROXY header too long'));
          continue;
        }
        if (parsed.state === 'invalid') return finish(new ProxyHeaderError(`bad PROXY header: ${parsed.reason}`));
        if (parsed.state === 'absent') {
          return policy.mode === 'required' ? finish(new ProxyHeaderError('PROXY header required')) : finish(undefined, own, buffered);
        }
        const { source } = parsed;
        const address = source ? { remoteAddress: normalizeSource(source.address), remotePort: source.port } : own;
        return finish(undefined, address, buffered.subarray(parsed.length));
      }
    };
    const onClose = (): void => finish(new ProxyHeaderError('connection closed before its PROXY header'));
    const deadline = setTimeout(() => finish(new ProxyHeaderError(`no PROXY header within ${policy.timeoutMs} ms`)), policy.timeoutMs);
    // Silent peers in optional mode: a client waiting for our greeting, not a proxy.
    const silence = policy.mode === 'optional' ? setTimeout(() => finish(undefined), OPTIONAL_HEADER_WAIT_MS) : undefined;
    socket.on('readable', onReadable);
    socket.once('close', onClose);
    socket.once('error', onClose);
  });
}

/** A complete header must arrive this soon after accept (a proxy sends it at once). */
export const PROXY_HEADER_TIMEOUT_MS = 5_000;

/** A listener's policy from its `proxyProtocol` key and the top-level `trustedProxies`. */
export function proxyPolicy(mode: ProxyProtocolMode, trustedProxies: readonly string[]): ProxyPolicy {
  return { mode, trusted: trustList(trustedProxies), timeoutMs: PROXY_HEADER_TIMEOUT_MS };
}
