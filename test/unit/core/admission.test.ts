/** Admission: total and per-source caps, idempotent release, the login deadline, the idle timeout. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Admission, type AdmissionEvents, type AdmissionTicket } from '../../../src/core/index.js';

const LIMITS = { maxConnections: 4, maxConnectionsPerSource: 2, loginTimeoutMs: 1000, idleTimeoutMs: 0 };

function admitOk(admission: Admission, address: string, loginDeadline = () => {}, events: Omit<AdmissionEvents, 'loginDeadline'> = {}): AdmissionTicket {
  const admitted = admission.admit(address, { loginDeadline, ...events });
  if (!admitted.ok) throw new Error(`refused: ${admitted.reason}`);
  return admitted.ticket;
}

describe('Admission', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('caps connections per source, counting mapped IPv4 and one IPv6 /64 as one source', () => {
    const admission = new Admission(LIMITS);
    const first = admitOk(admission, '::ffff:10.0.0.1');
    expect(first.source).toBe('10.0.0.1');
    admitOk(admission, '10.0.0.1');
    expect(admission.admit('10.0.0.1', { loginDeadline: () => {} })).toEqual({ ok: false, reason: 'per-source' });
    admitOk(admission, '2001:db8:1:2::1');
    admitOk(admission, '2001:db8:1:2::2');
    expect(admission.admit('10.0.0.9', { loginDeadline: () => {} })).toEqual({ ok: false, reason: 'total' });
    // Released twice, counted once: exactly one place comes free, for that source too.
    first.release();
    first.release();
    admitOk(admission, '10.0.0.1');
    expect(admission.admit('10.0.0.9', { loginDeadline: () => {} })).toEqual({ ok: false, reason: 'total' });

    const wide = new Admission({ ...LIMITS, maxConnections: 100 });
    admitOk(wide, '2001:db8:1:2::1');
    admitOk(wide, '2001:db8:1:2::2');
    expect(wide.admit('2001:db8:1:2::99', { loginDeadline: () => {} })).toEqual({ ok: false, reason: 'per-source' });
    admitOk(wide, '2001:db8:1:3::1'); // another /64
  });

  it('fires the login deadline once unless the connection authenticates or is released', () => {
    const admission = new Admission(LIMITS);
    const late = vi.fn();
    const loggedIn = vi.fn();
    const gone = vi.fn();
    admitOk(admission, '10.0.0.1', late);
    admitOk(admission, '10.0.0.2', loggedIn).authenticated();
    admitOk(admission, '10.0.0.3', gone).release();
    vi.advanceTimersByTime(999);
    expect(late).not.toHaveBeenCalled();
    vi.advanceTimersByTime(5000);
    expect(late).toHaveBeenCalledTimes(1);
    expect(loggedIn).not.toHaveBeenCalled();
    expect(gone).not.toHaveBeenCalled();
    // The deadline does not release: the adapter closes the socket, and its close releases.
    admitOk(admission, '10.0.0.4');
    admitOk(admission, '10.0.0.5');
    expect(admission.admit('10.0.0.6', { loginDeadline: () => {} })).toEqual({ ok: false, reason: 'total' });
  });

  it('calls a connection idle once nothing happened for the idle timeout; activity and busy() postpone it', () => {
    const admission = new Admission({ ...LIMITS, idleTimeoutMs: 1000 });
    const idle = { quiet: vi.fn(), talking: vi.fn(), transferring: vi.fn(), gone: vi.fn() };
    admitOk(admission, '10.0.0.1', () => {}, { idle: idle.quiet });
    const talking = admitOk(admission, '10.0.0.2', () => {}, { idle: idle.talking });
    let progress = 3;
    admitOk(admission, '10.0.0.3', () => {}, { idle: idle.transferring, busy: () => progress-- > 0 });
    admitOk(admission, '10.0.0.4', () => {}, { idle: idle.gone }).release();
    vi.advanceTimersByTime(600);
    talking.active();
    expect(talking.lastActive).toBe(Date.now());
    vi.advanceTimersByTime(400);
    expect(idle.quiet).toHaveBeenCalledTimes(1);
    expect(idle.talking).not.toHaveBeenCalled();
    vi.advanceTimersByTime(600);
    expect(idle.talking).toHaveBeenCalledTimes(1);
    // busy() said yes three times (at 1 s, 2 s, 3 s): idle one timeout after the last of them.
    vi.advanceTimersByTime(2399);
    expect(idle.transferring).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000);
    expect(idle.transferring).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(10_000);
    expect(idle.quiet).toHaveBeenCalledTimes(1);
    expect(idle.gone).not.toHaveBeenCalled();
  });
});
