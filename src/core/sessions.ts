/**
 * SessionManager: the one login pipeline every protocol uses (docs/design.md), the table of live
 * sessions, and the connections attached to each so that logging out ends them.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { GatewayError, type ErrorCode } from './errors.js';
import { silentLogger, type Logger } from './logger.js';
import { matchLanguage } from './messages.js';
import { verifyPassword } from './passwords.js';
import { allowed2faMethods, checkTransport, type Transport } from './policy.js';
import { Session, type Protocol } from './session.js';
import { normalizeSource } from './source-address.js';
import { LoginThrottle, type LockoutConfig, type LoginAttempt, type Lock, DEFAULT_LOCKOUT } from './throttle.js';
import { TotpVerifier, type Clock } from './totp.js';
import { parseAuthorizedKey, type UserDirectory, type UserRecord } from './users.js';

export interface LoginRequest {
  username: string;
  password?: string;
  otp?: string;
  partial_session_id?: string;
  /** An SSH public key whose signature the adapter has already verified. */
  publicKey?: { type: string; blob: Buffer };
  /** The password may carry the TOTP code appended (FTP PASS, SSH `password`). */
  otpMayBeAppended?: boolean;
  protocol: Protocol;
  remoteAddress: string;
  transport: Transport;
  /** Language for refusals before the user is known (Accept-Language, FTP LANG). */
  language?: string;
  /** Marks retries of one request (HTTP SDK retries): a repeated failure counts once. */
  dedupeKey?: string;
  /** The session ends when its last attached connection detaches (SFTP/FTP logins). */
  endWithConnection?: boolean;
}

/** Something live under a session (an SFTP connection, an FTP control connection). */
export interface ConnectionHandle {
  /** Ends the connection; `reason` says why (SESSION_ENDED on logout, SHUTTING_DOWN on close). */
  end(reason: GatewayError): void;
}

export interface SessionManagerOptions {
  users: UserDirectory;
  lockout?: LockoutConfig;
  loginTokenDomain?: string;
  /** Idle time after which a session with no live connection (HTTP logins) expires. */
  idleTimeoutMs?: number;
  partialSessionTtlMs?: number;
  /**
   * Sessions one user may hold; past it, a new login ends the user's least recently used session
   * that has no live connection (repeated HTTP logins cannot pile up for hours). Default 100.
   */
  maxSessionsPerUser?: number;
  logger?: Logger;
  clock?: Clock;
  /** A stable name of this process in session listings; default `<hostname>:<pid>`. */
  node?: string;
}

/** One live session as an operator sees it (admin API, CLI): no credential but the id. */
export interface SessionSummary {
  id: string;
  username: string;
  protocol: Protocol;
  remote_address: string;
  /** ISO 8601. */
  created_at: string;
  /** ISO 8601: the last login, request, connection attach or detach. */
  last_active_at: string;
  /** The process holding the session. */
  node: string;
  /** Live SFTP/FTP connections attached to it (0 for HTTP logins). */
  connections: number;
}

/** One login attempt as metrics see it: no username, no address. */
export interface LoginOutcome {
  protocol: Protocol;
  /** The refusal's error code; absent on success. */
  reason?: ErrorCode;
}

export interface SessionManagerEvents {
  login: [outcome: LoginOutcome];
  created: [session: Session];
  deleted: [session: Session, reason: ErrorCode];
}

interface PartialLogin {
  username: string;
  expiresAt: number;
}

interface LiveSession {
  session: Session;
  connections: Set<ConnectionHandle>;
  endWithConnection: boolean;
  lastUsed: number;
}

const PARTIAL_TTL_MS = 5 * 60_000;
const DEFAULT_IDLE_MS = 6 * 60 * 60_000;
const DEDUPE_WINDOW_MS = 30_000;
const DEFAULT_MAX_SESSIONS_PER_USER = 100;
const MAX_PARTIALS = 10_000;
const APPENDED_CODE = /^([\s\S]*?)(\d{6})$/;

const newId = (): string => randomBytes(20).toString('hex');

export class SessionManager extends EventEmitter<SessionManagerEvents> {
  readonly throttle: LoginThrottle;
  private readonly totp: TotpVerifier;
  private readonly live = new Map<string, LiveSession>();
  private readonly partials = new Map<string, PartialLogin>();
  private readonly recentFailures = new Map<string, number>();
  /** The last queued login attempt per username (see oneAtATime). */
  private readonly attempts = new Map<string, Promise<void>>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly idleMs: number;
  private readonly idleTimer: NodeJS.Timeout;
  /** This process's name in session listings. */
  readonly node: string;

