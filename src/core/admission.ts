/**
 * Admission: the one registry of live connections of a listener group (SFTP; FTP with implicit FTPS;
 * HTTP). It enforces the total and the per-source connection caps and the login deadline, so that no
 * single source can fill a listener and no connection can stay unauthenticated for long.
 */
import { silentLogger, type Logger } from './logger.js';
import { normalizeSource, sourceKey } from './source-address.js';
import type { Clock } from './totp.js';

export interface AdmissionLimits {
  maxConnections: number;
  maxConnectionsPerSource: number;
  loginTimeoutMs: number;
}

export interface AdmissionTicket {
  /** The normalized client address. */
  readonly source: string;
  /** The connection has logged in: cancels the login deadline. */
  authenticated(): void;
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
    this.logger = (options.logger ?? silentLogger).child({ component: 'admission' });
    this.clock = options.clock ?? Date.now;
  }

  get size(): number {
    return this.live;
  }

  sizeFor(remoteAddress: string): number {
    return this.perSource.get(sourceKey(remoteAddress)) ?? 0;
  }

  /**
   * Counts a new connection in, or says which cap refuses it. `onDeadline` fires once if the
   * connection has not called `authenticated()` within the login timeout; the caller closes it.
   */
  admit(remoteAddress: string, onDeadline: () => void): Admitted {
    const source = normalizeSource(remoteAddress);
    const key = sourceKey(source);
    const fromSource = this.perSource.get(key) ?? 0;
    if (this.live >= this.limits.maxConnections) return this.refuse(source, 'total');
    if (fromSource >= this.limits.maxConnectionsPerSource) return this.refuse(source, 'per-source');
    this.live++;
    this.perSource.set(key, fromSource + 1);

    const admittedAt = this.clock();
    let deadline: NodeJS.Timeout | undefined = setTimeout(() => {
      deadline = undefined;
      this.logger.info({ event: 'login_timeout', remote: source, ms: this.clock() - admittedAt }, 'not logged in in time');
      onDeadline();
    }, this.limits.loginTimeoutMs);
    deadline.unref();
    const cancel = (): void => {
      if (deadline) clearTimeout(deadline);
      deadline = undefined;
    };
    let released = false;
    const ticket: AdmissionTicket = {
      source,
      authenticated: cancel,
      release: () => {
        if (released) return;
        released = true;
        cancel();
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
