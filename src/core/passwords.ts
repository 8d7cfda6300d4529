/** scrypt password hashes: `scrypt$N$r$p$<salt b64>$<hash b64>`, compared in constant time. */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const KEY_LENGTH = 32;
const DEFAULTS = { N: 16384, r: 8, p: 1 };
const MAX_MEMORY = 256 * 1024 * 1024;

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, keylen, { ...options, maxmem: MAX_MEMORY }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LENGTH, DEFAULTS);
  const { N, r, p } = DEFAULTS;
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

export function parsePasswordHash(hash: string): ParsedHash | undefined {
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  const powerOfTwo = Number.isInteger(N) && N > 1 && (N & (N - 1)) === 0;
  if (!powerOfTwo || !(r >= 1 && r <= 32) || !(p >= 1 && p <= 16) || salt.length < 8 || key.length < 16) {
    return undefined;
  }
  // OpenSSL's memory need for these parameters: a hash scrypt would refuse is no hash at all.
  if (128 * r * (N + p + 2) > MAX_MEMORY) return undefined;
  return { N, r, p, salt, key };
}

/** Hashed with the default cost so that checking an unknown user takes as long as a known one. */
const DUMMY_HASH = `scrypt$${DEFAULTS.N}$${DEFAULTS.r}$${DEFAULTS.p}$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(KEY_LENGTH).toString('base64')}`;

/** True when `password` matches `hash`. With no hash (unknown user) it burns the same time and says false. */
export async function verifyPassword(password: string, hash: string | undefined): Promise<boolean> {
  const parsed = parsePasswordHash(hash ?? DUMMY_HASH) ?? parsePasswordHash(DUMMY_HASH)!;
  const actual = await scrypt(password, parsed.salt, parsed.key.length, parsed);
  return timingSafeEqual(actual, parsed.key) && hash !== undefined;
}