  constructor(private readonly options: SessionManagerOptions) {
    super();
    this.clock = options.clock ?? Date.now;
    this.logger = (options.logger ?? silentLogger).child({ component: 'sessions' });
    this.throttle = new LoginThrottle(options.lockout ?? DEFAULT_LOCKOUT, this.clock);
    this.totp = new TotpVerifier(this.clock);
    this.idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_MS;
    this.node = options.node ?? `${hostname()}:${process.pid}`;
    this.idleTimer = setInterval(() => this.expireIdle(), Math.min(60_000, this.idleMs)).unref();
  }

  /** Logs in. Resolves with the new Session or rejects with a GatewayError (a login refusal). */
  async create(login: LoginRequest): Promise<Session> {
    const request = { ...login, remoteAddress: normalizeSource(login.remoteAddress) };
    const audit = {
      event: 'login',
      username: request.username,
      protocol: request.protocol,
      remote: request.remoteAddress,
      ...describeTransport(request.transport),
    };
    try {
      const session = await this.oneAtATime(request.username, () => this.login(request));
      this.logger.info({ ...audit, outcome: 'success', session: session.ref }, 'login succeeded');
      this.emit('login', { protocol: request.protocol });
      return session;
    } catch (err) {
      const error = err instanceof GatewayError ? err : new GatewayError('INTERNAL', String(err), { cause: err });
      if (request.language) error.language = request.language;
      this.logger.warn({ ...audit, outcome: 'failure', reason: error.code, detail: error.message }, 'login refused');
      this.emit('login', { protocol: request.protocol, reason: error.code });
      throw error;
    }
  }

  /** The live session with this id (and marks it used); undefined if unknown or idle too long. */
  get(id: string): Session | undefined {
    const entry = this.live.get(id);
    if (!entry) return undefined;
    // The sweep runs at most once a minute: an idle session must not serve a request meanwhile.
    if (this.isIdle(entry, this.clock())) {
      this.delete(id, 'SESSION_ENDED');
      return undefined;
    }
    entry.lastUsed = this.clock();
    return entry.session;
  }

  /** Every live session (callers `await` it: a shared store answers asynchronously). */
  list(): SessionSummary[] {
    return [...this.live.values()].map((entry) => ({
      id: entry.session.id,
      username: entry.session.username,
      protocol: entry.session.origin.protocol,
      remote_address: entry.session.origin.remoteAddress,
      created_at: entry.session.origin.createdAt.toISOString(),
      last_active_at: new Date(entry.lastUsed).toISOString(),
      node: this.node,
      connections: entry.connections.size,
    }));
  }

  /** Logs out: forgets the session and ends every connection attached to it. False if unknown. */
  delete(id: string, reason: ErrorCode = 'SESSION_ENDED'): boolean {
    const entry = this.live.get(id);
    if (!entry) return false;
    this.live.delete(id);
    const error = new GatewayError(reason, `session ${entry.session.ref} ended: ${reason}`, {
      text: reason === 'SHUTTING_DOWN' ? 'shutting_down' : 'session_ended',
    });
    for (const connection of entry.connections) connection.end(error);
    entry.connections.clear();
    this.logger.info(
      { event: 'logout', username: entry.session.username, protocol: entry.session.origin.protocol, session: entry.session.ref, reason },
      'session ended',
    );
    this.emit('deleted', entry.session, reason);
    return true;
  }

  /** Registers a live connection under a session; returns the function that detaches it. */
  attach(id: string, connection: ConnectionHandle): () => void {
    const entry = this.live.get(id);
    if (!entry) {
      connection.end(new GatewayError('SESSION_ENDED', 'attach to an unknown session', { text: 'session_ended' }));
      return () => {};
    }
    entry.connections.add(connection);
    entry.lastUsed = this.clock();
    return () => {
      if (!entry.connections.delete(connection)) return;
      entry.lastUsed = this.clock();
      if (entry.endWithConnection && entry.connections.size === 0) this.delete(entry.session.id, 'SESSION_ENDED');
    };
  }

  /**
   * Whether `key` is one of the user's authorized keys. Answers SSH public-key probes (RFC 4252
   * §7: a client asks before it signs) without logging in or counting a failure, so a client that
   * offers several agent keys is not pushed toward a lockout by the ones that do not match.
   */
  async acceptsPublicKey(username: string, key: { type: string; blob: Buffer }): Promise<boolean> {
    const user = await this.options.users.findUser(username);
    return user !== undefined && hasPublicKey(user, key);
  }

