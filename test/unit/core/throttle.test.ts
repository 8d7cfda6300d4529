/** Failed-login throttling: per-user and per-source locks, windows, lock duration, success reset. */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  LoginThrottle,
  SessionManager,
  StaticUserDirectory,
  hashPassword,
  parseUserRecords,
  translate,
  type Lock,
  type LockoutConfig,
} from '../../../src/core/index.js';
import { MemoryLockoutCounters } from '../../../src/core/store/memory-counters.js';
import { expectGatewayError, manualClock } from './fixtures.js';

const MINUTE = 60_000;
const CONFIG: LockoutConfig = { maxFailures: 3, maxFailuresPerSource: 10, windowMinutes: 15, lockMinutes: 5 };

function setup(config: LockoutConfig = CONFIG) {
  const clock = manualClock();
  return { clock, throttle: new LoginThrottle(config, clock.now) };
}

/** Runs one attempt to its end; `outcome` says what the credential check found. */
async function attempt(throttle: LoginThrottle, username: string, source: string, outcome: 'failed' | 'succeeded' | 'refused'): Promise<Lock | undefined> {
  const started = await throttle.begin(username, source);
  if (!('end' in started)) return started;
  if (outcome === 'failed') started.failed();
  if (outcome === 'succeeded') started.succeeded();
  await started.end();
  return undefined;
}

async function failTimes(throttle: LoginThrottle, n: number, username: string, source = '10.0.0.1'): Promise<void> {
  for (let i = 0; i < n; i++) expect(await attempt(throttle, username, source, 'failed')).toBeUndefined();
}

/** The lock that refuses an attempt now, if any (an attempt that is let through ends without effect). */
const check = (throttle: LoginThrottle, username: string, source: string) => attempt(throttle, username, source, 'refused');

describe('LoginThrottle', () => {
  it('locks a user after maxFailures within the window', async () => {
    const { throttle, clock } = setup();
    await failTimes(throttle, 2, 'alice');
    expect(await check(throttle, 'alice', '10.0.0.1')).toBeUndefined();
    await failTimes(throttle, 1, 'alice');
    expect(await check(throttle, 'alice', '10.0.0.1')).toEqual({ scope: 'user', until: clock.now() + 5 * MINUTE });
    // A user lock follows the name, not the address.
    expect((await check(throttle, 'alice', '10.9.9.9'))?.scope).toBe('user');
    expect(await check(throttle, 'bob', '10.0.0.1')).toBeUndefined();
  });

  it('forgets failures older than the window', async () => {
    const { throttle, clock } = setup();
    await failTimes(throttle, 2, 'alice');
    clock.advance(15 * MINUTE + 1);
    await failTimes(throttle, 2, 'alice');
    expect(await check(throttle, 'alice', '10.0.0.1')).toBeUndefined();
    await failTimes(throttle, 1, 'alice');
    expect((await check(throttle, 'alice', '10.0.0.1'))?.scope).toBe('user');
  });

  it('counts failures spread inside the window', async () => {
    const { throttle, clock } = setup();
    for (let i = 0; i < 3; i++) {
      if (i > 0) clock.advance(7 * MINUTE);
      await failTimes(throttle, 1, 'alice');
    }
    expect(await check(throttle, 'alice', '10.0.0.1')).toBeDefined();
  });

  it('locks a source after maxFailuresPerSource across many usernames', async () => {
    const { throttle } = setup();
    for (let i = 0; i < 9; i++) await attempt(throttle, `user${i}`, '10.0.0.1', 'failed');
    expect(await check(throttle, 'fresh', '10.0.0.1')).toBeUndefined();
    await attempt(throttle, 'user9', '10.0.0.1', 'failed');
    expect((await check(throttle, 'fresh', '10.0.0.1'))?.scope).toBe('source');
    expect(await check(throttle, 'fresh', '10.0.0.2')).toBeUndefined();
  });

  it('lifts a lock after lockMinutes and starts counting afresh', async () => {
    const { throttle, clock } = setup();
    await failTimes(throttle, 3, 'alice');
    clock.advance(5 * MINUTE - 1);
    expect(await check(throttle, 'alice', '10.0.0.1')).toBeDefined();
    clock.advance(1);
    expect(await check(throttle, 'alice', '10.0.0.1')).toBeUndefined();
    await failTimes(throttle, 2, 'alice');
    expect(await check(throttle, 'alice', '10.0.0.1')).toBeUndefined();
  });

  it('clears a user’s failures on success', async () => {
    const { throttle } = setup();
    await failTimes(throttle, 2, 'alice');
    await attempt(throttle, 'alice', '10.0.0.1', 'succeeded');
    await failTimes(throttle, 2, 'alice');
    expect(await check(throttle, 'alice', '10.0.0.1')).toBeUndefined();
  });
});

