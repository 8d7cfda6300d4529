/**
 * TLS for FTPS: one context for control connections (explicit AUTH TLS and the implicit listener)
 * and one for protected data connections. The listener offers every version any user may need;
 * the core refuses the login of a session whose policy forbids the negotiated one.
 */
import { createSecureContext, TLSSocket, type SecureContext, type TlsOptions } from 'node:tls';
import type { Socket } from 'node:net';
import type { TlsMaterial } from '../../crypto/tls-cert.js';

export interface FtpTls {
  /** Options of the implicit FTPS listener (`tls.createServer`). Holds the private key: never log. */
  readonly serverOptions: TlsOptions;
  readonly control: SecureContext;
  readonly data: SecureContext;
}

export function createFtpTls(material: TlsMaterial, offerLegacyVersions: boolean): FtpTls {
  const serverOptions: TlsOptions = {
    key: material.key,
    cert: material.cert,
    // TLS 1.0/1.1 on OpenSSL 3 also need the legacy ciphers of security level 0.
    ...(offerLegacyVersions ? { minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' } : {}),
  };
  return {
    serverOptions,
    control: createSecureContext(serverOptions),
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
