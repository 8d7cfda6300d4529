/**
 * TOTP codes (RFC 6238 via otpauth): ±1 step of drift, and each code accepted only once, also across
 * the nodes that share a store (the guard is a claim in the store).
 */
import { Secret, TOTP } from 'otpauth';
import { MemoryStore } from './store/memory-store.js';
import type { GatewayStore } from './store/store.js';

export type Clock = () => number;

const PERIOD_SECONDS = 30;

export class TotpVerifier {
  constructor(
    private readonly now: Clock = Date.now,
    private readonly store: Pick<GatewayStore, 'claimOnce'> = new MemoryStore(now),
  ) {}

  /** True when `code` is valid now for `secret` and has not been accepted before for `username`. */
  async verify(username: string, secretBase32: string, code: string): Promise<boolean> {
    if (!/^\d{6}$/.test(code)) return false;
    const totp = new TOTP({ secret: Secret.fromBase32(secretBase32), period: PERIOD_SECONDS, digits: 6 });
    const timestamp = this.now();
    const delta = totp.validate({ token: code, timestamp, window: 1 });
    if (delta === null) return false;
    const counter = totp.counter({ timestamp }) + delta;
    // Kept until the code can no longer validate (its step plus the drift step after it).
    const ttlMs = (counter + 2) * PERIOD_SECONDS * 1000 - timestamp;
    return this.store.claimOnce(`totp:${username}:${counter}`, ttlMs);
  }

  /** The code valid at the clock's current time (for tests and the example's demo user). */
  static generate(secretBase32: string, timestamp: number = Date.now()): string {
    return new TOTP({ secret: Secret.fromBase32(secretBase32), period: PERIOD_SECONDS, digits: 6 }).generate({
      timestamp,
    });
  }

  static randomSecret(): string {
    return new Secret({ size: 20 }).base32;
  }
}
