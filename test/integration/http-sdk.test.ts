/**
 * The official files.com JavaScript SDK, unchanged, against the gateway's session API: log in, read
 * the Session, the two-step TOTP flow, every login refusal it has an error class for, log out, and
 * a login retried by the SDK after a network error. `Files.setBaseUrl` is process-global, so every
 * SDK test lives in this one file and runs in order.
 */
import { createRequire } from 'node:module';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpVerifier } from '../../src/core/index.js';
import { TOTP_SECRET, startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { SEED_FIELDS } from '../helpers/seed.js';

const require = createRequire(import.meta.url);
const Files = require('files.com/lib/Files').default;
const Session = require('files.com/lib/models/Session').default;
const Errors = require('files.com/lib/Errors');
const { LogLevel } = require('files.com/lib/Logger');

const HEX40 = /^[0-9a-f]{40}$/;
const MAX_FAILURES = 3;

let t: TestGateway;
let baseUrl: string;

beforeAll(async () => {
  t = await startGateway({
    http: { host: '127.0.0.1', port: 0 },
    loginTokenDomain: 'https://files.example.test',
    lockout: { maxFailures: MAX_FAILURES, maxFailuresPerSource: 1000, windowMinutes: 15, lockMinutes: 15 },
    users: [
      await user('alice', 'alice-pw', { read_only: true, max_dir_listing_size: 7, language: 'fr', site_id: 42 }),
      await user('tom', 'tom-pw', { totp_secret: TOTP_SECRET }),
      await user('tina', 'tina-pw', { totp_secret: TOTP_SECRET }),
      await user('tess', 'tess-pw', { totp_secret: TOTP_SECRET }),
      await user('setup', 'setup-pw', { two_factor_setup_needed: true, allowed_2fa_method_totp: true, allowed_2fa_method_yubi: true }),
      await user('locky', 'locky-pw'),
      await user('retry', 'retry-pw'),
    ],
  });
  baseUrl = `http://127.0.0.1:${t.gateway.addresses.http!.port}`;
  Files.setBaseUrl(baseUrl);
  Files.setLogLevel(LogLevel.NONE);
});

afterAll(async () => {
  Files.setSessionId(null);
  Files.setLanguage(null);
  await t?.close();
});

/** Runs `call`, expects the SDK to throw an instance of `ErrorClass`, and returns the error. */
async function sdkError(call: Promise<unknown>, ErrorClass: any): Promise<any> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${ErrorClass.name}`).toBeInstanceOf(ErrorClass);
  return err;
}

/** A 6-digit code that is valid in none of the steps the server accepts now. */
function wrongCode(): string {
  const now = Date.now();
  const valid = new Set([-1, 0, 1].map((step) => TotpVerifier.generate(TOTP_SECRET, now + step * 30_000)));
  return ['000000', '111111', '222222', '333333'].find((code) => !valid.has(code))!;
}

describe('log in and read the Session', () => {
  it('returns a Session with exactly the seed fields', async () => {
    const session = await Session.create({ username: 'alice', password: 'alice-pw' });
    expect(Object.keys(session.attributes).sort()).toEqual([...SEED_FIELDS].sort());
    expect(session.id).toMatch(HEX40);
    expect(session.language).toBe('fr');
    expect(session.read_only).toBe(true);
    expect(session.max_dir_listing_size).toBe(7);
    expect(session.root_path).toBe('alice');
    expect(session.site_id).toBe(42);
    expect(session.login_token_domain).toBe('https://files.example.test');
    expect(typeof session.login_token).toBe('string');
    expect(session.login_token.length).toBeGreaterThan(16);
    for (const flag of ['multiple_regions', 'ssl_required', 'tls_disabled', 'two_factor_setup_needed', 'windows_mode_ftp']) {
      expect(session[flag], flag).toBe(false);
    }
    expect(session.use_provided_modified_at).toBe(true);

    const live = (await t.gateway.sessions.get(session.id));
    expect(live?.username).toBe('alice');
    expect(live?.origin.protocol).toBe('http');
  });

  it('ignores a stale X-FilesAPI-Auth on login', async () => {
    Files.setSessionId('f'.repeat(40));
    try {
      const session = await Session.create({ username: 'alice', password: 'alice-pw' });
      expect(session.id).toMatch(HEX40);
    } finally {
      Files.setSessionId(null);
    }
  });
});

describe('log out', () => {
  it('deletes the session; a second logout is refused as not authenticated', async () => {
    const session = await Session.create({ username: 'alice', password: 'alice-pw' });
    Files.setSessionId(session.id);
    try {
      await Session.delete();
    } finally {
      Files.setSessionId(null);
    }
    expect((await t.gateway.sessions.get(session.id))).toBeUndefined();

    const err = await sdkError(Session.delete({ sessionId: session.id }), Errors.NotAuthenticated_InvalidSessionError);
    expect(err).toBeInstanceOf(Errors.NotAuthenticatedError);
    expect(err.httpCode).toBe(401);
    expect(err.message).toBe('Your session has ended (logged out).');
  });
});

describe('two-factor authentication (TOTP)', () => {
  it('asks for a code, then logs in with partial_session_id + otp', async () => {
    const err = await sdkError(
      Session.create({ username: 'tom', password: 'tom-pw' }),
      Errors.NotAuthenticated_TwoFactorAuthenticationErrorError,
    );
    expect(err.data.partial_session_id).toMatch(HEX40);
    expect(err.data.two_factor_authentication_methods).toEqual(['totp']);
    expect((await t.gateway.sessions.list()).filter((s) => s.username === 'tom')).toEqual([]);

    const otp = TotpVerifier.generate(TOTP_SECRET, Date.now());
    const session = await Session.create({ username: 'tom', partial_session_id: err.data.partial_session_id, otp });
    expect(session.id).toMatch(HEX40);
    expect((await t.gateway.sessions.get(session.id))?.username).toBe('tom');

    // The partial session was single use.
    await sdkError(
      Session.create({ username: 'tom', partial_session_id: err.data.partial_session_id, otp }),
      Errors.NotAuthenticated_TwoFactorAuthenticationSetupExpiredError,
    );
  });

  it('accepts the code together with the password in one call', async () => {
    const session = await Session.create({ username: 'tina', password: 'tina-pw', otp: TotpVerifier.generate(TOTP_SECRET, Date.now()) });
    expect((await t.gateway.sessions.get(session.id))?.username).toBe('tina');
  });

  it('refuses a wrong code and a replayed one', async () => {
    const first = await sdkError(Session.create({ username: 'tess', password: 'tess-pw' }), Errors.NotAuthenticated_TwoFactorAuthenticationErrorError);
    const wrong = await sdkError(
      Session.create({ username: 'tess', partial_session_id: first.data.partial_session_id, otp: wrongCode() }),
      Errors.NotAuthenticated_OneTimePasswordIncorrectError,
    );
    expect(wrong.message).toBe('The authentication code is incorrect or was already used.');

    const otp = TotpVerifier.generate(TOTP_SECRET, Date.now());
    await Session.create({ username: 'tess', password: 'tess-pw', otp });
    await sdkError(Session.create({ username: 'tess', password: 'tess-pw', otp }), Errors.NotAuthenticated_OneTimePasswordIncorrectError);
  });

  it('refuses an unknown partial_session_id', async () => {
    await sdkError(
      Session.create({ username: 'tom', partial_session_id: 'e'.repeat(40), otp: TotpVerifier.generate(TOTP_SECRET, Date.now()) }),
      Errors.NotAuthenticated_TwoFactorAuthenticationSetupExpiredError,
    );
  });

  it('tells a user who must set up 2FA first which methods are allowed', async () => {
    const err = await sdkError(
      Session.create({ username: 'setup', password: 'setup-pw' }),
      Errors.NotAuthorized_TwoFactorAuthenticationRequiredError,
    );
    expect(err.httpCode).toBe(401);
    expect(err.data.two_factor_authentication_methods).toEqual(['totp', 'yubi']);
    expect(err.message).toContain('totp, yubi');
  });
});

describe('refused logins', () => {
  it('refuses a wrong password and an unknown user alike', async () => {
    const wrong = await sdkError(Session.create({ username: 'alice', password: 'nope' }), Errors.NotAuthenticated_InvalidUsernameOrPasswordError);
    const unknown = await sdkError(Session.create({ username: 'nobody', password: 'nope' }), Errors.NotAuthenticated_InvalidUsernameOrPasswordError);
    for (const err of [wrong, unknown]) {
      expect(err.httpCode).toBe(401);
      expect(err.type).toBe('not-authenticated/invalid-username-or-password');
      expect(err.title).toBe('Invalid Username Or Password');
      expect(err.message).toBe('Login incorrect.');
    }
    // One failure is below the lockout threshold: the right password still works.
    await Session.create({ username: 'alice', password: 'alice-pw' });
  });

  it('speaks the language the SDK asks for', async () => {
    Files.setLanguage('de-DE');
    try {
      const err = await sdkError(Session.create({ username: 'nobody', password: 'x' }), Errors.NotAuthenticated_InvalidUsernameOrPasswordError);
      expect(err.message).toBe('Anmeldung fehlgeschlagen.');
    } finally {
      Files.setLanguage(null);
    }
  });

  it(`locks a user out after ${MAX_FAILURES} failures, even with the right password`, async () => {
    for (let i = 0; i < MAX_FAILURES; i++) {
      await sdkError(Session.create({ username: 'locky', password: `wrong-${i}` }), Errors.NotAuthenticated_InvalidUsernameOrPasswordError);
    }
    const err = await sdkError(Session.create({ username: 'locky', password: 'locky-pw' }), Errors.NotAuthenticated_LockedOutError);
    expect(err.httpCode).toBe(401);
    expect(err.message).toMatch(/Try again in \d+ minutes/);
    expect(Date.parse(err.data.retry_at)).toBeGreaterThan(Date.now());
  });
});

describe('SDK retries after a network error', () => {
  it('counts a login the SDK sent twice as one failure', async () => {
    const proxy = await startReplyDroppingProxy(t.gateway.addresses.http!.port);
    Files.setBaseUrl(`http://127.0.0.1:${proxy.port}`);
    try {
      // The gateway refuses the first attempt but the reply is lost; the SDK sends it again.
      await sdkError(Session.create({ username: 'retry', password: 'wrong-1' }), Errors.NotAuthenticated_InvalidUsernameOrPasswordError);
    } finally {
      Files.setBaseUrl(baseUrl);
      await proxy.close();
    }
    expect(proxy.connections()).toBe(2);
    // One more distinct failure: 2 of 3 if the retry counted once, the lock if it counted twice.
    await sdkError(Session.create({ username: 'retry', password: 'wrong-2' }), Errors.NotAuthenticated_InvalidUsernameOrPasswordError);
    const session = await Session.create({ username: 'retry', password: 'retry-pw' });
    expect(session.id).toMatch(HEX40);
  });
});

