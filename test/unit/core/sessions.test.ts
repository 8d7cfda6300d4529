/** The login pipeline (SessionManager.create) against a StaticUserDirectory, with an injected clock. */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  SessionManager,
  StaticUserDirectory,
  TotpVerifier,
  hashPassword,
  parseUserRecords,
  translate,
  type LockoutConfig,
  type LoginRequest,
  type Session,
  type SshAlgorithms,
  type UserRecordInput,
} from '../../../src/core/index.js';
import { TOTP_SECRET, expectGatewayError, manualClock } from './fixtures.js';
import { SEED_FIELDS } from '../../helpers/seed.js';


const HEX40 = /^[0-9a-f]{40}$/;
const SECURE_SSH: SshAlgorithms = {
  kex: 'curve25519-sha256',
  serverHostKey: 'ssh-ed25519',
  cs: { cipher: 'chacha20-poly1305@openssh.com', mac: '' },
  sc: { cipher: 'chacha20-poly1305@openssh.com', mac: '' },
};

/** An OpenSSH public key line: the blob is "ssh-ed25519" + 32 key bytes, each as an SSH string. */
function ed25519Key(): { line: string; blob: Buffer } {
  const sshString = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const blob = Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(randomBytes(32))]);
  return { line: `ssh-ed25519 ${blob.toString('base64')} alice@laptop`, blob };
}

const aliceKey = ed25519Key();
const otherKey = ed25519Key();
let records: UserRecordInput[];

beforeAll(async () => {
  const [alicePw, tomPw, setupPw, plainPw] = await Promise.all(
    ['alice-pw', 'tom-pw', 'setup-pw', 'plain-pw'].map((pw) => hashPassword(pw)),
  );
  records = [
    { username: 'alice', password_hash: alicePw, public_keys: [aliceKey.line], language: 'de-AT' },
    { username: 'tom', password_hash: tomPw, totp_secret: TOTP_SECRET },
    { username: 'keyless', password_hash: plainPw },
    {
      username: 'setup',
      password_hash: setupPw,
      two_factor_setup_needed: true,
      allowed_2fa_method_totp: true,
      allowed_2fa_method_sms: true,
    },
    { username: 'legacy', password_hash: plainPw, sftp_insecure_ciphers: true },
    { username: 'oldtls', password_hash: plainPw, tls_disabled: true },
    { username: 'secure', password_hash: plainPw, ssl_required: true },
  ];
});

let manager: SessionManager | undefined;
afterEach(() => manager?.close());

function setup(lockout: Partial<LockoutConfig> = {}) {
  const clock = manualClock();
  manager = new SessionManager({
    users: new StaticUserDirectory(parseUserRecords(records, 'test')),
    lockout: { maxFailures: 5, maxFailuresPerSource: 50, windowMinutes: 15, lockMinutes: 15, ...lockout },
    loginTokenDomain: 'https://files.example.test',
    clock: clock.now,
  });
  const sessions = manager;
  const login = (request: Partial<LoginRequest> & { username: string }): Promise<Session> =>
    sessions.create({ protocol: 'http', remoteAddress: '10.0.0.1', transport: { kind: 'http' }, ...request });
  const code = (): string => TotpVerifier.generate(TOTP_SECRET, clock.now());
  return { sessions, login, clock, code };
}

