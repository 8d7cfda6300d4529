/** PasswordCache: real scrypt behind a counting verifier, a hand-moved clock. */
import { beforeAll, describe, expect, it } from 'vitest';
import { PasswordCache, hashPassword, verifyPassword } from '../../../src/core/index.js';
import { manualClock } from './fixtures.js';

let hash: string;
let otherHash: string;
beforeAll(async () => {
  [hash, otherHash] = await Promise.all([hashPassword('right'), hashPassword('other')]);
});

function setup(config = { ttlSeconds: 600, maxEntries: 100 }) {
  const clock = manualClock();
  const calls: (string | undefined)[] = [];
  const cache = new PasswordCache(config, clock.now, (password, stored) => {
    calls.push(stored);
    return verifyPassword(password, stored);
  });
  return { cache, clock, calls };
}

describe('PasswordCache', () => {
  it('answers a password verified before without scrypt', async () => {
    const { cache, calls } = setup();
    expect(await cache.check('right', hash)).toBe(true);
    expect(await cache.check('right', hash)).toBe(true);
    expect(await cache.check('right', hash)).toBe(true);
    expect(calls).toHaveLength(1);
  });

  it('checks again once the entry is ttlSeconds old, or when the clock went back', async () => {
    const { cache, clock, calls } = setup({ ttlSeconds: 60, maxEntries: 100 });
    /** Moves the clock, checks the right password, and says how many scrypt runs there were so far. */
    const runsAfter = async (ms: number): Promise<number> => {
      clock.advance(ms);
      expect(await cache.check('right', hash)).toBe(true);
      return calls.length;
    };
    expect([await runsAfter(0), await runsAfter(59_999), await runsAfter(1), await runsAfter(-1)]).toEqual([1, 1, 2, 3]);
  });

  it('never caches a wrong password: each one runs scrypt and is refused, also next to a cached right one', async () => {
    const { cache, calls } = setup();
    expect(await cache.check('wrong', hash)).toBe(false);
    expect(await cache.check('wrong', hash)).toBe(false);
    expect(calls).toHaveLength(2);
    expect(await cache.check('right', hash)).toBe(true);
    for (const wrong of ['wrong', 'righ', 'right ', 'Right', '']) expect(await cache.check(wrong, hash), wrong).toBe(false);
    expect(calls).toHaveLength(8);
    expect(await cache.check('right', hash)).toBe(true);
    expect(calls).toHaveLength(8);
  });

  it('runs the dummy scrypt for an unknown user (no hash) every time', async () => {
    const { cache, calls } = setup();
    expect(await cache.check('right', undefined)).toBe(false);
    expect(await cache.check('right', undefined)).toBe(false);
    expect(calls).toEqual([undefined, undefined]);
  });

  it('keys by the stored hash: a new hash misses, and the old password does not pass it', async () => {
    const { cache, calls } = setup();
    expect(await cache.check('right', hash)).toBe(true);
    // The password changed: the stored hash is now another one.
    expect(await cache.check('right', otherHash)).toBe(false);
    expect(await cache.check('other', otherHash)).toBe(true);
    expect(calls).toEqual([hash, otherHash, otherHash]);
    // A new hash of the same password (new salt) is a new key too.
    const rehashed = await hashPassword('right');
    expect(await cache.check('right', rehashed)).toBe(true);
    expect(calls).toHaveLength(4);
  });

  it('holds at most maxEntries, dropping the oldest', async () => {
    const { cache, calls } = setup({ ttlSeconds: 600, maxEntries: 2 });
    const third = await hashPassword('third');
    await cache.check('right', hash);
    await cache.check('other', otherHash);
    await cache.check('third', third); // drops hash's entry
    expect(calls).toHaveLength(3);
    await cache.check('other', otherHash);
    await cache.check('third', third);
    expect(calls).toHaveLength(3);
    await cache.check('right', hash); // checked again, drops otherHash's
    expect(calls).toHaveLength(4);
    await cache.check('third', third);
    await cache.check('right', hash);
    expect(calls).toHaveLength(4);
    await cache.check('other', otherHash);
    expect(calls).toHaveLength(5);
  });
});