describe('LoginThrottle sources and budgets', () => {
  it('counts IPv4-mapped IPv6 as the IPv4 address and IPv6 per /64', async () => {
    const { throttle } = setup();
    for (let i = 0; i < 5; i++) await attempt(throttle, `a${i}`, '::ffff:10.0.0.1', 'failed');
    for (let i = 0; i < 5; i++) await attempt(throttle, `b${i}`, '10.0.0.1', 'failed');
    expect((await check(throttle, 'fresh', '10.0.0.1'))?.scope).toBe('source');
    for (let i = 0; i < 10; i++) await attempt(throttle, `c${i}`, `2001:db8:1:2::${i + 1}`, 'failed');
    expect((await check(throttle, 'fresh', '2001:DB8:1:2:ffff::9%eth0'))?.scope).toBe('source');
    expect(await check(throttle, 'fresh', '2001:db8:1:3::1')).toBeUndefined();
  });

  it('lets a parallel burst from one source run no more checks than the remaining budget', async () => {
    const { throttle } = setup();
    for (let i = 0; i < 4; i++) await attempt(throttle, `early${i}`, '10.0.0.1', 'failed');
    let running = 0;
    let checks = 0;
    const results = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const started = await throttle.begin(`user${i}`, '10.0.0.1');
        if (!('end' in started)) return started.scope;
        running++;
        checks++;
        expect(running).toBeLessThanOrEqual(6);
        await new Promise((resolve) => setTimeout(resolve, 5));
        started.failed();
        running--;
        await started.end();
        return 'checked';
      }),
    );
    expect(checks).toBe(6);
    expect(results.filter((r) => r === 'source')).toHaveLength(18);
  });

  it('lets waiting attempts run when earlier ones succeed', async () => {
    const { throttle } = setup();
    for (let i = 0; i < 9; i++) await attempt(throttle, `x${i}`, '10.0.0.1', 'failed');
    const first = await throttle.begin('alice', '10.0.0.1');
    const second = throttle.begin('bob', '10.0.0.1');
    if (!('end' in first)) throw new Error('first attempt refused');
    first.succeeded();
    await first.end();
    expect('end' in (await second)).toBe(true);
  });

  it('never prunes an active lock when the table is full', async () => {
    const clock = manualClock();
    const counters = new MemoryLockoutCounters(8);
    const throttle = new LoginThrottle(CONFIG, clock.now, counters);
    await failTimes(throttle, 3, 'victim', '10.1.1.1');
    for (let i = 0; i < 50; i++) await attempt(throttle, `spray${i}`, `10.2.0.${i}`, 'failed');
    expect(counters.size).toBeLessThanOrEqual(8 + 2);
    expect((await check(throttle, 'victim', '10.3.3.3'))?.scope).toBe('user');
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

  it('gives a parallel burst of many usernames from one source no more checks than its budget', async () => {
    const { login } = pipeline();
    const results = await Promise.allSettled(Array.from({ length: 24 }, (_, i) => login(`guess${i}`, 'wrong', '::ffff:10.0.0.1')));
    const codes = results.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'LOGGED_IN'));
    expect(codes.filter((c) => c === 'AUTH_FAILED')).toHaveLength(10);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(14);
  });

  it('rate-limits a source that tries many usernames', async () => {
    const { login } = pipeline();
    for (let i = 0; i < 10; i++) await expectGatewayError(login(`guess${i}`, 'wrong'), 'AUTH_FAILED');
    await expectGatewayError(login('alice', 'right'), 'RATE_LIMITED');
    expect((await login('alice', 'right', '10.0.0.3')).username).toBe('alice');
  });
});
