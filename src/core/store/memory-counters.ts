/** Lockout counters in this process's memory: the default store's part for the throttle. */
import type { CounterRule, LockoutCounters, Reservation } from './counters.js';

interface Entry {
  failures: number[];
  lockedUntil: number;
  open: Set<string>;
}

/** Past this many keys, stale ones are pruned; entries with a lock or an open reservation never are. */
export const MAX_TRACKED_KEYS = 100_000;

export class MemoryLockoutCounters implements LockoutCounters {
  private readonly entries = new Map<string, Entry>();
  private nextToken = 0;

  constructor(private readonly maxKeys = MAX_TRACKED_KEYS) {}

  get size(): number {
    return this.entries.size;
  }

  async reserve(key: string, rule: CounterRule, now: number): Promise<Reservation> {
    let entry = this.entries.get(key);
    if (entry && entry.lockedUntil > now) return { kind: 'locked', until: entry.lockedUntil };
    if (!entry) {
      if (this.entries.size >= this.maxKeys) this.prune(now, rule.windowMs);
      entry = { failures: [], lockedUntil: 0, open: new Set() };
      this.entries.set(key, entry);
    }
    entry.failures = entry.failures.filter((t) => t > now - rule.windowMs);
    if (entry.failures.length + entry.open.size >= rule.limit) return { kind: 'busy' };
    const token = String(this.nextToken++);
    entry.open.add(token);
    return { kind: 'reserved', token };
  }

  async settle(key: string, token: string, failed: boolean, rule: CounterRule, now: number): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry || !entry.open.delete(token) || !failed) return;
    entry.failures = entry.failures.filter((t) => t > now - rule.windowMs);
    entry.failures.push(now);
    if (entry.failures.length >= rule.limit) {
      entry.lockedUntil = now + rule.lockMs;
      entry.failures = [];
    }
  }

  async clear(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (entry) entry.failures = [];
  }

  /**
   * Drops entries that hold nothing; if the table is still full (an attack from many names), the
   * oldest entries without a lock or an open attempt. Locks stay: each cost `limit` password checks.
   */
  private prune(now: number, windowMs: number): void {
    const idle = (e: Entry): boolean => e.lockedUntil <= now && e.open.size === 0;
    for (const [key, entry] of this.entries) {
      if (idle(entry) && entry.failures.every((t) => t <= now - windowMs)) this.entries.delete(key);
    }
    let drop = this.entries.size - this.maxKeys / 2;
    for (const [key, entry] of this.entries) {
      if (drop <= 0) break;
      if (idle(entry)) {
        this.entries.delete(key);
        drop--;
      }
    }
  }
}