  /** Re-checks a live session's transport (after an SSH re-key); throws WEAK_CRYPTO if now forbidden. */
  recheckTransport(session: Session, transport: Transport): void {
    checkTransport(session, transport);
  }

  /** Ends every session (server shutdown). */
  close(): void {
    clearInterval(this.idleTimer);
    for (const id of [...this.live.keys()]) this.delete(id, 'SHUTTING_DOWN');
  }

  /**
   * Runs the attempts for one username one after another. In parallel, every guess of a burst would
   * pass the throttle check before the first failure is recorded: the lockout would not hold.
   */
  private oneAtATime<T>(username: string, attempt: () => Promise<T>): Promise<T> {
    const result = (this.attempts.get(username) ?? Promise.resolve()).then(attempt);
    const settled = result.then(() => {}, () => {});
    this.attempts.set(username, settled);
    void settled.then(() => {
      if (this.attempts.get(username) === settled) this.attempts.delete(username);
    });
    return result;
  }

  private async login(request: LoginRequest): Promise<Session> {
    const attempt = await this.throttle.begin(request.username, request.remoteAddress);
    if (!('end' in attempt)) throw this.lockError(attempt, request);
    try {
      return await this.authenticate(request, attempt);
    } finally {
      await attempt.end();
    }
  }

  private lockError(lock: Lock, request: LoginRequest): GatewayError {
    const minutes = Math.max(1, Math.ceil((lock.until - this.clock()) / 60_000));
    const data = { retry_at: new Date(lock.until).toISOString() };
    return lock.scope === 'source'
      ? new GatewayError('RATE_LIMITED', `source ${request.remoteAddress} is locked out`, { text: 'rate_limited', params: { minutes }, data })
      : new GatewayError('LOCKED_OUT', `user ${request.username} is locked out`, { text: 'locked_out', params: { minutes }, data });
  }

  private async authenticate(request: LoginRequest, attempt: LoginAttempt): Promise<Session> {
    let user: UserRecord;
    let code = request.otp;
    if (request.partial_session_id !== undefined) {
      user = await this.resumePartial(request);
    } else {
      const checked = await this.checkCredentials(request, attempt);
      user = checked.user;
      code ??= checked.appendedCode;
    }

    // Past the password (or key) the user is known: refusals may speak the user's language.
    try {
      if (user.totp_secret && request.partial_session_id === undefined && code === undefined) {
        throw this.codeRequired(user, request);
      }
      if (user.totp_secret && !this.totp.verify(user.username, user.totp_secret, code ?? '')) {
        this.recordFailure(request, attempt);
        throw new GatewayError('CODE_INCORRECT', 'wrong or replayed one-time code', { text: 'code_incorrect' });
      }

      if (user.two_factor_setup_needed) {
        const methods = allowed2faMethods(user);
        throw new GatewayError('SETUP_2FA_REQUIRED', '2FA setup needed', {
          text: 'setup_2fa_required',
          params: { methods: methods.join(', ') || 'none' },
          data: { two_factor_authentication_methods: methods },
        });
      }

      checkTransport(user, request.transport);
      attempt.succeeded();
      return this.store(user, request);
    } catch (err) {
      if (err instanceof GatewayError) err.language ??= user.language;
      throw err;
    }
  }

  /** Password or public key; unknown users cost the same as known ones. */
  private async checkCredentials(request: LoginRequest, attempt: LoginAttempt): Promise<{ user: UserRecord; appendedCode?: string }> {
    const user = await this.options.users.findUser(request.username);
    if (request.publicKey) {
      if (user && hasPublicKey(user, request.publicKey)) return { user };
    } else if (request.password !== undefined) {
      const hash = user?.password_hash;
      if (await verifyPassword(request.password, hash)) return { user: user! };
      const split = request.otpMayBeAppended ? APPENDED_CODE.exec(request.password) : null;
      // Only a user with TOTP may split a code off: otherwise "secret" + any 6 digits would pass.
      if (split && (await verifyPassword(split[1]!, hash)) && user?.totp_secret) {
        return { user, appendedCode: split[2]! };
      }
    }
    this.recordFailure(request, attempt);
    throw new GatewayError('AUTH_FAILED', user ? 'wrong credentials' : 'unknown user', { text: 'auth_failed' });
  }

  private async resumePartial(request: LoginRequest): Promise<UserRecord> {
    const id = request.partial_session_id!;
    const partial = this.partials.get(id);
    this.partials.delete(id); // single use, whatever happens next
    const user = partial && partial.expiresAt > this.clock() && partial.username === request.username
      ? await this.options.users.findUser(request.username)
      : undefined;
    if (!user) {
      throw new GatewayError('PARTIAL_SESSION_INVALID', 'unknown or expired partial_session_id', {
        text: 'partial_session_invalid',
      });
    }
    if (request.otp === undefined) throw this.codeRequired(user, request);
    return user;
  }

