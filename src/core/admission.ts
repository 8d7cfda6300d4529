/**
 * Admission: the one registry of live connections of a listener group (SFTP; FTP with implicit FTPS;
 * HTTP). It enforces the total and the per-source connection caps, the login deadline and the idle
 * timeout, so that no single source can fill a listener and no connection stays unauthenticated or
 * unused for long. What counts as activity is the adapter's to report (an SFTP request, an FTP
 * command); SSH keepalives and TCP traffic alone do not keep a connection.
 */
import { silentLogger, type Logger } from './logger.js';
import { normalizeSource, sourceKey } from './source-address.js';
import type { Clock } from './totp.js';

export interface AdmissionLimits {
  maxConnections: number;
  maxConnectionsPerSource: number;
  loginTimeoutMs: number;
  /** No activity this long: the connection is idle (0 = never). */
  idleTimeoutMs: number;
}

/** What admit() tells the adapter, which closes the connection in its protocol's way. */
export interface AdmissionEvents {
  /** Not logged in within the login timeout. */
  loginDeadline(): void;
  /** No activity for the idle timeout. */
  idle?(): void;
  /**
   * Asked before a connection counts as idle: true if it made progress the adapter does not report
   * call by call (an FTP data transfer), which counts as activity now.
   */
  busy?(): boolean;
}

export interface AdmissionTicket {
  /** The normalized client address. */
  readonly source: string;
  /** The connection has logged in: cancels the login deadline. */
  authenticated(): void;
  /** The client did something (a request, a command): the idle timeout starts again. Cheap. */
  active(): void;
  /** When the connection was last active (epoch ms; admission counts as activity). */
  readonly lastActive: number;
  /** The connection is gone: frees its place. Idempotent. */
  release(): void;
}

export type Admitted = { ok: true; ticket: AdmissionTicket } | { ok: false; reason: 'total' | 'per-source' };

export class Admission {
  private live = 0;
  /** Live tickets per source key (IPv6 grouped by /64). */
  private readonly perSource = new Map<string, number>();
  private readonly logger: Logger;
  private readonly clock: Clock;

  constructor(
    private readonly limits: AdmissionLimits,
    options: { clock?: Clock; logger?: Logger } = {},
  ) {
    // The listener's own logger: its lines say which listener refused or timed out a connection.
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? Date.now;
  }

  /**
   * Counts a new connection in, or says which cap refuses it. `events.loginDeadline` fires once if
   * the connection has not called `authenticated()` within the login timeout, `events.idle` once it
   * has not called `active()` for the idle timeout; the caller closes it.
   */
  admit(remoteAddress: string, events: AdmissionEvents): Admitted {
    const source = normalizeSource(remoteAddress);
    const key = sourceKey(source);
    const fromSource = this.perSource.get(key) ?? 0;
    if (this.live >= this.limits.maxConnections) return this.refuse(source, 'total');
    if (fromSource >= this.limits.maxConnectionsPerSource) return this.refuse(source, 'per-source');
    this.live++;
    this.perSource.set(key, fromSource + 1);

    const admittedAt = this.clock();
    let lastActive = admittedAt;
    let deadline: NodeJS.Timeout | undefined = setTimeout(() => {
      deadline = undefined;
      this.logger.info({ event: 'login_timeout', remote: source, ms: this.clock() - admittedAt }, 'not logged in in time');
      events.loginDeadline();
    }, this.limits.loginTimeoutMs);
    deadline.unref();
    const { idleTimeoutMs } = this.limits;
    // One timer per connection, re-armed for the remainder when it finds activity since it was set.
    const checkIdle = (): void => {
      if (events.busy?.()) lastActive = this.clock();
      const idleFor = this.clock() - lastActive;
      if (idleFor < idleTimeoutMs) {
        idleTimer = setTimeout(checkIdle, idleTimeoutMs - idleFor).unref();
        return;
      }
      idleTimer = undefined;
      this.logger.info({ event: 'idle_timeout', remote: source, ms: idleFor }, 'connection idle');
      events.idle?.();
    };
    let idleTimer: NodeJS.Timeout | undefined = idleTimeoutMs > 0 ? setTimeout(checkIdle, idleTimeoutMs).unref() : undefined;
    const cancel = (): void => {
      if (deadline) clearTimeout(deadline);
      deadline = undefined;
    };
    let released = false;
    const ticket: AdmissionTicket = {
      source,
      authenticated: () => {
        cancel();
        lastActive = this.clock();
      },
      active: () => {
        lastActive = this.clock();
      },
      get lastActive() {
        return lastActive;
      },
      release: () => {
        if (released) return;
        released = true;
        cancel();
        clearTimeout(idleTimer);
        this.live--;
        const left = this.perSource.get(key)! - 1;
        if (left > 0) this.perSource.set(key, left);
        else this.perSource.delete(key);
      },
    };
    return { ok: true, ticket };
  }

  private refuse(source: string, reason: 'total' | 'per-source'): Admitted {
    this.logger.warn({ event: 'connection_refused', remote: source, reason, live: this.live }, 'connection limit reached');
    return { ok: false, reason };
  }
}
