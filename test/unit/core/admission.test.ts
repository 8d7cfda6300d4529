/** Admission: total and per-source caps, idempotent release, the login deadline. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Admission, type AdmissionTicket } from '../../../src/core/index.js';

const LIMITS = { maxConnections: 4, maxConnectionsPerSource: 2, loginTimeoutMs: 1000 };

function admitOk(admission: Admission, address: string, onDeadline = () => {}): AdmissionTicket {
  const admitted = admission.admit(address, onDeadline);
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
    expect(admission.admit('10.0.0.1', () => {})).toEqual({ ok: false, reason: 'per-source' });
    admitOk(admission, '2001:db8:1:2::1');
    admitOk(admission, '2001:db8:1:2::2');
    expect(admission.sizeFor('2001:db8:1:2::99')).toBe(2);
    expect(admission.admit('10.0.0.9', () => {})).toEqual({ ok: false, reason: 'total' });
    first.release();
    first.release();
    expect(admission.size).toBe(3);
    expect(admission.sizeFor('10.0.0.1')).toBe(1);
    admitOk(admission, '10.0.0.1');
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
    expect(admission.size).toBe(2);
  });
});
