/** The default store: this process's memory. One process is one node; nothing is shared. */
import type { Clock } from '../totp.js';
import { MemoryLockoutCounters } from './memory-counters.js';
import type { GatewayStore, SessionRecord } from './store.js';

/** Past this many claims or partial logins the expired ones are swept, then the oldest dropped. */
const MAX_ENTRIES = 100_000;

/** A map whose entries expire; bounded in size. */
class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(private readonly clock: Clock) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    return entry && entry.expiresAt > this.clock() ? entry.value : undefined;
  }

  set(key: string, value: V, ttlMs: number): void {
    if (this.entries.size >= MAX_ENTRIES) this.sweep();
    this.entries.delete(key); // re-insert: the Map's order stays oldest first
    this.entries.set(key, { value, expiresAt: this.clock() + ttlMs });
  }

  take(key: string): V | undefined {
    const value = this.get(key);
    this.entries.delete(key);
    return value;
  }

  values(): V[] {
    this.sweep();
    return [...this.entries.values()].map((entry) => entry.value);
  }

  private sweep(): void {
    const now = this.clock();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
    for (const key of this.entries.keys()) {
      if (this.entries.size < MAX_ENTRIES) break;
      this.entries.delete(key);
    }
  }
}

export class MemoryStore implements GatewayStore {
  readonly counters = new MemoryLockoutCounters();
  private readonly claims: ExpiringMap<true>;
  private readonly partials: ExpiringMap<string>;
  private readonly sessions: ExpiringMap<SessionRecord>;

  constructor(clock: Clock = Date.now) {
    this.claims = new ExpiringMap(clock);
    this.partials = new ExpiringMap(clock);
    this.sessions = new ExpiringMap(clock);
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    if (this.claims.get(key)) return false;
    this.claims.set(key, true, ttlMs);
    return true;
  }

  async putPartial(id: string, username: string, ttlMs: number): Promise<void> {
    this.partials.set(id, username, ttlMs);
  }

  async takePartial(id: string): Promise<string | undefined> {
    return this.partials.take(id);
  }

  async saveSessions(records: SessionRecord[], ttlMs: number): Promise<void> {
    for (const record of records) this.sessions.set(record.fields.id, record, ttlMs);
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    return this.sessions.get(id);
  }

  async removeSession(id: string): Promise<SessionRecord | undefined> {
    return this.sessions.take(id);
  }

  async listSessions(): Promise<SessionRecord[]> {
    return this.sessions.values();
  }

  /** One process: every session is held here, so there is never another node to ask. */
  async requestEnd(): Promise<void> {}

  onEndRequest(): void {}

  async close(): Promise<void> {}
}
