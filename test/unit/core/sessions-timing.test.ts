/**
 * Unknown users cost the same time as known ones (docs/design.md, login pipeline step 2). A coarse check
 * built to survive a loaded 2-core machine: runs are interleaved (so load hits both sides alike),
 * medians are compared, and the bound is generous. What it catches is the real defect — an unknown
 * user answered without the password hash work (~0 ms against ~30 ms of scrypt).
 */
import { describe, expect, it } from 'vitest';
import { SessionManager, StaticUserDirectory, hashPassword, parseUserRecords, type LoginRequest } from '../../../src/core/index.js';
import { TOTP_SECRET } from './fixtures.js';

const RUNS = 9;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function elapsed(run: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await run().catch(() => {});
  return Number(process.hrtime.bigint() - start) / 1e6;
}

describe('login timing', () => {
  it('spends as long on an unknown user as on a known one with a wrong password', async () => {
    const users = parseUserRecords(
      [
        { username: 'known', password_hash: await hashPassword('right') },
        { username: 'twofactor', password_hash: await hashPassword('right'), totp_secret: TOTP_SECRET },
      ],
      'test',
    );
    // A lockout that never triggers: repeated failures must keep doing the full work.
    const sessions = new SessionManager({
      users: new StaticUserDirectory(users),
      lockout: { maxFailures: 1000, maxFailuresPerSource: 1000, windowMinutes: 1, lockMinutes: 1 },
    });
    const attempt = (username: string, password: string, extra: Partial<LoginRequest> = {}) => () =>
      sessions.create({ username, password, protocol: 'ftp', remoteAddress: '10.0.0.9', transport: { kind: 'ftp', tlsVersion: 'TLSv1.3' }, ...extra });

    const cases = {
      known: attempt('known', 'wrong'),
      unknown: attempt('nobody', 'wrong'),
      // With a code possibly appended, both sides try the password twice (whole, then split).
      knownAppended: attempt('twofactor', 'wrong123456', { otpMayBeAppended: true }),
      unknownAppended: attempt('nobody', 'wrong123456', { otpMayBeAppended: true }),
    };
    const times: Record<keyof typeof cases, number[]> = { known: [], unknown: [], knownAppended: [], unknownAppended: [] };
    try {
      for (let i = 0; i < RUNS; i++) {
        for (const name of Object.keys(cases) as (keyof typeof cases)[]) times[name].push(await elapsed(cases[name]));
      }
    } finally {
      sessions.close();
    }
    const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<keyof typeof cases, number>;
    // Generous factor 3 either way; the defect this guards against is a factor of 10 or more.
    expect(m.unknown, JSON.stringify(m)).toBeGreaterThan(m.known / 3);
    expect(m.unknown, JSON.stringify(m)).toBeLessThan(m.known * 3);
    expect(m.unknownAppended, JSON.stringify(m)).toBeGreaterThan(m.knownAppended / 3);
    expect(m.unknownAppended, JSON.stringify(m)).toBeLessThan(m.knownAppended * 3);
  });
});
