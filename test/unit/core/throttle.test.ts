/** Failed-login throttling: per-user and per-source locks, windows, lock duration, success reset. */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  LoginThrottle,
  SessionManager,
  StaticUserDirectory,
  hashPassword,
  parseUserRecords,
  translate,
  type LockoutConfig,
} from '../../../src/core/index.js';
import { expectGatewayError, manualClock } from './fixtures.js';

const MINUTE = 60_000;
const CONFIG: LockoutConfig = { maxFailures: 3, maxFailuresPerSource: 10, windowMinutes: 15, lockMinutes: 5 };

function setup(config: LockoutConfig = CONFIG) {
  const clock = manualClock();
  return { clock, throttle: new LoginThrottle(config, clock.now) };
}

function failTimes(throttle: LoginThrottle, n: number, username: string, source = '10.0.0.1'): void {
  for (let i = 0; i < n; i++) throttle.recordFailure(username, source);
}

describe('LoginThrottle', () => {
  it('locks a user after maxFailures within the window', () => {
    const { throttle, clock } = setup();
    failTimes(throttle, 2, 'alice');
    expect(throttle.check('alice', '10.0.0.1')).toBeUndefined();
    failTimes(throttle, 1, 'alice');
    expect(throttle.check('alice', '10.0.0.1')).toEqual({ scope: 'user', until: clock.now() + 5 * MINUTE });
    // A user lock follows the name, not the address.
    expect(throttle.check('alice', '10.9.9.9')?.scope).toBe('user');
    expect(throttle.check('bob', '10.0.0.1')).toBeUndefined();
  });

  it('forgets failures older than the window', () => {
    const { throttle, clock } = setup();
    failTimes(throttle, 2, 'alice');
    clock.advance(15 * MINUTE + 1);
    failTimes(throttle, 2, 'alice');
    expect(throttle.check('alice', '10.0.0.1')).toBeUndefined();
    failTimes(throttle, 1, 'alice');
    expect(throttle.check('alice', '10.0.0.1')?.scope).toBe('user');
  });

  it('counts failures spread inside the window', () => {
    const { throttle, clock } = setup();
    for (let i = 0; i < 3; i++) {
      if (i > 0) clock.advance(7 * MINUTE);
      failTimes(throttle, 1, 'alice');
    }
    expect(throttle.check('alice', '10.0.0.1')).toBeDefined();
  });

  it('locks a source after maxFailuresPerSource across many usernames', () => {
    const { throttle } = setup();
    for (let i = 0; i < 9; i++) throttle.recordFailure(`user${i}`, '10.0.0.1');
    expect(throttle.check('fresh', '10.0.0.1')).toBeUndefined();
    throttle.recordFailure('user9', '10.0.0.1');
    expect(throttle.check('fresh', '10.0.0.1')?.scope).toBe('source');
    expect(throttle.check('fresh', '10.0.0.2')).toBeUndefined();
  });

  it('lifts a lock after lockMinutes and starts counting afresh', () => {
    const { throttle, clock } = setup();
    failTimes(throttle, 3, 'alice');
    clock.advance(5 * MINUTE - 1);
    expect(throttle.check('alice', '10.0.0.1')).toBeDefined();
    clock.advance(1);
    expect(throttle.check('alice', '10.0.0.1')).toBeUndefined();
    failTimes(throttle, 2, 'alice');
    expect(throttle.check('alice', '10.0.0.1')).toBeUndefined();
  });

  it('clears a user’s failures on success', () => {
    const { throttle } = setup();
    failTimes(throttle, 2, 'alice');
    throttle.recordSuccess('alice');
    failTimes(throttle, 2, 'alice');
    expect(throttle.check('alice', '10.0.0.1')).toBeUndefined();
  });
});

describe('lockout through the login pipeline', () => {
  let manager: SessionManager | undefined;
  let hash: string;
  beforeAll(async () => {
    hash = await hashPassword('right');
  });
  afterEach(() => manager?.close());

  function pipeline() {
    const clock = manualClock();
    manager = new SessionManager({
      users: new StaticUserDirectory(parseUserRecords([{ username: 'alice', password_hash: hash }], 'test')),
      lockout: CONFIG,
      clock: clock.now,
    });
    const sessions = manager;
    const login = (username: string, password: string, remoteAddress = '10.0.0.1') =>
      sessions.create({ username, password, protocol: 'ftp', remoteAddress, transport: { kind: 'ftp', tlsVersion: 'TLSv1.3' } });
    return { login, clock };
  }

  it('refuses a locked user even with the right password, and lets them in after the lock', async () => {
    const { login, clock } = pipeline();
    for (let i = 0; i < 3; i++) await expectGatewayError(login('alice', 'wrong'), 'AUTH_FAILED');
    const locked = await expectGatewayError(login('alice', 'right'), 'LOCKED_OUT');
    expect(translate('en', locked.text!, locked.params)).toContain('5 minutes');
    expect(locked.data.retry_at).toBe(new Date(clock.now() + 5 * MINUTE).toISOString());
    clock.advance(5 * MINUTE);
    expect((await login('alice', 'right')).username).toBe('alice');
  });

  it('locks an unknown user exactly like a known one (no hint that the user exists)', async () => {
    const { login } = pipeline();
    for (let i = 0; i < 3; i++) {
      await expectGatewayError(login('alice', 'wrong'), 'AUTH_FAILED');
      await expectGatewayError(login('nobody', 'wrong', '10.0.0.2'), 'AUTH_FAILED');
    }
    const known = await expectGatewayError(login('alice', 'right'), 'LOCKED_OUT');
    const unknown = await expectGatewayError(login('nobody', 'right', '10.0.0.2'), 'LOCKED_OUT');
    expect(unknown.text).toBe(known.text);
    expect(unknown.params).toEqual(known.params);
    expect(Object.keys(unknown.data)).toEqual(Object.keys(known.data));
    expect(translate('en', unknown.text!, unknown.params)).toBe(translate('en', known.text!, known.params));
  });

  it('resets the count after a successful login', async () => {
    const { login } = pipeline();
    for (let i = 0; i < 2; i++) await expectGatewayError(login('alice', 'wrong'), 'AUTH_FAILED');
    await login('alice', 'right');
    for (let i = 0; i < 2; i++) await expectGatewayError(login('alice', 'wrong'), 'AUTH_FAILED');
    expect((await login('alice', 'right')).username).toBe('alice');
  });

  it('gives a burst of parallel guesses no more tries than maxFailures', async () => {
    const { login } = pipeline();
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => login('alice', 'wrong')));
    const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'LOGGED_IN'));
    expect(codes.filter((c) => c === 'AUTH_FAILED')).toHaveLength(3);
    expect(codes.filter((c) => c === 'LOCKED_OUT')).toHaveLength(9);
    await expectGatewayError(login('alice', 'right'), 'LOCKED_OUT');
  });

  it('rate-limits a source that tries many usernames', async () => {
    const { login } = pipeline();
    for (let i = 0; i < 10; i++) await expectGatewayError(login(`guess${i}`, 'wrong'), 'AUTH_FAILED');
    await expectGatewayError(login('alice', 'right'), 'RATE_LIMITED');
    expect((await login('alice', 'right', '10.0.0.3')).username).toBe('alice');
  });
});
