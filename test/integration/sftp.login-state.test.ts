/**
 * Login state over SSH, driven by a raw ssh2 client: a keyboard-interactive login the client
 * overtakes (a new USERAUTH request right after answering a prompt) or abandons by closing never
 * leaves a live session behind; one connection holds at most one session; a re-key that completes
 * while a login is being checked is held against the user's sftp_insecure_ciphers.
 */
import { Client } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpVerifier } from '../../src/core/index.js';
import { TOTP_SECRET, startGateway, user, type TestGateway } from '../helpers/gateway.js';

const PW = 'login-state-pw';

/** What the client does right after answering the last prompt it means to answer. */
type Ending =
  | 'password' // overtakes with a valid password request and waits for the outcome
  | 'keyboard' // overtakes with a new keyboard-interactive request, then closes at its prompt
  | 'close'; // closes the connection at once

/** The ssh2 client's protocol object: the only way to send a USERAUTH request out of turn or re-key at will. */
interface ClientProtocol {
  authPassword(username: string, password: string): void;
  authKeyboard(username: string): void;
  rekey(): void;
  _offer: { constructor: new (lists: object) => unknown };
}
const protocolOf = (client: Client): ClientProtocol => (client as unknown as { _protocol: ClientProtocol })._protocol;

interface Attempt {
  username: string;
  /** Prompts answered before the ending (1: the password; 2: password and code). */
  answer: number;
  ending: Ending;
  /** Runs on the connection once it is logged in, before it closes. */
  whileLoggedIn?: () => Promise<void>;
}

/** One connection: keyboard-interactive, `answer` prompts answered, then the ending. Resolves once closed. */
function abandonedLogin(port: number, attempt: Attempt): Promise<{ ready: boolean }> {
  const client = new Client();
  let answered = 0;
  let ready = false;
  return new Promise((resolve) => {
    client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => {
      if (answered === attempt.answer) return client.end(); // the overtaking request's prompt
      answered++;
      finish(prompts.map((p) => (/code/i.test(p.prompt) ? TotpVerifier.generate(TOTP_SECRET) : PW)));
      if (answered < attempt.answer) return;
      const protocol = protocolOf(client);
      if (attempt.ending === 'password') protocol.authPassword(attempt.username, PW);
      else if (attempt.ending === 'keyboard') protocol.authKeyboard(attempt.username);
      else client.end();
    });
    client.on('ready', () => {
      ready = true;
      void (attempt.whileLoggedIn?.() ?? Promise.resolve()).finally(() => client.end());
    });
    client.on('error', () => {});
    client.on('close', () => resolve({ ready }));
    client.connect({ host: '127.0.0.1', port, username: attempt.username, authHandler: ['keyboard-interactive'], tryKeyboard: true, readyTimeout: 10_000 });
  });
}

/** Waits until no session has been created for `quietMs` (every running login has finished), then lists the live ones. */
async function settledSessions(gw: TestGateway, quietMs = 600, deadlineMs = 15_000): Promise<unknown[]> {
  let lastCreated = Date.now();
  const onCreated = (): void => void (lastCreated = Date.now());
  gw.gateway.sessions.on('created', onCreated);
  const deadline = Date.now() + deadlineMs;
  try {
    for (;;) {
      const live = await gw.gateway.sessions.list();
      if ((live.length === 0 && Date.now() - lastCreated >= quietMs) || Date.now() > deadline) return live;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    gw.gateway.sessions.off('created', onCreated);
  }
}

describe('SFTP login state', () => {
  let gw: TestGateway;
  let port: number;
  let created = 0;

  beforeAll(async () => {
    gw = await startGateway({
      sftp: { host: '127.0.0.1', port: 0 },
      insecure: { sshCiphers: true },
      lockout: { maxFailures: 1000, maxFailuresPerSource: 1000 },
      users: await Promise.all([user('pw', PW), user('otp', PW, { totp_secret: TOTP_SECRET })]),
    });
    port = gw.gateway.addresses.sftp!.port;
    gw.gateway.sessions.on('created', () => created++);
  });
  afterAll(() => gw?.close());

  it('20 overtaken or abandoned keyboard-interactive logins leave no live session', async () => {
    const shapes: Attempt[] = [
      { username: 'pw', answer: 1, ending: 'password' },
      { username: 'pw', answer: 1, ending: 'keyboard' },
      { username: 'pw', answer: 1, ending: 'close' },
      { username: 'otp', answer: 1, ending: 'keyboard' },
      { username: 'otp', answer: 2, ending: 'keyboard' },
    ];
    const createdBefore = created;
    for (let i = 0; i < 20; i++) await abandonedLogin(port, shapes[i % shapes.length]!);
    expect(await settledSessions(gw)).toEqual([]);
    // The abandoned attempts did get as far as a session (each was deleted, not refused).
    expect(created - createdBefore).toBeGreaterThanOrEqual(8);
  });

  it('one connection holds at most one session, however many logins succeed on it', async () => {
    let whileOpen: unknown[] = [];
    const { ready } = await abandonedLogin(port, {
      username: 'pw',
      answer: 1,
      ending: 'password',
      // Both logins (the overtaken one first: one attempt per user at a time) have finished by now.
      whileLoggedIn: async () => void (whileOpen = await gw.gateway.sessions.list()),
    });
    expect(ready).toBe(true);
    expect(whileOpen).toHaveLength(1);
    expect(await settledSessions(gw)).toEqual([]);
  });

  it('a re-key to a legacy cipher that completes during the login is held against a user without the flag', async () => {
    const client = new Client();
    const banners: string[] = [];
    const events: string[] = [];
    client.on('banner', (text) => banners.push(text));
    client.on('handshake', (negotiated) => events.push(`handshake ${negotiated.cs.cipher}`));
    client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => {
      finish(prompts.map(() => PW));
      // Right behind the answer, while the server checks the password: re-key to aes128-cbc.
      const protocol = protocolOf(client);
      const lists = { cipher: ['aes128-cbc'], mac: ['hmac-sha2-256'], compress: ['none'], lang: [] };
      protocol._offer = new protocol._offer.constructor({ kex: ['curve25519-sha256'], serverHostKey: ['ssh-ed25519', 'rsa-sha2-256'], cs: lists, sc: lists }) as ClientProtocol['_offer'];
      protocol.rekey();
    });
    client.on('ready', () => events.push('ready'));
    client.on('error', () => {});
    const closed = new Promise<string>((resolve) => client.on('close', () => resolve('closed')));
    client.connect({ host: '127.0.0.1', port, username: 'pw', authHandler: ['keyboard-interactive'], tryKeyboard: true, readyTimeout: 10_000 });
    // Whichever ends first, the re-key or the password check, the connection must not stay up.
    const outcome = await Promise.race([closed, new Promise<string>((resolve) => setTimeout(() => resolve('still open'), 5000))]);
    client.end();
    expect(outcome).toBe('closed');
    expect(events).toContain('handshake aes128-cbc');
    // The usual order: the re-key completes while scrypt runs, and the login itself is refused.
    if (events.indexOf('handshake aes128-cbc') < events.indexOf('ready') || !events.includes('ready')) {
      expect(events).not.toContain('ready');
      expect(banners.join('')).toContain('The SSH algorithm aes128-cbc is not allowed for this account.');
    }
    expect(await settledSessions(gw)).toEqual([]);
  });
});
