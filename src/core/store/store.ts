/**
 * The state a fleet of gateways shares: sessions (with the node holding each), partial logins, the
 * TOTP replay guard and the HTTP retry de-duplication (both "claim once"), the lockout counters, and
 * the requests to end a session that another node holds. In memory by default; Redis for a fleet.
 * A store that cannot answer throws `GatewayError('UNAVAILABLE')`: logins fail closed.
 */
import type { SessionFields, SessionOrigin } from '../session.js';
import type { LockoutCounters } from './counters.js';

/** A session as the store keeps it: its fields, its origin and where it lives. */
export interface SessionRecord {
  fields: SessionFields;
  origin: Omit<SessionOrigin, 'createdAt'> & { createdAt: string };
  /** The node (process) holding the session's connections. */
  node: string;
  lastActiveAt: string;
  connections: number;
}

export interface GatewayStore {
  readonly counters: LockoutCounters;
  /** Records `key` unless it is already recorded: true for the first claim within `ttlMs`. */
  claimOnce(key: string, ttlMs: number): Promise<boolean>;
  putPartial(id: string, username: string, ttlMs: number): Promise<void>;
  /** The partial login's username, removed in the same step (single use), or undefined. */
  takePartial(id: string): Promise<string | undefined>;
  /** Stores (or refreshes) sessions; they leave the store `ttlMs` after their last refresh. */
  saveSessions(records: SessionRecord[], ttlMs: number): Promise<void>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /** Removes a session; the record it removed, if any. */
  removeSession(id: string): Promise<SessionRecord | undefined>;
  listSessions(): Promise<SessionRecord[]>;
  /** Asks `node` to end a session it holds. */
  requestEnd(node: string, id: string, reason: string): Promise<void>;
  /** Receives the end requests addressed to `node`. */
  onEndRequest(node: string, handler: (id: string, reason: string) => void): void;
  close(): Promise<void>;
}
