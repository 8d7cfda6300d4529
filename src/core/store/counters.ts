/**
 * Lockout counters: failures within a window per key, a lock once they reach the limit, and open
 * reservations. A login attempt reserves one unit of a key's remaining budget before it checks a
 * password, so a parallel burst can never run more checks than the budget, in one process or many.
 */
export interface CounterRule {
  limit: number;
  windowMs: number;
  lockMs: number;
}

export type Reservation =
  | { kind: 'reserved'; token: string }
  | { kind: 'locked'; until: number }
  /** Failures plus open reservations use up the budget: wait for one to settle. */
  | { kind: 'busy' };

export interface LockoutCounters {
  /** Atomically: a lock refuses; a used-up budget is busy; otherwise one reservation is opened. */
  reserve(key: string, rule: CounterRule, now: number): Promise<Reservation>;
  /** Closes a reservation; `failed` counts a failure (and locks the key at the limit). */
  settle(key: string, token: string, failed: boolean, rule: CounterRule, now: number): Promise<void>;
  /** Forgets a key's failures (a successful login); a lock stays. */
  clear(key: string): Promise<void>;
}

/** How long an open reservation counts if its process dies before settling it. */
export const RESERVATION_TTL_MS = 2 * 60_000;
