/** TOTP codes (RFC 6238 via otpauth): ±1 step of drift, and each code accepted only once. */
import { Secret, TOTP } from 'otpauth';

export type Clock = () => number;

const PERIOD_SECONDS = 30;

export class TotpVerifier {
  /** `${username}:${counter}` of accepted codes, kept until the code can no longer validate. */
  private readonly used = new Map<string, number>();

  constructor(private readonly now: Clock = Date.now) {}

  /** True when `code` is valid now for `secret` and has not been accepted before for `username`. */
  verify(username: string, secretBase32: string, code: string): boolean {
    if (!/^\d{6}$/.test(code)) return false;
    const totp = new TOTP({ secret: Secret.fromBase32(secretBase32), period: PERIOD_SECONDS, digits: 6 });
    const timestamp = this.now();
    const delta = totp.validate({ token: code, timestamp, window: 1 });
    if (delta === null) return false;
    this.forgetExpired(timestamp);
    const counter = totp.counter({ timestamp }) + delta;
    const key = `${username}:${counter}`;
    if (this.used.has(key)) return false;
    this.used.set(key, (counter + 2) * PERIOD_SECONDS * 1000);
    return true;
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

  private forgetExpired(timestamp: number): void {
    for (const [key, expiresAt] of this.used) if (expiresAt < timestamp) this.used.delete(key);
  }
}
