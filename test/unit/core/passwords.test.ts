/** scrypt password hashes: roundtrip, refusal, malformed hashes, and the constant-time compare. */
import * as crypto from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { hashPassword, verifyPassword } from '../../../src/core/index.js';

// Spy on timingSafeEqual: the comparison of derived keys must not short-circuit on the first byte.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});
const timingSafeEqual = vi.mocked(crypto.timingSafeEqual);

describe('passwords', () => {
  beforeEach(() => {
    timingSafeEqual.mockClear();
  });

  it('verifies a password against its own hash', async () => {
    const hash = await hashPassword('correct horse');
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyPassword('correct horse', hash)).toBe(true);
  });

  it('salts every hash', async () => {
    expect(await hashPassword('same')).not.toBe(await hashPassword('same'));
  });

  it('refuses a wrong password', async () => {
    const hash = await hashPassword('correct horse');
    for (const wrong of ['correct hors', 'correct horse ', 'Correct horse', '']) {
      expect(await verifyPassword(wrong, hash), JSON.stringify(wrong)).toBe(false);
    }
  });

  it('handles non-ASCII passwords', async () => {
    const hash = await hashPassword('pässwörd-密码');
    expect(await verifyPassword('pässwörd-密码', hash)).toBe(true);
    expect(await verifyPassword('passwort-密码', hash)).toBe(false);
  });

  it('says false (without throwing) for a missing or malformed hash', async () => {
    const good = await hashPassword('x');
    const [, , , , salt, key] = good.split('$');
    const malformed = [
      'not-a-hash',
      '',
      `bcrypt$16384$8$1$${salt}$${key}`,
      `scrypt$16383$8$1$${salt}$${key}`, // N not a power of two
      `scrypt$16384$0$1$${salt}$${key}`,
      `scrypt$16384$8$99$${salt}$${key}`,
      `scrypt$16384$8$1$$${key}`, // no salt
      `scrypt$16384$8$1$${salt}$`, // no key
      `scrypt$16384$8$1$${salt}`,
      `scrypt$1048576$8$1$${salt}$${key}`, // more memory than scrypt may use: it would throw
      `scrypt$1073741824$8$1$${salt}$${key}`,
    ];
    for (const hash of malformed) expect(await verifyPassword('x', hash), hash).toBe(false);
    expect(await verifyPassword('x', undefined)).toBe(false);
  });

  it('compares derived keys with crypto.timingSafeEqual', async () => {
    const hash = await hashPassword('secret');
    await verifyPassword('secret', hash);
    await verifyPassword('wrong', hash);
    await verifyPassword('wrong', undefined);
    expect(timingSafeEqual).toHaveBeenCalledTimes(3);
  });
});
