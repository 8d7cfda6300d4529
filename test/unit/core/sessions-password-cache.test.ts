/**
 * The password cache in the login pipeline (SessionManager.create): scrypt runs are counted on
 * node:crypto itself, so what is asserted is the work a login really does.
 */
import * as crypto from 'node:crypto';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  SessionManager,
  StaticUserDirectory,
  TotpVerifier,
  hashPassword,
  parseUserRecords,
  type LoginRequest,
  type PasswordCacheConfig,
  type UserRecordInput,
} from '../../../src/core/index.js';
import { TOTP_SECRET, expectGatewayError, manualClock } from './fixtures.js';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, scrypt: vi.fn(actual.scrypt) };
});
const scrypt = vi.mocked(crypto.scrypt);

let records: UserRecordInput[];
beforeAll(async () => {
  const [alicePw, tomPw, plainPw] = await Promise.all(['alice-pw', 'tom-pw', 'plain-pw'].map((pw) => hashPassword(pw)));
  records = [
    { username: 'alice', password_hash: alicePw },
    { username: 'tom', password_hash: tomPw, totp_secret: TOTP_SECRET },
    { username: 'plain', password_hash: plainPw },
  ];
});
beforeEach(() => {
  scrypt.mockClear();
});

let manager: SessionManager | undefined;
afterEach(() => manager?.close());

function setup(passwordCache?: PasswordCacheConfig) {
  const clock = manualClock();
  const directory = new StaticUserDirectory(parseUserRecords(records, 'test'));
  const sessions = new SessionManager({
    users: directory,
    lockout: { maxFailures: 100, maxFailuresPerSource: 100, windowMinutes: 15, lockMinutes: 15 },
    passwordCache,
    clock: clock.now,
  });
  manager = sessions;
  const login = (request: Partial<LoginRequest> & { username: string }) =>
    sessions.create({ protocol: 'ftp', remoteAddress: '10.0.0.1', transport: { kind: 'ftp', tlsVersion: 'TLSv1.3' }, ...request });
  return { sessions, directory, login, clock };
}

describe('password cache in the login pipeline', () => {
  it('runs scrypt once for repeated and parallel logins of one user with the same password (on by default)', async () => {
    const { login } = setup();
    await login({ username: 'alice', password: 'alice-pw' });
    await login({ username: 'alice', password: 'alice-pw' });
    await Promise.all(Array.from({ length: 8 }, () => login({ username: 'alice', password: 'alice-pw' })));
    expect(scrypt).toHaveBeenCalledTimes(1);
  });

  it('runs scrypt for every wrong password, and still refuses it', async () => {
    const { login } = setup();
    await login({ username: 'alice', password: 'alice-pw' });
    for (let i = 0; i < 3; i++) await expectGatewayError(login({ username: 'alice', password: 'alice-pw ' }), 'AUTH_FAILED');
    await expectGatewayError(login({ username: 'nobody', password: 'alice-pw' }), 'AUTH_FAILED');
    expect(scrypt).toHaveBeenCalledTimes(5);
    await login({ username: 'alice', password: 'alice-pw' });
    expect(scrypt).toHaveBeenCalledTimes(5);
  });

  it('runs scrypt on every login with enabled: false', async () => {
    const { login } = setup({ enabled: false, ttlSeconds: 600, maxEntries: 10 });
    for (let i = 0; i < 3; i++) await login({ username: 'alice', password: 'alice-pw' });
    expect(scrypt).toHaveBeenCalledTimes(3);
  });

  it('checks the password again after ttlSeconds of the session clock', async () => {
    const { login, clock } = setup({ enabled: true, ttlSeconds: 60, maxEntries: 10 });
    await login({ username: 'alice', password: 'alice-pw' });
    clock.advance(30_000);
    await login({ username: 'alice', password: 'alice-pw' });
    expect(scrypt).toHaveBeenCalledTimes(1);
    clock.advance(30_000);
    await login({ username: 'alice', password: 'alice-pw' });
    expect(scrypt).toHaveBeenCalledTimes(2);
  });

  it('refuses the old password at once after a reload with a new hash', async () => {
    const { login, directory } = setup();
    await login({ username: 'alice', password: 'alice-pw' });
    const newHash = await hashPassword('alice-new');
    directory.replace(parseUserRecords(records.map((r) => (r.username === 'alice' ? { ...r, password_hash: newHash } : r)), 'test'));
    await expectGatewayError(login({ username: 'alice', password: 'alice-pw' }), 'AUTH_FAILED');
    await login({ username: 'alice', password: 'alice-new' });
  });

  it('uses the cache for the password with a code appended (TOTP users only)', async () => {
    const { login, clock } = setup();
    const code = () => TotpVerifier.generate(TOTP_SECRET, clock.now());
    await login({ username: 'tom', password: `tom-pw${code()}`, otpMayBeAppended: true });
    expect(scrypt).toHaveBeenCalledTimes(2); // the whole string, then the password split off
    clock.advance(30_000);
    await login({ username: 'tom', password: `tom-pw${code()}`, otpMayBeAppended: true });
    expect(scrypt).toHaveBeenCalledTimes(3); // the whole string only
  });

  it('does not answer a split-off password from the cache for a user without TOTP (its speed would tell)', async () => {
    const { login } = setup();
    await login({ username: 'plain', password: 'plain-pw', otpMayBeAppended: true });
    scrypt.mockClear();
    await expectGatewayError(login({ username: 'plain', password: 'plain-pw123456', otpMayBeAppended: true }), 'AUTH_FAILED');
    expect(scrypt).toHaveBeenCalledTimes(2);
  });
});
