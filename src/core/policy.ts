/**
 * Rules derived from a session's flags. The guarded filesystem and the login pipeline are the only
 * callers: adapters never read flags themselves.
 */
import { GatewayError } from './errors.js';
import type { Session } from './session.js';

/** Algorithms negotiated by an SSH key exchange (the shape ssh2 reports, without importing it). */
export interface SshAlgorithms {
  kex: string;
  serverHostKey: string;
  cs: { cipher: string; mac: string };
  sc: { cipher: string; mac: string };
}

/** What the adapter knows about the transport a login (or re-key) arrives on. */
export type Transport =
  | { kind: 'ssh'; algorithms: SshAlgorithms }
  | { kind: 'ftp'; tlsVersion: string | null }
  | { kind: 'http' }
  | { kind: 'library' };

const INSECURE_SSH_PATTERNS: readonly RegExp[] = [
  /-cbc(@openssh\.com)?$/, // aes*-cbc, 3des-cbc, blowfish-cbc, cast128-cbc, rijndael-cbc
  /^arcfour/,
  /^none$/,
  /^diffie-hellman-group1-sha1$/,
  /^diffie-hellman-group14-sha1$/,
  /^diffie-hellman-group-exchange-sha1$/,
  /^hmac-md5/,
  /^hmac-ripemd160/,
  /-96(-etm@openssh\.com)?$/,
  /^ssh-dss$/,
];

/** The legacy set the SFTP listener appends (last) when `insecure.sshCiphers` is on; usable on Node 20. */
export const INSECURE_SSH_OFFER = {
  cipher: ['aes128-cbc', 'aes192-cbc', 'aes256-cbc', '3des-cbc'],
  mac: ['hmac-md5', 'hmac-md5-96', 'hmac-sha1-96', 'hmac-ripemd160', 'hmac-sha2-256-96', 'hmac-sha2-512-96'],
  kex: ['diffie-hellman-group14-sha1', 'diffie-hellman-group-exchange-sha1', 'diffie-hellman-group1-sha1'],
} as const;

export function isInsecureSshAlgorithm(name: string): boolean {
  return INSECURE_SSH_PATTERNS.some((re) => re.test(name));
}

const WEAK_TLS_VERSIONS = new Set(['SSLv2', 'SSLv3', 'TLSv1', 'TLSv1.1']);

export function isWeakTlsVersion(version: string): boolean {
  return WEAK_TLS_VERSIONS.has(version);
}

/** The first insecure algorithm among those negotiated, if any. */
export function firstInsecureSshAlgorithm(a: SshAlgorithms): string | undefined {
  return [a.kex, a.serverHostKey, a.cs.cipher, a.sc.cipher, a.cs.mac, a.sc.mac].find(
    (name) => name !== '' && isInsecureSshAlgorithm(name),
  );
}

type TransportFlags = Pick<Session, 'sftp_insecure_ciphers' | 'tls_disabled' | 'ssl_required'>;

/**
 * Refuses a login (or an established connection after a re-key) whose transport the flags forbid:
 * legacy SSH algorithms without `sftp_insecure_ciphers`/`tls_disabled`; plain FTP with
 * `ssl_required`; TLS 1.0/1.1 without `tls_disabled`.
 */
export function checkTransport(flags: TransportFlags, transport: Transport): void {
  if (transport.kind === 'ssh') {
    const weak = firstInsecureSshAlgorithm(transport.algorithms);
    if (weak && !flags.sftp_insecure_ciphers && !flags.tls_disabled) {
      throw new GatewayError('WEAK_CRYPTO', `insecure SSH algorithm negotiated: ${weak}`, {
        text: 'weak_ssh',
        params: { algorithm: weak },
      });
    }
  } else if (transport.kind === 'ftp') {
    if (transport.tlsVersion === null) {
      if (flags.ssl_required) throw new GatewayError('TLS_REQUIRED', 'ssl_required session on a plain connection');
    } else if (isWeakTlsVersion(transport.tlsVersion) && !flags.tls_disabled) {
      throw new GatewayError('WEAK_CRYPTO', `weak TLS version negotiated: ${transport.tlsVersion}`, {
        text: 'weak_tls',
        params: { version: transport.tlsVersion },
      });
    }
  }
}

/** The allowed 2FA method names of a record or session, as the Files.com API spells them. */
export function allowed2faMethods(flags: {
  allowed_2fa_method_sms: boolean;
  allowed_2fa_method_totp: boolean;
  allowed_2fa_method_u2f: boolean;
  allowed_2fa_method_yubi: boolean;
}): string[] {
  const methods: string[] = [];
  if (flags.allowed_2fa_method_totp) methods.push('totp');
  if (flags.allowed_2fa_method_sms) methods.push('sms');
  if (flags.allowed_2fa_method_u2f) methods.push('u2f');
  if (flags.allowed_2fa_method_yubi) methods.push('yubi');
  return methods;
}

/** FTP data connections of an `ssl_required` session must be protected (PROT P). */
export function checkDataProtection(flags: Pick<Session, 'ssl_required'>, isProtected: boolean): void {
  if (flags.ssl_required && !isProtected) {
    throw new GatewayError('PROTECTION_REQUIRED', 'unprotected data connection', { text: 'protected_data_required' });
  }
}
