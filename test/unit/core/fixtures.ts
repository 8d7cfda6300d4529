/** Shared set-up for the core unit tests: sessions with chosen flags, temp dirs, error assertions. */
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { GatewayError, Session, type ErrorCode, type SessionFields } from '../../../src/core/index.js';

export const TOTP_SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

/** A Session built directly (no login), with every flag at the user-record default unless overridden. */
export function makeSession(flags: Partial<SessionFields> = {}): Session {
  return new Session(
    {
      id: 'a'.repeat(40),
      language: 'en',
      login_token: 'token',
      login_token_domain: '',
      max_dir_listing_size: 0,
      multiple_regions: false,
      read_only: false,
      root_path: '',
      sftp_insecure_ciphers: false,
      site_id: 1,
      ssl_required: false,
      tls_disabled: false,
      two_factor_setup_needed: false,
      allowed_2fa_method_sms: false,
      allowed_2fa_method_totp: true,
      allowed_2fa_method_u2f: false,
      allowed_2fa_method_yubi: false,
      use_provided_modified_at: true,
      windows_mode_ftp: false,
      ...flags,
    },
    { username: 'tester', protocol: 'library', remoteAddress: '127.0.0.1', createdAt: new Date() },
  );
}

/** A fresh real (symlink-free) temporary directory and its remover. */
export async function makeTempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await realpath(await mkdtemp(path.join(tmpdir(), 'filegate-unit-')));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Awaits `promise`, expects it to reject with a GatewayError of `code`, and returns that error. */
export async function expectGatewayError(promise: Promise<unknown>, code: ErrorCode): Promise<GatewayError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a rejection with ${code}`).toBeInstanceOf(GatewayError);
  expect((err as GatewayError).code).toBe(code);
  return err as GatewayError;
}

/** A clock the test moves by hand. */
export function manualClock(start = Date.UTC(2026, 0, 1, 12, 0, 0)): { now: () => number; advance: (ms: number) => void } {
  let current = start;
  return { now: () => current, advance: (ms) => void (current += ms) };
}
