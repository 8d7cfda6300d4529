/**
 * SessionManager: the one login pipeline every protocol uses (docs/design.md), the table of live
 * sessions, and the connections attached to each so that logging out ends them.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { ERROR_CODES, GatewayError, type ErrorCode } from './errors.js';
import { silentLogger, type Logger } from './logger.js';
import { matchLanguage } from './messages.js';
import { DEFAULT_PASSWORD_CACHE, PasswordCache, type PasswordCacheConfig } from './password-cache.js';
import { verifyPassword } from './passwords.js';
import { allowed2faMethods, checkTransport, type Transport } from './policy.js';
import { Session, type Protocol } from './session.js';
import { MemoryStore } from './store/memory-store.js';
import type { GatewayStore, SessionRecord } from './store/store.js';
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
  /**
   * When the connection last did something (epoch ms): a request, a command, transfer progress.
   * Read only when the session is listed or the heartbeat writes it out, so it costs nothing per operation.
   */
  lastActivity?(): number;
}

export interface SessionManagerOptions {
  users: UserDirectory;
  lockout?: LockoutConfig;
  /** Remembers verified passwords (an HMAC under a per-process key) to spare repeated scrypt checks; default on. */
  passwordCache?: PasswordCacheConfig;
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
  /** Where sessions, partial logins, the replay guard and the lockout live; default: this process. */
  store?: GatewayStore;
  /** A stable id of this process among the nodes sharing the store; default: host, pid and a nonce. */
  node?: string;
  /** How long a session stays in the store after its node's last heartbeat. */
  storeTtlMs?: number;
}

/** One session as an operator sees it (admin API, CLI), wherever it is held: no credential but the id. */
export interface SessionSummary {
  id: string;
  username: string;
  protocol: Protocol;
  remote_address: string;
  /** ISO 8601. */
  created_at: string;
  /** ISO 8601: the last login, request, connection attach or detach (another node's: as of its last refresh). */
  last_active_at: string;
  /** The node (process) holding the session's connections. */
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
/** A node refreshes its sessions in the store every third of this; a dead node's leave after it. */
export const DEFAULT_SESSION_TTL_MS = 30_000;
const APPENDED_CODE = /^([\s\S]*?)(\d{6})$/;

const newId = (): string => randomBytes(20).toString('hex');

/** The session's own last use (login, HTTP request) or its connections' latest activity. */
function lastActive(entry: LiveSession): number {
  let latest = entry.lastUsed;
  for (const connection of entry.connections) latest = Math.max(latest, connection.lastActivity?.() ?? 0);
  return latest;
}

export class SessionManager extends EventEmitter<SessionManagerEvents> {
  readonly throttle: LoginThrottle;
  /** This process's id among the nodes sharing the store. */
  readonly node: string;
  private readonly totp: TotpVerifier;
  /** Absent when `passwordCache.enabled` is false: every check runs scrypt. */
  private readonly passwords?: PasswordCache;
  private readonly state: GatewayStore;
  private readonly live = new Map<string, LiveSession>();
  /** Store removals under way (close() waits for them before the store goes). */
  private readonly removals = new Set<Promise<unknown>>();
  /** The last queued login attempt per username (see oneAtATime). */
  private readonly attempts = new Map<string, Promise<void>>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly idleMs: number;
  private readonly idleTimer: NodeJS.Timeout;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly storeTtlMs: number;

