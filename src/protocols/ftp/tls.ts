/**
 * TLS for FTPS: one context for control connections (explicit AUTH TLS and the implicit listener)
 * and one for protected data connections. The listener offers every version any user may need;
 * the core refuses the login of a session whose policy forbids the negotiated one.
 */
import { randomBytes } from 'node:crypto';
import { createSecureContext, TLSSocket, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { Socket } from 'node:net';
import type { TlsMaterial } from '../../crypto/tls-cert.js';

export interface FtpTls {
  readonly control: SecureContext;
  readonly data: SecureContext;
}

/**
 * `sessionReuse`: control and data contexts share their session ticket keys, so a data connection
 * can resume the control connection's TLS session (checked with requireTlsSessionReuse). Data
 * connections stop at TLS 1.2 (below), and a TLS 1.3 session cannot be resumed over TLS 1.2, so the
 * control connection stops at TLS 1.2 too then.
 */
export function createFtpTls(material: TlsMaterial, offerLegacyVersions: boolean, sessionReuse: boolean): FtpTls {
  const serverOptions: SecureContextOptions = {
    key: material.key,
    cert: material.cert,
    // TLS 1.0/1.1 on OpenSSL 3 also need the legacy ciphers of security level 0.
    ...(offerLegacyVersions ? { minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' } : {}),
    ticketKeys: randomBytes(48),
    sessionIdContext: 'filegate-ftp',
  };
  return {
    control: createSecureContext(sessionReuse ? { ...serverOptions, maxVersion: 'TLSv1.2' } : serverOptions),
    // Data connections stop at TLS 1.2: lftp (GnuTLS) closes a TLS 1.3 data connection without
    // reading the server's post-handshake session tickets, the kernel answers with a reset and an
    // upload loses its tail. TLS 1.2 sends its ticket inside the handshake.
    // Our cipher order (Node's default: AES-128-GCM first) rather than the client's (curl and most
    // OpenSSL clients put AES-256 first): bulk data moves faster with the same AEAD strength class.
    data: createSecureContext({ ...serverOptions, maxVersion: 'TLSv1.2', honorCipherOrder: true }),
  };
}

/** Runs the server side of a TLS handshake on an accepted socket; resolves once it is complete. */
export function acceptTls(socket: Socket, context: SecureContext, timeoutMs: number): Promise<TLSSocket> {
  const secure = new TLSSocket(socket, { isServer: true, secureContext: context });
  return new Promise((resolve, reject) => {
    const settle = (err?: Error): void => {
      clearTimeout(timer);
      secure.removeListener('error', settle).removeListener('close', onClose).removeListener('secure', onSecure);
      if (!err) return resolve(secure);
      secure.destroy();
      reject(err);
    };
    const onClose = (): void => settle(new Error('closed during the TLS handshake'));
    const onSecure = (): void => settle();
    const timer = setTimeout(() => settle(new Error('TLS handshake timed out')), timeoutMs);
    secure.once('error', settle).once('close', onClose).once('secure', onSecure);
  });
}
