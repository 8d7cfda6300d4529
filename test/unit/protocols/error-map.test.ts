/** The error table: every code mapped, safe texts only, data passed through, unknown errors hidden. */
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, GatewayError, translate, type ErrorCode } from '../../../src/core/index.js';
import { ERROR_MAP, SFTP_STATUS, describeError } from '../../../src/protocols/error-map.js';

const LOGIN_REFUSALS: ErrorCode[] = [
  'AUTH_FAILED',
  'CODE_REQUIRED',
  'CODE_INCORRECT',
  'PARTIAL_SESSION_INVALID',
  'LOCKED_OUT',
  'RATE_LIMITED',
  'SETUP_2FA_REQUIRED',
  'TLS_REQUIRED',
  'WEAK_CRYPTO',
];

describe('ERROR_MAP', () => {
  it('maps every error code and nothing else', () => {
    expect(Object.keys(ERROR_MAP).sort()).toEqual([...ERROR_CODES].sort());
  });

  it.each(ERROR_CODES)('%s has a valid SFTP status, FTP reply, HTTP error and a translated text', (code) => {
    const reply = ERROR_MAP[code];
    expect(Object.values(SFTP_STATUS)).toContain(reply.sftp);
    expect(reply.sftp).not.toBe(SFTP_STATUS.OK);
    expect(reply.ftp).toBeGreaterThanOrEqual(400);
    expect(reply.ftp).toBeLessThan(600);
    expect(reply.http.status).toBeGreaterThanOrEqual(400);
    expect(reply.http.type).toMatch(/^[a-z-]+(\/[a-z0-9-]+)?$/);
    expect(translate('en', reply.text)).toMatch(/\S/);
  });

  it('answers login refusals with FTP 530 and file errors with 550', () => {
    for (const code of LOGIN_REFUSALS) expect(ERROR_MAP[code].ftp, code).toBe(530);
    for (const code of ['NOT_FOUND', 'PERMISSION_DENIED', 'ALREADY_EXISTS'] as const) expect(ERROR_MAP[code].ftp).toBe(550);
  });

  it('uses the Files.com error types the SDK knows', () => {
    expect(ERROR_MAP.AUTH_FAILED.http.type).toBe('not-authenticated/invalid-username-or-password');
    expect(ERROR_MAP.CODE_REQUIRED.http.type).toBe('not-authenticated/two-factor-authentication-error');
    expect(ERROR_MAP.CODE_INCORRECT.http.type).toBe('not-authenticated/one-time-password-incorrect');
    expect(ERROR_MAP.LOCKED_OUT.http.type).toBe('not-authenticated/locked-out');
    expect(ERROR_MAP.RATE_LIMITED.http).toMatchObject({ status: 429, type: 'rate-limited/too-many-login-attempts' });
    expect(ERROR_MAP.SETUP_2FA_REQUIRED.http.type).toBe('not-authorized/two-factor-authentication-required');
  });
});

describe('describeError', () => {
  it.each(ERROR_CODES)('never shows the internal message of a %s', (code) => {
    const described = describeError(new GatewayError(code, 'SECRET /srv/real/path leaked'), 'en');
    expect(described.code).toBe(code);
    expect(described.message).not.toContain('SECRET');
    expect(described.message).not.toContain('/srv');
  });

  it('turns anything that is not a GatewayError into a generic INTERNAL', () => {
    for (const thrown of [new Error('ENOENT: /srv/real/secret'), 'string /srv/x', { message: '/srv/y' }, undefined, null]) {
      const described = describeError(thrown, 'de');
      expect(described.code).toBe('INTERNAL');
      expect(described.message).toBe(translate('de', 'internal'));
      expect(described.data).toEqual({});
      expect(JSON.stringify(described)).not.toContain('/srv');
    }
  });

  it('prefers the error’s own text and params, translated', () => {
    const err = new GatewayError('WEAK_CRYPTO', 'internal', { text: 'weak_tls', params: { version: 'TLSv1' } });
    expect(describeError(err, 'fr').message).toBe(translate('fr', 'weak_tls', { version: 'TLSv1' }));
    expect(describeError(new GatewayError('NOT_FOUND'), 'es').message).toBe(translate('es', 'not_found'));
  });

  it('passes client-safe data through', () => {
    const data = { partial_session_id: 'ab'.repeat(20), two_factor_authentication_methods: ['totp'] };
    expect(describeError(new GatewayError('CODE_REQUIRED', 'x', { text: 'code_required', data })).data).toEqual(data);
  });
});