describe('too many attempts from one address', () => {
  let limited: TestGateway;
  beforeAll(async () => {
    limited = await startGateway({
      http: { host: '127.0.0.1', port: 0 },
      lockout: { maxFailures: 100, maxFailuresPerSource: 2, windowMinutes: 15, lockMinutes: 15 },
      users: [await user('alice', 'alice-pw')],
    });
    Files.setBaseUrl(`http://127.0.0.1:${limited.gateway.addresses.http!.port}`);
  });
  afterAll(async () => {
    Files.setBaseUrl(baseUrl);
    await limited?.close();
  });

  it('answers 429 rate-limited with retry_at', async () => {
    await sdkError(Session.create({ username: 'u1', password: 'x' }), Errors.NotAuthenticated_InvalidUsernameOrPasswordError);
    await sdkError(Session.create({ username: 'u2', password: 'x' }), Errors.NotAuthenticated_InvalidUsernameOrPasswordError);
    const err = await sdkError(Session.create({ username: 'alice', password: 'alice-pw' }), Errors.RateLimited_TooManyLoginAttemptsError);
    expect(err.httpCode).toBe(429);
    expect(Date.parse(err.data.retry_at)).toBeGreaterThan(Date.now());
  });
});

/**
 * A TCP proxy whose first connection forwards the request but drops the gateway's reply (the
 * client's socket is destroyed when the reply arrives): the network error the SDK retries after.
 */
async function startReplyDroppingProxy(targetPort: number): Promise<{ port: number; connections(): number; close(): Promise<void> }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  };
  const server = net.createServer((client) => {
    const first = ++count === 1;
    const upstream = net.connect(targetPort, '127.0.0.1');
    track(client);
    track(upstream);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    if (first) upstream.once('data', () => client.destroy());
    else upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
