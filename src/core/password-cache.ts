/**
 * Verified passwords, remembered for a while (like SFTPGo's `password_caching`): a client that logs
 * in again and again with the same right password (FileZilla and lftp log in on every connection,
 * scripts reconnect per file) pays the scrypt check once per `ttlSeconds`, not every time.
 *
 * Kept per stored password hash (its random salt makes it unique per user, and a new password or a
 * users file reloaded with a new hash is a new key, so it never meets an old entry): an HMAC-SHA256
 * of the password under a key drawn once per process, never the password. Only successes are
 * stored, so a wrong password always costs the full scrypt and timing says no more than the answer.
 * The trade-off: whoever reads this process's memory can test guesses against the HMAC far faster
 * than against scrypt (but could as well read passwords as they arrive).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { verifyPassword } from './passwords.js';
import type { Clock } from './totp.js';

export interface PasswordCacheConfig {
  enabled: boolean;
  ttlSeconds: number;
  maxEntries: number;
}

export const DEFAULT_PASSWORD_CACHE: PasswordCacheConfig = { enabled: true, ttlSeconds: 600, maxEntries: 10_000 };

/** verifyPassword's shape (injected by tests to count the scrypt checks). */
export type PasswordVerifier = (password: string, hash: string | undefined) => Promise<boolean>;

interface Entry {
  mac: Buffer;
  storedAt: number;
}

export class PasswordCache {
  private readonly key = randomBytes(32);
  /** By password hash, oldest first (a store re-inserts), so the first entry is the one to drop. */
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;

  constructor(
    private readonly config: Pick<PasswordCacheConfig, 'ttlSeconds' | 'maxEntries'>,
    private readonly clock: Clock = Date.now,
    private readonly verify: PasswordVerifier = verifyPassword,
  ) {
    this.ttlMs = config.ttlSeconds * 1000;
  }

  /** What verifyPassword answers, from the cache when this password was verified against `hash` lately. */
  async check(password: string, hash: string | undefined): Promise<boolean> {
    if (hash === undefined) return this.verify(password, hash); // the unknown user's dummy scrypt
    const mac = createHmac('sha256', this.key).update(password).digest();
    if (this.holds(hash, mac)) return true;
    // Logins of one user run one at a time (SessionManager), so a second check of the same password
    // starts only once the first has stored its answer.
    const ok = await this.verify(password, hash);
    if (ok) this.store(hash, mac);
    return ok;
  }

  private holds(hash: string, mac: Buffer): boolean {
    const entry = this.entries.get(hash);
    if (!entry) return false;
    const age = this.clock() - entry.storedAt;
    // A clock that went back counts as expired: an entry must not outlive its TTL by a clock step.
    if (age < 0 || age >= this.ttlMs) {
      this.entries.delete(hash);
      return false;
    }
    return timingSafeEqual(entry.mac, mac);
  }

  private store(hash: string, mac: Buffer): void {
    this.entries.delete(hash);
    this.entries.set(hash, { mac, storedAt: this.clock() });
    if (this.entries.size > this.config.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}
