/**
 * SSH authentication against the core's login pipeline, driven by the ssh2 client: password,
 * keyboard-interactive, public keys, the TOTP flows of docs/design.md, refusal texts as auth banners,
 * the per-connection attempt cap, lockout and per-user legacy algorithms.
 */
import { Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpVerifier } from '../../src/core/index.js';
import { createLogger } from '../../src/logging.js';
import { TOTP_SECRET, startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { LoginFailed, call, clientKeyPair, sshLogin, type SshLogin, type SshSession } from '../helpers/sftp.js';

const PW = 'sftp-auth-pw';
const code = (): string => TotpVerifier.generate(TOTP_SECRET);
const key = clientKeyPair();
const otherKey = clientKeyPair();

/** Logs in and out; resolves with the prompts seen, rejects with LoginFailed. */
async function loginOnce(port: number, login: SshLogin): Promise<string[]> {
  const prompts: string[] = [];
  const session = await sshLogin(port, { ...login, prompts });
  session.end();
  return prompts;
}

async function refusal(port: number, login: SshLogin): Promise<LoginFailed> {
  const err = await loginOnce(port, login).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `login of ${login.username} should be refused`).toBeInstanceOf(LoginFailed);
  return err as LoginFailed;
}

describe('SFTP authentication', () => {
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    gw = await startGateway({
      sftp: { host: '127.0.0.1', port: 0 },
      // Failures in this file must not lock anyone out; the lockout has its own gateway below.
      lockout: { maxFailures: 1000, maxFailuresPerSource: 1000 },
      users: await Promise.all([
        user('pw', PW),
        user('kiotp', PW, { totp_secret: TOTP_SECRET }),
        user('appended', PW, { totp_secret: TOTP_SECRET }),
        user('partial', PW, { totp_secret: TOTP_SECRET }),
        user('setup', PW, { two_factor_setup_needed: true, allowed_2fa_method_sms: true }),
        { username: 'keyonly', public_keys: [key.publicKey], root_path: 'keyonly' },
        { username: 'keytotp', public_keys: [key.publicKey], totp_secret: TOTP_SECRET, root_path: 'keytotp' },
      ]),
    });
    port = gw.gateway.addresses.sftp!.port;
  });
  afterAll(() => gw?.close());

  it('accepts the password through the password method and through keyboard-interactive', async () => {
    expect(await loginOnce(port, { username: 'pw', password: PW, methods: ['password'] })).toEqual([]);
    expect(await loginOnce(port, { username: 'pw', password: PW, methods: ['keyboard-interactive'] })).toEqual(['Password: ']);
  });

  it('refuses a wrong password or an unknown user and says so in a banner', async () => {
    for (const login of [
      { username: 'pw', password: 'wrong', methods: ['password' as const] },
      { username: 'pw', password: 'wrong', methods: ['keyboard-interactive' as const] },
      { username: 'nobody', password: PW, methods: ['password' as const] },
    ]) {
      const err = await refusal(port, login);
      expect(err.banners.join('')).toContain('Login incorrect.');
    }
  });

  it('closes the connection after 6 failed attempts', async () => {
    let attempts = 0;
    let refusals = 0;
    const client = new Client();
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', () => {});
    client.on('banner', () => refusals++); // one "Login incorrect." per refused attempt
    client.connect({
      host: '127.0.0.1',
      port,
      username: 'pw',
      readyTimeout: 10_000,
      authHandler: (_methods, _partial, next) => {
        attempts++;
        if (attempts > 20) return next(false as never);
        next({ type: 'password', username: 'pw', password: `wrong${attempts}` });
      },
    });
    await closed;
    expect(refusals).toBe(6);
    expect(attempts).toBeLessThanOrEqual(7); // the client may send a 7th before it reads the disconnect
  });

  it('TOTP over keyboard-interactive: the password alone is refused, password + code accepted once', async () => {
    const noCode = await refusal(port, { username: 'kiotp', password: PW, otp: '', methods: ['keyboard-interactive'] });
    expect(noCode.banners.join('')).toContain('authentication code is incorrect');
    const current = code();
    const prompts = await loginOnce(port, { username: 'kiotp', password: PW, otp: current, methods: ['keyboard-interactive'] });
    expect(prompts).toEqual(['Password: ', 'Authentication code: ']);
    const replay = await refusal(port, { username: 'kiotp', password: PW, otp: current, methods: ['keyboard-interactive'] });
    expect(replay.banners.join('')).toContain('already used');
  });

  it('TOTP over the password method: partial success, then keyboard-interactive asks only for the code', async () => {
    // Without keyboard-interactive the password alone never gets in.
    await refusal(port, { username: 'partial', password: PW, methods: ['password'] });
    const prompts = await loginOnce(port, { username: 'partial', password: PW, otp: code(), methods: ['password', 'keyboard-interactive'] });
    expect(prompts).toEqual(['Authentication code: ']);
  });

  it('TOTP over the password method: the code may be appended to the password', async () => {
    await refusal(port, { username: 'appended', password: `${PW}000000`, methods: ['password'] });
    expect(await loginOnce(port, { username: 'appended', password: `${PW}${code()}`, methods: ['password'] })).toEqual([]);
  });

  it('public keys: the authorized key logs in, another key does not; with TOTP the code is asked after the key', async () => {
    await loginOnce(port, { username: 'keyonly', privateKey: key.privateKey, methods: ['publickey'] });
    await refusal(port, { username: 'keyonly', privateKey: otherKey.privateKey, methods: ['publickey'] });
    await refusal(port, { username: 'keytotp', privateKey: key.privateKey, methods: ['publickey'] });
    const prompts = await loginOnce(port, { username: 'keytotp', privateKey: key.privateKey, otp: code(), methods: ['publickey', 'keyboard-interactive'] });
    expect(prompts).toEqual(['Authentication code: ']);
  });

  it('two_factor_setup_needed: refused with a message naming the allowed methods', async () => {
    const err = await refusal(port, { username: 'setup', password: PW, methods: ['password'] });
    expect(err.banners.join('')).toContain('Allowed methods: totp, sms.');
  });
});

