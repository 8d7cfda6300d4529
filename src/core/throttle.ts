/**
 * Failed-login throttling. A username is locked after `maxFailures` credential failures within the
 * window, a source after `maxFailuresPerSource` (higher: many users may share a NAT); IPv6 sources
 * count per /64. A lock lasts `lockMinutes`. Every attempt first reserves a unit of both budgets, so
 * parallel attempts never run more password checks than the failures still allowed; attempts beyond
 * the budget wait for earlier ones to settle. The counters live in a store (memory or Redis).
 */
import { sourceKey } from './source-address.js';
import type { CounterRule, LockoutCounters } from './store/counters.js';
import { MemoryLockoutCounters } from './store/memory-counters.js';
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

/** One login attempt's hold on the budgets. */
export interface LoginAttempt {
  /** A credential failure: counts toward both locks when the attempt ends. */
  failed(): void;
  /** The credentials checked out: the user's failures are forgotten when the attempt ends. */
  succeeded(): void;
  /** Settles the reservations. Call exactly once, whatever happened. */
  end(): Promise<void>;
}

/** No real username is longer (users.ts); longer attempts share a key instead of costing memory. */
const MAX_USERNAME_KEY = 128;
/** An attempt waits at most this long for budget before it is refused as rate limited. */
const MAX_BUDGET_WAIT_MS = 10_000;
/** Waiting attempts per source key in this process; more are refused at once. */
const MAX_WAITING_PER_SOURCE = 64;
/** Another process may free budget without telling us: look again this often. */
const BUDGET_POLL_MS = 100;

export class LoginThrottle {
  private userRule!: CounterRule;
  private sourceRule!: CounterRule;
  /** Per source key: wake-up calls of attempts waiting for budget. */
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(
    config: LockoutConfig = DEFAULT_LOCKOUT,
    private readonly now: Clock = Date.now,
    private readonly counters: LockoutCounters = new MemoryLockoutCounters(),
  ) {
    this.reconfigure(config);
  }

  /** The lockout numbers; a reload changes them for the next attempt, failures counted so far stay. */
  reconfigure(config: LockoutConfig): void {
    const windowMs = config.windowMinutes * 60_000;
    const lockMs = config.lockMinutes * 60_000;
    this.userRule = { limit: config.maxFailures, windowMs, lockMs };
    this.sourceRule = { limit: config.maxFailuresPerSource, windowMs, lockMs };
  }

  /**
   * Reserves budget for one attempt by `username` from `source`, or returns the lock that refuses it.
   * Source locks win: they say nothing about users.
   */
  async begin(username: string, source: string): Promise<LoginAttempt | Lock> {
    const sourceId = `s:${sourceKey(source)}`;
    const userId = `u:${username.slice(0, MAX_USERNAME_KEY)}`;
    const started = this.now();
    for (;;) {
      const fromSource = await this.counters.reserve(sourceId, this.sourceRule, this.now());
      if (fromSource.kind === 'locked') return { scope: 'source', until: fromSource.until };
      if (fromSource.kind === 'reserved') {
        const fromUser = await this.counters.reserve(userId, this.userRule, this.now());
        if (fromUser.kind === 'reserved') return this.attempt(sourceId, fromSource.token, userId, fromUser.token);
        await this.counters.settle(sourceId, fromSource.token, false, this.sourceRule, this.now());
        this.wake(sourceId);
        if (fromUser.kind === 'locked') return { scope: 'user', until: fromUser.until };
      }
      // Busy: earlier attempts hold the rest of the budget. Their outcome decides whether this one runs.
      const waited = this.now() - started;
      if (waited >= MAX_BUDGET_WAIT_MS || !(await this.waitForBudget(sourceId))) {
        return { scope: 'source', until: this.now() + 60_000 };
      }
    }
  }

  private attempt(sourceId: string, sourceToken: string, userId: string, userToken: string): LoginAttempt {
    let failed = false;
    let succeeded = false;
    let ended = false;
    return {
      failed: () => {
        failed = true;
      },
      succeeded: () => {
        succeeded = true;
      },
      end: async () => {
        if (ended) return;
        ended = true;
        const now = this.now();
        try {
          await this.counters.settle(userId, userToken, failed, this.userRule, now);
          await this.counters.settle(sourceId, sourceToken, failed, this.sourceRule, now);
          if (succeeded && !failed) await this.counters.clear(userId);
        } finally {
          this.wake(sourceId);
        }
      },
    };
  }

  /** Resolves true when an attempt from the source settles (or after a poll interval), false if too many wait. */
  private waitForBudget(sourceId: string): Promise<boolean> {
    let set = this.waiting.get(sourceId);
    if (!set) this.waiting.set(sourceId, (set = new Set()));
    if (set.size >= MAX_WAITING_PER_SOURCE) return Promise.resolve(false);
    const waiters = set;
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.waiting.get(sourceId) === waiters) this.waiting.delete(sourceId);
        resolve(true);
      };
      const timer = setTimeout(done, BUDGET_POLL_MS);
      waiters.add(done);
    });
  }

  private wake(sourceId: string): void {
    for (const done of [...(this.waiting.get(sourceId) ?? [])]) done();
  }
}
