/** TOTP verification with an injected clock: drift window, replay guard, per-user state, format. */
import { describe, expect, it } from 'vitest';
import { TotpVerifier } from '../../../src/core/index.js';
import { TOTP_SECRET, manualClock } from './fixtures.js';

const STEP = 30_000;
const OTHER_SECRET = 'KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU';

function setup() {
  // The middle of a 30 s step, so ±n steps are unambiguous.
  const clock = manualClock(Math.floor(Date.UTC(2026, 0, 1) / STEP) * STEP + STEP / 2);
  return { clock, verifier: new TotpVerifier(clock.now), codeAt: (steps: number) => TotpVerifier.generate(TOTP_SECRET, clock.now() + steps * STEP) };
}

describe('TotpVerifier', () => {
  it('accepts the current code and the codes one step either side', async () => {
    for (const steps of [-1, 0, 1]) {
      const { verifier, codeAt } = setup();
      expect(await verifier.verify('tom', TOTP_SECRET, codeAt(steps)), `step ${steps}`).toBe(true);
    }
  });

  it('refuses codes two steps away', async () => {
    for (const steps of [-2, 2]) {
      const { verifier, codeAt } = setup();
      const code = codeAt(steps);
      // Guard against a coincidence: a code equal to one inside the window proves nothing.
      expect([codeAt(-1), codeAt(0), codeAt(1)]).not.toContain(code);
      expect(await verifier.verify('tom', TOTP_SECRET, code), `step ${steps}`).toBe(false);
    }
  });

  it('accepts each code once', async () => {
    const { verifier, codeAt, clock } = setup();
    const code = codeAt(0);
    expect(await verifier.verify('tom', TOTP_SECRET, code)).toBe(true);
    expect(await verifier.verify('tom', TOTP_SECRET, code)).toBe(false);
    // Still refused a step later, while the code would otherwise be inside the drift window.
    clock.advance(STEP);
    expect(await verifier.verify('tom', TOTP_SECRET, code)).toBe(false);
    // The next code is fresh.
    expect(await verifier.verify('tom', TOTP_SECRET, codeAt(0))).toBe(true);
  });

  it('keeps users independent', async () => {
    const { verifier, codeAt } = setup();
    const code = codeAt(0);
    expect(await verifier.verify('tom', TOTP_SECRET, code)).toBe(true);
    expect(await verifier.verify('jerry', TOTP_SECRET, code)).toBe(true);
    expect(await verifier.verify('tom', TOTP_SECRET, code)).toBe(false);
  });

  it('refuses a code made from another secret', async () => {
    const { verifier, clock } = setup();
    const foreign = TotpVerifier.generate(OTHER_SECRET, clock.now());
    const own = [-1, 0, 1].map((s) => TotpVerifier.generate(TOTP_SECRET, clock.now() + s * STEP));
    expect(own).not.toContain(foreign);
    expect(await verifier.verify('tom', TOTP_SECRET, foreign)).toBe(false);
  });

  it('refuses anything that is not exactly 6 digits', async () => {
    const { verifier, codeAt } = setup();
    const code = codeAt(0);
    for (const bad of ['', '12345', '1234567', `${code} `, ` ${code}`, `${code}0`, code.slice(1), 'abcdef', '12 456', '１２３４５６']) {
      expect(await verifier.verify('tom', TOTP_SECRET, bad), JSON.stringify(bad)).toBe(false);
    }
    expect(await verifier.verify('tom', TOTP_SECRET, code)).toBe(true);
  });

  it('generates 6-digit codes', async () => {
    expect(TotpVerifier.generate(TOTP_SECRET, 0)).toMatch(/^\d{6}$/);
    expect(TotpVerifier.randomSecret()).toMatch(/^[A-Z2-7]{32}$/);
  });
});