  private codeRequired(user: UserRecord, request: LoginRequest): GatewayError {
    const now = this.clock();
    for (const [key, p] of this.partials) if (p.expiresAt <= now || this.partials.size >= MAX_PARTIALS) this.partials.delete(key);
    const partialId = newId();
    this.partials.set(partialId, { username: user.username, expiresAt: now + (this.options.partialSessionTtlMs ?? PARTIAL_TTL_MS) });
    return new GatewayError('CODE_REQUIRED', 'one-time code required', {
      text: request.otpMayBeAppended ? 'code_required_appended' : 'code_required',
      data: { partial_session_id: partialId, two_factor_authentication_methods: ['totp'] },
    });
  }

  private recordFailure(request: LoginRequest, attempt: LoginAttempt): void {
    if (request.dedupeKey !== undefined) {
      const now = this.clock();
      for (const [key, at] of this.recentFailures) if (at <= now - DEDUPE_WINDOW_MS) this.recentFailures.delete(key);
      const key = createHash('sha256').update(request.dedupeKey).digest('hex');
      if (this.recentFailures.has(key)) return;
      this.recentFailures.set(key, now);
    }
    attempt.failed();
  }

  private store(user: UserRecord, request: LoginRequest): Session {
    this.makeRoomFor(user.username);
    const session = new Session(
      {
        id: newId(),
        language: matchLanguage(user.language) ?? user.language,
        login_token: randomBytes(24).toString('base64url'),
        login_token_domain: this.options.loginTokenDomain ?? '',
        max_dir_listing_size: user.max_dir_listing_size,
        multiple_regions: user.multiple_regions,
        read_only: user.read_only,
        root_path: user.root_path,
        sftp_insecure_ciphers: user.sftp_insecure_ciphers,
        site_id: user.site_id,
        ssl_required: user.ssl_required,
        tls_disabled: user.tls_disabled,
        two_factor_setup_needed: user.two_factor_setup_needed,
        allowed_2fa_method_sms: user.allowed_2fa_method_sms,
        allowed_2fa_method_totp: user.allowed_2fa_method_totp,
        allowed_2fa_method_u2f: user.allowed_2fa_method_u2f,
        allowed_2fa_method_yubi: user.allowed_2fa_method_yubi,
        use_provided_modified_at: user.use_provided_modified_at,
        windows_mode_ftp: user.windows_mode_ftp,
      },
      { username: user.username, protocol: request.protocol, remoteAddress: request.remoteAddress, createdAt: new Date(this.clock()) },
    );
    this.live.set(session.id, {
      session,
      connections: new Set(),
      endWithConnection: request.endWithConnection ?? false,
      lastUsed: this.clock(),
    });
    this.emit('created', session);
    return session;
  }

  private makeRoomFor(username: string): void {
    const cap = this.options.maxSessionsPerUser ?? DEFAULT_MAX_SESSIONS_PER_USER;
    const mine = [...this.live.values()].filter((entry) => entry.session.username === username);
    const evictable = mine.filter((entry) => entry.connections.size === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    for (let excess = mine.length - cap + 1; excess > 0 && evictable.length > 0; excess--) {
      this.delete(evictable.shift()!.session.id, 'SESSION_ENDED');
    }
  }

  /** Only sessions with no live connection idle out (HTTP logins); connections keep theirs alive. */
  private isIdle(entry: LiveSession, now: number): boolean {
    return entry.connections.size === 0 && entry.lastUsed < now - this.idleMs;
  }

  private expireIdle(): void {
    const now = this.clock();
    for (const [id, entry] of this.live) if (this.isIdle(entry, now)) this.delete(id, 'SESSION_ENDED');
  }
}

function hasPublicKey(user: UserRecord, key: { type: string; blob: Buffer }): boolean {
  let found = false;
  for (const line of user.public_keys) {
    const parsed = parseAuthorizedKey(line);
    if (parsed && parsed.type === key.type && parsed.blob.length === key.blob.length && timingSafeEqual(parsed.blob, key.blob)) {
      found = true;
    }
  }
  return found;
}

function describeTransport(transport: Transport): Record<string, unknown> {
  if (transport.kind === 'ssh') return { ssh: transport.algorithms };
  if (transport.kind === 'ftp') return { tls: transport.tlsVersion ?? 'none' };
  return {};
}
