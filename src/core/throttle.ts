/**
 * Failed-login throttling. A username is locked after `maxFailures` credential failures within the
 * window, a source address after `maxFailuresPerSource` (higher: many users may share a NAT). A lock
 * lasts `lockMinutes`. Memory is bounded: stale entries are pruned, and the tables have a size cap.
 */
import type { Clock } from './totp.js';

export interface LockoutConfig {
  maxFailures: number;
  maxFailuresPerSource: number;
  windowMinutes: number;
  lockMinutes: number;
}

export const DEFAULT_LOCKOUT: LockoutConfig = {
  maxFailures: 5,
  maxFailuresPerSource: 50,
  windowMinutes: 15,
  lockMinutes: 15,
};

export interface Lock {
  scope: 'user' | 'source';
  until: number;
}

interface Counter {
  failures: number[];
  lockedUntil: number;
}

const MAX_TRACKED = 100_000;
/** No real username is longer (users.ts); longer attempts share a key instead of costing memory. */
const MAX_USERNAME_KEY = 128;
const userKey = (username: string): string => username.slice(0, MAX_USERNAME_KEY);

class FailureTable {
  private readonly entries = new Map<string, Counter>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly lockMs: number,
  ) {}

  lockedUntil(key: string, now: number): number | undefined {
    const entry = this.entries.get(key);
    return entry && entry.lockedUntil > now ? entry.lockedUntil : undefined;
  }

  fail(key: string, now: number): void {
    let entry = this.entries.get(key);
    if (!entry) {
      if (this.entries.size >= MAX_TRACKED) this.prune(now);
      entry = { failures: [], lockedUntil: 0 };
      this.entries.set(key, entry);
    }
    entry.failures = entry.failures.filter((t) => t > now - this.windowMs);
    entry.failures.push(now);
    if (entry.failures.length >= this.limit) {
      entry.lockedUntil = now + this.lockMs;
      entry.failures = [];
    }
  }

  clear(key: string): void {
    this.entries.delete(key);
  }

  private prune(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.lockedUntil <= now && entry.failures.every((t) => t <= now - this.windowMs)) this.entries.delete(key);
    }
    // Still full (an attack from many names): drop the oldest half rather than grow without bound.
    if (this.entries.size >= MAX_TRACKED) {
      let drop = this.entries.size / 2;
      for (const key of this.entries.keys()) {
        if (drop-- <= 0) break;
        this.entries.delete(key);
      }
    }
  }
}

export class LoginThrottle {
  private readonly users: FailureTable;
  private readonly sources: FailureTable;

  constructor(
    readonly config: LockoutConfig = DEFAULT_LOCKOUT,
    private readonly now: Clock = Date.now,
  ) {
    const windowMs = config.windowMinutes * 60_000;
    const lockMs = config.lockMinutes * 60_000;
    this.users = new FailureTable(config.maxFailures, windowMs, lockMs);
    this.sources = new FailureTable(config.maxFailuresPerSource, windowMs, lockMs);
  }

  /** The lock that refuses an attempt now, if any. Source locks win: they say nothing about users. */
  check(username: string, source: string): Lock | undefined {
    const now = this.now();
    const sourceUntil = this.sources.lockedUntil(source, now);
    if (sourceUntil !== undefined) return { scope: 'source', until: sourceUntil };
    const userUntil = this.users.lockedUntil(userKey(username), now);
    return userUntil === undefined ? undefined : { scope: 'user', until: userUntil };
  }

  recordFailure(username: string, source: string): void {
    const now = this.now();
    this.users.fail(userKey(username), now);
    this.sources.fail(source, now);
  }

  recordSuccess(username: string): void {
    this.users.clear(userKey(username));
  }
}