describe('password and public key', () => {
  it('logs in with the right password', async () => {
    const { login } = setup();
    const session = await login({ username: 'alice', password: 'alice-pw' });
    expect(session.username).toBe('alice');
    expect(session.language).toBe('de');
    expect(session.origin.protocol).toBe('http');
  });

  it('refuses a wrong password and an unknown user with the same error, giving no hint', async () => {
    const { login } = setup();
    const wrong = await expectGatewayError(login({ username: 'alice', password: 'nope' }), 'AUTH_FAILED');
    const unknown = await expectGatewayError(login({ username: 'mallory', password: 'nope' }), 'AUTH_FAILED');
    expect(unknown.text).toBe(wrong.text);
    expect(unknown.params).toEqual(wrong.params);
    expect(unknown.data).toEqual(wrong.data);
    expect(translate('en', unknown.text!, unknown.params)).toBe(translate('en', wrong.text!, wrong.params));
  });

  it('refuses a login that brings neither password nor key', async () => {
    const { login } = setup();
    await expectGatewayError(login({ username: 'alice' }), 'AUTH_FAILED');
  });

  it('accepts a listed public key and refuses any other', async () => {
    const { login } = setup();
    const session = await login({ username: 'alice', publicKey: { type: 'ssh-ed25519', blob: aliceKey.blob } });
    expect(session.username).toBe('alice');
    await expectGatewayError(login({ username: 'alice', publicKey: { type: 'ssh-ed25519', blob: otherKey.blob } }), 'AUTH_FAILED');
    await expectGatewayError(login({ username: 'alice', publicKey: { type: 'ssh-rsa', blob: aliceKey.blob } }), 'AUTH_FAILED');
    await expectGatewayError(login({ username: 'keyless', publicKey: { type: 'ssh-ed25519', blob: aliceKey.blob } }), 'AUTH_FAILED');
    await expectGatewayError(login({ username: 'mallory', publicKey: { type: 'ssh-ed25519', blob: aliceKey.blob } }), 'AUTH_FAILED');
  });
});

describe('public key probes (acceptsPublicKey)', () => {
  it('answers whether a key is listed, without counting a failure', async () => {
    const { sessions, login } = setup({ maxFailures: 1 });
    expect(await sessions.acceptsPublicKey('alice', { type: 'ssh-ed25519', blob: aliceKey.blob })).toBe(true);
    for (let i = 0; i < 3; i++) {
      expect(await sessions.acceptsPublicKey('alice', { type: 'ssh-ed25519', blob: otherKey.blob })).toBe(false);
    }
    expect(await sessions.acceptsPublicKey('mallory', { type: 'ssh-ed25519', blob: aliceKey.blob })).toBe(false);
    expect((await sessions.list())).toEqual([]);
    await login({ username: 'alice', password: 'alice-pw' });
  });
});