  constructor(private readonly options: SessionManagerOptions) {
    super();
    this.clock = options.clock ?? Date.now;
    this.logger = (options.logger ?? silentLogger).child({ component: 'sessions' });
    this.state = options.store ?? new MemoryStore(this.clock);
    this.node = options.node ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.throttle = new LoginThrottle(options.lockout ?? DEFAULT_LOCKOUT, this.clock, this.state.counters);
    this.totp = new TotpVerifier(this.clock, this.state);
    const passwordCache = options.passwordCache ?? DEFAULT_PASSWORD_CACHE;
    if (passwordCache.enabled) this.passwords = new PasswordCache(passwordCache, this.clock);
    this.idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_MS;
    this.idleTimer = setInterval(() => this.expireIdle(), Math.min(60_000, this.idleMs)).unref();
    this.storeTtlMs = options.storeTtlMs ?? DEFAULT_SESSION_TTL_MS;
    this.heartbeat = setInterval(() => void this.refreshStore(), this.storeTtlMs / 3).unref();
    this.state.onEndRequest(this.node, (id, reason) => {
      this.endLocal(id, (ERROR_CODES as readonly string[]).includes(reason) ? (reason as ErrorCode) : 'SESSION_ENDED');
    });
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

  /**
   * The session with this id, held here (and then marked used) or by another node; undefined if
   * unknown or idle too long. Rejects with UNAVAILABLE when a shared store cannot answer.
   */
  async get(id: string): Promise<Session | undefined> {
    const entry = this.live.get(id);
    if (entry) {
      // The sweep runs at most once a minute: an idle session must not serve a request meanwhile.
      if (this.isIdle(entry, this.clock())) {
        this.endLocal(id, 'SESSION_ENDED');
        return undefined;
      }
      entry.lastUsed = this.clock();
      return entry.session;
    }
    const record = await this.state.getSession(id);
    return record && record.node !== this.node ? sessionOf(record) : undefined;
  }

  /** Every node's sessions (this node's first). */
  async list(): Promise<SessionSummary[]> {
    const local = [...this.live.values()].map((entry) => infoOf(this.record(entry)));
    const remote = (await this.state.listSessions()).filter((record) => record.node !== this.node).map(infoOf);
    return [...local, ...remote];
  }

  /**
   * Logs out: forgets the session and ends every connection attached to it, on whichever node holds
   * them. False if unknown. A session held here ends before this returns.
   */
  async delete(id: string, reason: ErrorCode = 'SESSION_ENDED'): Promise<boolean> {
    if (this.endLocal(id, reason)) return true;
    const record = await this.state.removeSession(id);
    if (!record) return false;
    if (record.node !== this.node) await this.state.requestEnd(record.node, id, reason);
    return true;
  }

  /** Ends a session held by this node, at once. */
  private endLocal(id: string, reason: ErrorCode): boolean {
    const entry = this.live.get(id);
    if (!entry) return false;
    this.live.delete(id);
    const removal = this.state.removeSession(id).catch((err: unknown) => {
      // Unreachable store: the record expires by itself (no heartbeat refreshes it any more).
      this.logger.warn({ event: 'store_remove_failed', session: entry.session.ref, err }, 'session left in the store until it expires');
    });
    this.removals.add(removal);
    void removal.then(() => this.removals.delete(removal));
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
      if (entry.endWithConnection && entry.connections.size === 0) this.endLocal(entry.session.id, 'SESSION_ENDED');
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

  /** Ends every session of this node (server shutdown); resolves when the store has forgotten them. */
  async close(): Promise<void> {
    clearInterval(this.idleTimer);
    clearInterval(this.heartbeat);
    for (const id of [...this.live.keys()]) this.endLocal(id, 'SHUTTING_DOWN');
    await Promise.allSettled([...this.removals]);
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
      // An unreachable store cannot settle: the reservations expire there by themselves.
      await attempt.end().catch((err: unknown) => this.logger.warn({ event: 'throttle_settle_failed', err }, 'attempt not settled'));
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
        throw await this.codeRequired(user, request);
      }
      if (user.totp_secret && !(await this.totp.verify(user.username, user.totp_secret, code ?? ''))) {
        await this.recordFailure(request, attempt);
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
      return await this.keep(user, request);
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
      if (await this.checkPassword(request.password, hash)) return { user: user! };
      const split = request.otpMayBeAppended ? APPENDED_CODE.exec(request.password) : null;
      // Only a user with TOTP may split a code off: otherwise "secret" + any 6 digits would pass.
      // Anyone else's split check skips the cache: its speed would tell that the prefix is the
      // password, while the login fails (a TOTP user's CODE_INCORRECT tells that anyway).
      if (split && (await this.checkPassword(split[1]!, hash, Boolean(user?.totp_secret))) && user?.totp_secret) {
        return { user, appendedCode: split[2]! };
      }
    }
    await this.recordFailure(request, attempt);
    throw new GatewayError('AUTH_FAILED', user ? 'wrong credentials' : 'unknown user', { text: 'auth_failed' });
  }

  /** scrypt, or the password cache when it is on and `cached`. */
  private checkPassword(password: string, hash: string | undefined, cached = true): Promise<boolean> {
    return cached && this.passwords ? this.passwords.check(password, hash) : verifyPassword(password, hash);
  }

  private async resumePartial(request: LoginRequest): Promise<UserRecord> {
    const username = await this.state.takePartial(request.partial_session_id!); // single use, whatever happens next
    const user = username === request.username ? await this.options.users.findUser(request.username) : undefined;
    if (!user) {
      throw new GatewayError('PARTIAL_SESSION_INVALID', 'unknown or expired partial_session_id', {
        text: 'partial_session_invalid',
      });
    }
    if (request.otp === undefined) throw await this.codeRequired(user, request);
    return user;
  }

  private async codeRequired(user: UserRecord, request: LoginRequest): Promise<GatewayError> {
    const partialId = newId();
    await this.state.putPartial(partialId, user.username, this.options.partialSessionTtlMs ?? PARTIAL_TTL_MS);
    return new GatewayError('CODE_REQUIRED', 'one-time code required', {
      text: request.otpMayBeAppended ? 'code_required_appended' : 'code_required',
      data: { partial_session_id: partialId, two_factor_authentication_methods: ['totp'] },
    });
  }

  private async recordFailure(request: LoginRequest, attempt: LoginAttempt): Promise<void> {
    if (request.dedupeKey !== undefined) {
      const key = createHash('sha256').update(request.dedupeKey).digest('hex');
      if (!(await this.state.claimOnce(`retry:${key}`, DEDUPE_WINDOW_MS))) return;
    }
    attempt.failed();
  }

  /** Keeps a new session here and in the store; an unreachable store refuses the login. */
  private async keep(user: UserRecord, request: LoginRequest): Promise<Session> {
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
    const entry: LiveSession = { session, connections: new Set(), endWithConnection: request.endWithConnection ?? false, lastUsed: this.clock() };
    this.live.set(session.id, entry);
    try {
      await this.state.saveSessions([this.record(entry)], this.storeTtlMs);
    } catch (err) {
      this.live.delete(session.id);
      throw err;
    }
    this.emit('created', session);
    return session;
  }

  private record(entry: LiveSession): SessionRecord {
    const { origin } = entry.session;
    return {
      fields: entry.session.toJSON(),
      origin: { ...origin, createdAt: origin.createdAt.toISOString() },
      node: this.node,
      lastActiveAt: new Date(lastActive(entry)).toISOString(),
      connections: entry.connections.size,
    };
  }

  /** The heartbeat: this node's sessions stay in the store while it lives (and return after a store outage). */
  private async refreshStore(): Promise<void> {
    try {
      await this.state.saveSessions([...this.live.values()].map((entry) => this.record(entry)), this.storeTtlMs);
    } catch (err) {
      this.logger.warn({ event: 'store_refresh_failed', err }, 'sessions not refreshed in the store');
    }
  }

  private makeRoomFor(username: string): void {
    const cap = this.options.maxSessionsPerUser ?? DEFAULT_MAX_SESSIONS_PER_USER;
    const mine = [...this.live.values()].filter((entry) => entry.session.username === username);
    const evictable = mine.filter((entry) => entry.connections.size === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    for (let excess = mine.length - cap + 1; excess > 0 && evictable.length > 0; excess--) {
      this.endLocal(evictable.shift()!.session.id, 'SESSION_ENDED');
    }
  }

  /** Only sessions with no live connection idle out (HTTP logins); connections keep theirs alive. */
  private isIdle(entry: LiveSession, now: number): boolean {
    return entry.connections.size === 0 && entry.lastUsed < now - this.idleMs;
  }

  private expireIdle(): void {
    const now = this.clock();
    for (const [id, entry] of this.live) if (this.isIdle(entry, now)) this.endLocal(id, 'SESSION_ENDED');
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

function sessionOf(record: SessionRecord): Session {
  return new Session(record.fields, { ...record.origin, createdAt: new Date(record.origin.createdAt) });
}

function infoOf(record: SessionRecord): SessionSummary {
  return {
    id: record.fields.id,
    username: record.origin.username,
    protocol: record.origin.protocol,
    remote_address: record.origin.remoteAddress,
    created_at: record.origin.createdAt,
    last_active_at: record.lastActiveAt,
    node: record.node,
    connections: record.connections,
  };
}