describe('SFTP lockout', () => {
  it('locks a user out after repeated failures and says so', async () => {
    const gw = await startGateway({
      sftp: { host: '127.0.0.1', port: 0 },
      lockout: { maxFailures: 2, maxFailuresPerSource: 100 },
      users: [await user('victim', PW)],
    });
    try {
      const port = gw.gateway.addresses.sftp!.port;
      await refusal(port, { username: 'victim', password: 'bad1', methods: ['password'] });
      await refusal(port, { username: 'victim', password: 'bad2', methods: ['password'] });
      const locked = await refusal(port, { username: 'victim', password: PW, methods: ['password'] });
      expect(locked.banners.join('')).toMatch(/Too many failed logins\. Try again in \d+ minutes\./);
    } finally {
      await gw.close();
    }
  });
});

describe('SFTP legacy algorithms', () => {
  let gw: TestGateway;
  const cbcOnly = { cipher: ['aes128-cbc' as const] };

  beforeAll(async () => {
    gw = await startGateway({
      sftp: { host: '127.0.0.1', port: 0 },
      insecure: { sshCiphers: true },
      users: await Promise.all([user('modern', PW), user('legacy', PW, { sftp_insecure_ciphers: true }), user('oldtls', PW, { tls_disabled: true })]),
    });
  });
  afterAll(() => gw?.close());

  it('refuses a legacy cipher to a user without the flag, naming the algorithm', async () => {
    const err = await refusal(gw.gateway.addresses.sftp!.port, { username: 'modern', password: PW, methods: ['password'], algorithms: cbcOnly });
    expect(err.banners.join('')).toContain('The SSH algorithm aes128-cbc is not allowed for this account.');
  });

  it('accepts it with sftp_insecure_ciphers or tls_disabled', async () => {
    const port = gw.gateway.addresses.sftp!.port;
    await loginOnce(port, { username: 'legacy', password: PW, methods: ['password'], algorithms: cbcOnly });
    await loginOnce(port, { username: 'oldtls', password: PW, methods: ['password'], algorithms: cbcOnly });
  });

  it('offers the legacy set last: a modern client still negotiates a modern cipher', async () => {
    const session = await sshLogin(gw.gateway.addresses.sftp!.port, { username: 'modern', password: PW, methods: ['password'] });
    session.end();
    expect(session.negotiated.cs.cipher).not.toMatch(/cbc/);
    expect(session.negotiated.kex).not.toMatch(/sha1$/);
  });

  it('re-checks the algorithms at every re-key: a switch to a legacy cipher ends a session without the flag', async () => {
    const port = gw.gateway.addresses.sftp!.port;
    const rekeyToCbc = (session: SshSession): void => {
      // The ssh2 client has no API to change algorithms mid-connection: swap its offer, then re-key.
      type Offer = { constructor: new (lists: object) => Offer };
      const protocol = (session.client as unknown as { _protocol: { _offer: Offer; rekey(): void } })._protocol;
      const lists = { cipher: ['aes128-cbc'], mac: ['hmac-sha2-256'], compress: ['none'], lang: [] };
      protocol._offer = new protocol._offer.constructor({ kex: ['curve25519-sha256', 'ecdh-sha2-nistp256'], serverHostKey: ['ssh-ed25519', 'rsa-sha2-256'], cs: lists, sc: lists });
      protocol.rekey();
    };
    const modern = await sshLogin(port, { username: 'modern', password: PW, methods: ['password'] });
    rekeyToCbc(modern);
    await modern.closed;
    const legacy = await sshLogin(port, { username: 'legacy', password: PW, methods: ['password'] });
    rekeyToCbc(legacy);
    await new Promise<void>((resolve) => legacy.client.once('handshake', () => resolve()));
    expect(await call<string>((cb) => legacy.sftp.realpath('.', cb))).toBe('/');
    legacy.end();
  });

  it('does not offer legacy ciphers unless insecure.sshCiphers is on', async () => {
    const plain = await startGateway({ sftp: { host: '127.0.0.1', port: 0 }, users: [await user('legacy', PW, { sftp_insecure_ciphers: true })] });
    try {
      await expect(loginOnce(plain.gateway.addresses.sftp!.port, { username: 'legacy', password: PW, algorithms: cbcOnly })).rejects.toThrow(
        /no matching|handshake/i,
      );
    } finally {
      await plain.close();
    }
  });
});