describe('TOTP second factor', () => {
  it('answers the password alone with CODE_REQUIRED and a fresh partial_session_id', async () => {
    const { login } = setup();
    const first = await expectGatewayError(login({ username: 'tom', password: 'tom-pw' }), 'CODE_REQUIRED');
    const second = await expectGatewayError(login({ username: 'tom', password: 'tom-pw' }), 'CODE_REQUIRED');
    expect(first.data.partial_session_id).toMatch(HEX40);
    expect(first.data.two_factor_authentication_methods).toEqual(['totp']);
    expect(second.data.partial_session_id).not.toBe(first.data.partial_session_id);
    expect(first.text).toBe('code_required');
  });

  it('completes with partial_session_id + otp, without the password', async () => {
    const { login, code } = setup();
    const required = await expectGatewayError(login({ username: 'tom', password: 'tom-pw' }), 'CODE_REQUIRED');
    const partial_session_id = required.data.partial_session_id as string;
    const session = await login({ username: 'tom', partial_session_id, otp: code() });
    expect(session.username).toBe('tom');
  });

  it('accepts password + otp in one request', async () => {
    const { login, code } = setup();
    expect((await login({ username: 'tom', password: 'tom-pw', otp: code() })).username).toBe('tom');
  });

  it('uses a partial_session_id once only', async () => {
    const { login, code, clock } = setup();
    const required = await expectGatewayError(login({ username: 'tom', password: 'tom-pw' }), 'CODE_REQUIRED');
    const partial_session_id = required.data.partial_session_id as string;
    await login({ username: 'tom', partial_session_id, otp: code() });
    clock.advance(30_000); // a fresh code, so only the partial's reuse can be the reason
    await expectGatewayError(login({ username: 'tom', partial_session_id, otp: code() }), 'PARTIAL_SESSION_INVALID');
  });

  it('burns the partial_session_id on a wrong code too', async () => {
    const { login, code } = setup();
    const required = await expectGatewayError(login({ username: 'tom', password: 'tom-pw' }), 'CODE_REQUIRED');
    const partial_session_id = required.data.partial_session_id as string;
    const wrong = code() === '000000' ? '111111' : '000000';
    await expectGatewayError(login({ username: 'tom', partial_session_id, otp: wrong }), 'CODE_INCORRECT');
    await expectGatewayError(login({ username: 'tom', partial_session_id, otp: code() }), 'PARTIAL_SESSION_INVALID');
  });

  it('expires a partial_session_id after 5 minutes', async () => {
    const { login, code, clock } = setup();
    const early = await expectGatewayError(login({ username: 'tom', password: 'tom-pw' }), 'CODE_REQUIRED');
    clock.advance(5 * 60_000 - 1_000);
    await login({ username: 'tom', partial_session_id: early.data.partial_session_id as string, otp: code() });

    const late = await expectGatewayError(login({ username: 'tom', password: 'tom-pw' }), 'CODE_REQUIRED');
    clock.advance(5 * 60_000);
    await expectGatewayError(
      login({ username: 'tom', partial_session_id: late.data.partial_session_id as string, otp: code() }),
      'PARTIAL_SESSION_INVALID',
    );
  });

  it('refuses a partial_session_id presented with another username', async () => {
    const { login, code } = setup();
    const required = await expectGatewayError(login({ username: 'tom', password: 'tom-pw' }), 'CODE_REQUIRED');
    const partial_session_id = required.data.partial_session_id as string;
    await expectGatewayError(login({ username: 'alice', partial_session_id, otp: code() }), 'PARTIAL_SESSION_INVALID');
    await expectGatewayError(login({ username: 'mallory', partial_session_id, otp: code() }), 'PARTIAL_SESSION_INVALID');
  });

  it('refuses an unknown partial_session_id', async () => {
    const { login, code } = setup();
    await expectGatewayError(
      login({ username: 'tom', partial_session_id: randomBytes(20).toString('hex'), otp: code() }),
      'PARTIAL_SESSION_INVALID',
    );
  });

  it('counts a wrong code toward the lockout', async () => {
    const { login, code } = setup({ maxFailures: 3 });
    const wrong = code() === '000000' ? '111111' : '000000';
    for (let i = 0; i < 3; i++) {
      await expectGatewayError(login({ username: 'tom', password: 'tom-pw', otp: wrong }), 'CODE_INCORRECT');
    }
    await expectGatewayError(login({ username: 'tom', password: 'tom-pw', otp: code() }), 'LOCKED_OUT');
  });

  it('refuses a replayed code', async () => {
    const { login, code } = setup();
    const otp = code();
    await login({ username: 'tom', password: 'tom-pw', otp });
    await expectGatewayError(login({ username: 'tom', password: 'tom-pw', otp }), 'CODE_INCORRECT');
  });

  it('lets only one of two parallel completions use a partial_session_id or a code', async () => {
    const { login, code, clock } = setup();
    const required = await expectGatewayError(login({ username: 'tom', password: 'tom-pw' }), 'CODE_REQUIRED');
    const partial_session_id = required.data.partial_session_id as string;
    const otp = code();
    const viaPartial = await Promise.allSettled([1, 2].map(() => login({ username: 'tom', partial_session_id, otp })));
    expect(viaPartial.filter((r) => r.status === 'fulfilled')).toHaveLength(1);

    clock.advance(30_000);
    const fresh = code();
    const viaPassword = await Promise.allSettled([1, 2].map(() => login({ username: 'tom', password: 'tom-pw', otp: fresh })));
    expect(viaPassword.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('never lets a TOTP user in on the password alone, whatever the protocol', async () => {
    const { login } = setup();
    for (const protocol of ['sftp', 'ftp', 'http', 'library'] as const) {
      await expectGatewayError(login({ username: 'tom', password: 'tom-pw', protocol, otpMayBeAppended: true }), 'CODE_REQUIRED');
    }
  });
});

describe('password with the code appended (FTP PASS, SSH password)', () => {
  it('logs a TOTP user in with password + code', async () => {
    const { login, code } = setup();
    const session = await login({ username: 'tom', password: `tom-pw${code()}`, otpMayBeAppended: true });
    expect(session.username).toBe('tom');
  });

  it('says how to append the code when it is missing', async () => {
    const { login } = setup();
    const err = await expectGatewayError(login({ username: 'tom', password: 'tom-pw', otpMayBeAppended: true }), 'CODE_REQUIRED');
    expect(err.text).toBe('code_required_appended');
  });

  it('refuses an appended wrong code as CODE_INCORRECT', async () => {
    const { login, code } = setup();
    const wrong = code() === '000000' ? '111111' : '000000';
    await expectGatewayError(login({ username: 'tom', password: `tom-pw${wrong}`, otpMayBeAppended: true }), 'CODE_INCORRECT');
  });

  it('does not split a code off unless the adapter allows it', async () => {
    const { login, code } = setup();
    await expectGatewayError(login({ username: 'tom', password: `tom-pw${code()}` }), 'AUTH_FAILED');
  });

  it('does not let a user without TOTP in with password + any 6 digits', async () => {
    const { login, code } = setup();
    await expectGatewayError(login({ username: 'keyless', password: 'plain-pw123456', otpMayBeAppended: true }), 'AUTH_FAILED');
    await expectGatewayError(login({ username: 'keyless', password: `plain-pw${code()}`, otpMayBeAppended: true }), 'AUTH_FAILED');
    expect((await login({ username: 'keyless', password: 'plain-pw', otpMayBeAppended: true })).username).toBe('keyless');
  });
});

describe('policy refusals', () => {
  it('asks a user who must set up 2FA to do so, naming the allowed methods', async () => {
    const { login } = setup();
    const err = await expectGatewayError(login({ username: 'setup', password: 'setup-pw' }), 'SETUP_2FA_REQUIRED');
    expect(err.data.two_factor_authentication_methods).toEqual(['totp', 'sms']);
    const text = translate('en', err.text!, err.params);
    expect(text).toContain('totp');
    expect(text).toContain('sms');
    expect(text).not.toContain('{methods}');
  });

  it('checks the password before saying 2FA setup is needed', async () => {
    const { login } = setup();
    await expectGatewayError(login({ username: 'setup', password: 'wrong' }), 'AUTH_FAILED');
  });

  const legacySsh = (overrides: Partial<SshAlgorithms>): LoginRequest['transport'] => ({
    kind: 'ssh',
    algorithms: { ...SECURE_SSH, ...overrides },
  });

  it.each([
    ['cipher', { cs: { cipher: 'aes128-cbc', mac: 'hmac-sha2-256' } }],
    ['server-to-client cipher', { sc: { cipher: '3des-cbc', mac: 'hmac-sha2-256' } }],
    ['MAC', { cs: { cipher: 'aes128-ctr', mac: 'hmac-md5' } }],
    ['kex', { kex: 'diffie-hellman-group1-sha1' }],
    ['host key', { serverHostKey: 'ssh-dss' }],
  ] as const)('refuses a legacy SSH %s unless the user allows it', async (_what, overrides) => {
    const { login } = setup();
    const transport = legacySsh(overrides);
    await expectGatewayError(login({ username: 'keyless', password: 'plain-pw', protocol: 'sftp', transport }), 'WEAK_CRYPTO');
    await login({ username: 'legacy', password: 'plain-pw', protocol: 'sftp', transport });
    await login({ username: 'oldtls', password: 'plain-pw', protocol: 'sftp', transport });
  });

  it('accepts modern SSH algorithms for everyone', async () => {
    const { login } = setup();
    const transport = legacySsh({ cs: { cipher: 'aes256-gcm@openssh.com', mac: '' } });
    await login({ username: 'keyless', password: 'plain-pw', protocol: 'sftp', transport });
  });

  it('refuses plain FTP for an ssl_required user, allows it over TLS', async () => {
    const { login } = setup();
    await expectGatewayError(
      login({ username: 'secure', password: 'plain-pw', protocol: 'ftp', transport: { kind: 'ftp', tlsVersion: null } }),
      'TLS_REQUIRED',
    );
    await login({ username: 'secure', password: 'plain-pw', protocol: 'ftp', transport: { kind: 'ftp', tlsVersion: 'TLSv1.3' } });
    await login({ username: 'keyless', password: 'plain-pw', protocol: 'ftp', transport: { kind: 'ftp', tlsVersion: null } });
  });

  it.each(['TLSv1', 'TLSv1.1'])('refuses %s unless tls_disabled, naming the version', async (tlsVersion) => {
    const { login } = setup();
    const transport = { kind: 'ftp', tlsVersion } as const;
    const err = await expectGatewayError(login({ username: 'keyless', password: 'plain-pw', protocol: 'ftp', transport }), 'WEAK_CRYPTO');
    expect(translate('en', err.text!, err.params)).toContain(tlsVersion);
    await login({ username: 'oldtls', password: 'plain-pw', protocol: 'ftp', transport });
    await login({ username: 'keyless', password: 'plain-pw', protocol: 'ftp', transport: { kind: 'ftp', tlsVersion: 'TLSv1.2' } });
  });

  it('does not count policy refusals toward the user or source lockout', async () => {
    const { login } = setup({ maxFailures: 1, maxFailuresPerSource: 1 });
    const weakSsh = legacySsh({ cs: { cipher: 'aes128-cbc', mac: 'hmac-sha1' } });
    for (let i = 0; i < 3; i++) {
      await expectGatewayError(login({ username: 'keyless', password: 'plain-pw', protocol: 'sftp', transport: weakSsh }), 'WEAK_CRYPTO');
      await expectGatewayError(
        login({ username: 'keyless', password: 'plain-pw', protocol: 'ftp', transport: { kind: 'ftp', tlsVersion: 'TLSv1' } }),
        'WEAK_CRYPTO',
      );
      await expectGatewayError(
        login({ username: 'secure', password: 'plain-pw', protocol: 'ftp', transport: { kind: 'ftp', tlsVersion: null } }),
        'TLS_REQUIRED',
      );
      await expectGatewayError(login({ username: 'setup', password: 'setup-pw' }), 'SETUP_2FA_REQUIRED');
    }
    await login({ username: 'keyless', password: 'plain-pw' });
    await login({ username: 'secure', password: 'plain-pw' });
    // The control: one real credential failure does lock (maxFailures 1).
    await expectGatewayError(login({ username: 'keyless', password: 'bad' }), 'AUTH_FAILED');
    await expectGatewayError(login({ username: 'keyless', password: 'plain-pw' }), 'RATE_LIMITED');
  });

  it('re-checks the transport of a live session (SSH re-key)', async () => {
    const { login, sessions } = setup();
    const session = await login({ username: 'keyless', password: 'plain-pw', protocol: 'sftp', transport: legacySsh({}) });
    expect(() => sessions.recheckTransport(session, legacySsh({}))).not.toThrow();
    expect(() => sessions.recheckTransport(session, legacySsh({ kex: 'diffie-hellman-group14-sha1' }))).toThrow(
      expect.objectContaining({ code: 'WEAK_CRYPTO' }),
    );
  });
});

describe('the Session it returns', () => {
  it('serialises exactly the seed field names', async () => {
    const { login } = setup();
    const session = await login({ username: 'alice', password: 'alice-pw' });
    const json = JSON.parse(JSON.stringify(session)) as Record<string, unknown>;
    expect(Object.keys(json).sort()).toEqual([...SEED_FIELDS].sort());
    expect(json).not.toHaveProperty('username');
    expect(json).not.toHaveProperty('password_hash');
  });

  it('has a 40-hex id, a random login_token and the configured login_token_domain', async () => {
    const { login } = setup();
    const a = await login({ username: 'alice', password: 'alice-pw' });
    const b = await login({ username: 'alice', password: 'alice-pw' });
    expect(a.id).toMatch(HEX40);
    expect(b.id).not.toBe(a.id);
    expect(a.login_token.length).toBeGreaterThanOrEqual(16);
    expect(b.login_token).not.toBe(a.login_token);
    expect(a.login_token_domain).toBe('https://files.example.test');
  });

  it('carries the user record flags', async () => {
    const { login } = setup();
    const session = await login({ username: 'secure', password: 'plain-pw', transport: { kind: 'ftp', tlsVersion: 'TLSv1.3' }, protocol: 'ftp' });
    expect(session.ssl_required).toBe(true);
    expect(session.read_only).toBe(false);
    expect(session.site_id).toBe(1);
  });
});

describe('get, list, delete', () => {
  it('tracks live sessions and forgets deleted ones', async () => {
    const { login, sessions } = setup();
    const created: string[] = [];
    const deleted: string[] = [];
    sessions.on('created', (s) => created.push(s.id));
    sessions.on('deleted', (s, reason) => deleted.push(`${s.id}:${reason}`));
    const a = await login({ username: 'alice', password: 'alice-pw' });
    const b = await login({ username: 'keyless', password: 'plain-pw' });
    expect(created).toEqual([a.id, b.id]);
    expect(await sessions.get(a.id)).toBe(a);
    expect((await sessions.list()).map((s) => s.id).sort()).toEqual([a.id, b.id].sort());
    expect((await sessions.list()).find((s) => s.id === a.id)).toEqual({
      id: a.id,
      username: 'alice',
      protocol: a.origin.protocol,
      remote_address: a.origin.remoteAddress,
      created_at: a.origin.createdAt.toISOString(),
      last_active_at: expect.any(String),
      node: sessions.node,
      connections: 0,
    });

    expect(await sessions.delete(a.id)).toBe(true);
    expect(await sessions.get(a.id)).toBeUndefined();
    expect((await sessions.list()).map((s) => s.id)).toEqual([b.id]);
    expect(deleted).toEqual([`${a.id}:SESSION_ENDED`]);
    expect(await sessions.delete(a.id)).toBe(false);
    expect(await sessions.get('f'.repeat(40))).toBeUndefined();
  });

  it('stores nothing for a refused login', async () => {
    const { login, sessions } = setup();
    await expectGatewayError(login({ username: 'alice', password: 'x' }), 'AUTH_FAILED');
    await expectGatewayError(login({ username: 'tom', password: 'tom-pw' }), 'CODE_REQUIRED');
    expect((await sessions.list())).toEqual([]);
  });
});

describe('dedupeKey (retried requests)', () => {
  it('counts identical failures once', async () => {
    const { login } = setup({ maxFailures: 2 });
    for (let i = 0; i < 4; i++) {
      await expectGatewayError(login({ username: 'alice', password: 'bad', dedupeKey: 'req-1' }), 'AUTH_FAILED');
    }
    await login({ username: 'alice', password: 'alice-pw' });
  });

  it('counts different requests separately', async () => {
    const { login } = setup({ maxFailures: 2 });
    await expectGatewayError(login({ username: 'alice', password: 'bad', dedupeKey: 'req-1' }), 'AUTH_FAILED');
    await expectGatewayError(login({ username: 'alice', password: 'bad', dedupeKey: 'req-2' }), 'AUTH_FAILED');
    await expectGatewayError(login({ username: 'alice', password: 'alice-pw' }), 'LOCKED_OUT');
  });

  it('counts a retry again once the dedupe window has passed', async () => {
    const { login, clock } = setup({ maxFailures: 2 });
    await expectGatewayError(login({ username: 'alice', password: 'bad', dedupeKey: 'req-1' }), 'AUTH_FAILED');
    clock.advance(60_000);
    await expectGatewayError(login({ username: 'alice', password: 'bad', dedupeKey: 'req-1' }), 'AUTH_FAILED');
    await expectGatewayError(login({ username: 'alice', password: 'alice-pw' }), 'LOCKED_OUT');
  });
});
