/** Login refusals speak the client's chosen language, else (once the password checked out) the user's. */
import { describe, expect, it } from 'vitest';
import { SessionManager, StaticUserDirectory, hashPassword, parseUserRecords, type LoginRequest } from '../../../src/core/index.js';
import { describeError } from '../../../src/protocols/error-map.js';

async function manager(): Promise<SessionManager> {
  const hash = await hashPassword('pw');
  const records = parseUserRecords(
    [{ username: 'dora', password_hash: hash, language: 'de', two_factor_setup_needed: true, allowed_2fa_method_yubi: true }],
    'test',
  );
  return new SessionManager({ users: new StaticUserDirectory(records) });
}

const request = (password: string, language?: string): LoginRequest => ({
  username: 'dora',
  password,
  protocol: 'sftp',
  remoteAddress: '127.0.0.1',
  transport: { kind: 'library' },
  language,
});

async function refusal(sessions: SessionManager, req: LoginRequest): Promise<string> {
  const err = await sessions.create(req).then(() => undefined, (e: unknown) => e);
  expect(err).toBeDefined();
  return describeError(err).message;
}

describe('refusal language', () => {
  it("uses the user's language once the credentials are right", async () => {
    const sessions = await manager();
    expect(await refusal(sessions, request('pw'))).toBe(
      'Die Zwei-Faktor-Authentifizierung muss eingerichtet werden, bevor Sie sich anmelden können. Erlaubte Methoden: totp, yubi.',
    );
    sessions.close();
  });

  it('says nothing in the user language before the password checks out (no hint that the user exists)', async () => {
    const sessions = await manager();
    expect(await refusal(sessions, request('wrong'))).toBe('Login incorrect.');
    sessions.close();
  });

  it("prefers the client's explicit choice", async () => {
    const sessions = await manager();
    expect(await refusal(sessions, request('pw', 'fr'))).toMatch(/^L'authentification à deux facteurs doit être configurée/);
    expect(await refusal(sessions, request('wrong', 'es'))).toBe('Inicio de sesión incorrecto.');
    sessions.close();
  });
});