describe('SFTP audit log', () => {
  it('logs connections and logins without passwords, codes, keys or session ids', async () => {
    const lines: string[] = [];
    const logger = createLogger('debug', { write: (line: string) => void lines.push(line) });
    const gw = await startGateway(
      {
        sftp: { host: '127.0.0.1', port: 0 },
        users: await Promise.all([user('audited', PW), user('audited2', PW, { totp_secret: TOTP_SECRET }), { username: 'audkey', public_keys: [key.publicKey], root_path: 'k' }]),
      },
      { logger },
    );
    const ids: string[] = [];
    gw.gateway.sessions.on('created', (s) => ids.push(s.id, s.login_token));
    const otp = code();
    try {
      const port = gw.gateway.addresses.sftp!.port;
      await loginOnce(port, { username: 'audited', password: PW, methods: ['password'] });
      await refusal(port, { username: 'audited', password: `${PW}-wrong`, methods: ['keyboard-interactive'] });
      await loginOnce(port, { username: 'audited2', password: PW, otp, methods: ['keyboard-interactive'] });
      await loginOnce(port, { username: 'audkey', privateKey: key.privateKey, methods: ['publickey'] });
      await expect.poll(() => lines.filter((l) => l.includes('"connection_close"')).length, { timeout: 2000 }).toBe(4);
    } finally {
      await gw.close();
    }
    const log = lines.join('');
    expect(ids.length).toBe(6);
    for (const secret of [PW, otp, TOTP_SECRET, ...ids, key.privateKey.split('\n')[1]!]) expect(log).not.toContain(secret);
    expect(lines.filter((l) => l.includes('"connection_open"')).length).toBe(4);
    expect(log).toContain('"outcome":"failure"');
  });
});
