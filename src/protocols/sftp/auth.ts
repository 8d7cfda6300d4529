/**
 * SSH user authentication -> the core's login pipeline (docs/design.md, "The login
 * pipeline"). One instance per connection: it remembers a half-finished two-factor login and counts
 * failed attempts.
 *   - keyboard-interactive asks `Password:`, then `Authentication code:` when the core wants one;
 *   - `password` and `publickey` answer SSH partial success for a user who needs a code, leaving
 *     keyboard-interactive to ask only for the code; `password` may also carry the code appended.
 * Every refusal's text (in the table's words) is shown as an auth banner.
 */
import ssh2 from 'ssh2';
import type { AuthContext, AuthenticationType, KeyboardAuthContext, PublicKeyAuthContext } from 'ssh2';
import type { ErrorCode, LoginRequest, Session, SessionManager, Transport } from '../../core/index.js';
import { describeError } from '../error-map.js';

/** Failed attempts allowed on one connection (OpenSSH's MaxAuthTries default). */
export const MAX_AUTH_ATTEMPTS = 6;
const METHODS: AuthenticationType[] = ['publickey', 'keyboard-interactive', 'password'];
const PASSWORD_PROMPT = 'Password: ';
const CODE_PROMPT = 'Authentication code: ';
/** Refusals another attempt on this connection cannot change: the connection is closed after them. */
const FINAL_REFUSALS = new Set<ErrorCode>(['LOCKED_OUT', 'RATE_LIMITED', 'SETUP_2FA_REQUIRED', 'WEAK_CRYPTO']);

type Credentials = Pick<LoginRequest, 'password' | 'otp' | 'partial_session_id' | 'publicKey' | 'otpMayBeAppended'>;

export interface AuthenticatorOptions {
  sessions: SessionManager;
  remoteAddress: string;
  /** The algorithms negotiated by the latest key exchange. */
  transport(): Transport;
  /** Shows a refusal's text to the user (an auth banner). */
  showRefusal(text: string): void;
  /**
   * A login succeeded: hands the session to the connection; false if it may not have it (the
   * connection is gone or holds a session, or `abandoned()` says the client no longer waits for it).
   */
  loggedIn(session: Session, abandoned: () => boolean): Promise<boolean>;
  /** Too many failures, or a refusal that retrying cannot fix. */
  giveUp(): void;
}

/** A keyboard-interactive exchange the client abandoned (a new auth request or a disconnect). */
class PromptAborted extends Error {}

export class SshAuthenticator {
  private failures = 0;
  private askedForMethods = false;
  /** partial_session_id of a login whose first factor passed and that waits for its code. */
  private partialSessionId: string | undefined;
  /**
   * The client's latest request. ssh2 hands over a new one while a keyboard-interactive attempt
   * whose prompts were answered is still being checked (RFC 4252: the new request abandons it).
   */
  private current: AuthContext | undefined;

  constructor(private readonly options: AuthenticatorOptions) {}

  handle(ctx: AuthContext): void {
    this.current = ctx;
    switch (ctx.method) {
      case 'none':
        if (this.askedForMethods) return this.fail(ctx);
        this.askedForMethods = true; // a client's first "none" asks what we offer: not an attempt
        return ctx.reject(METHODS);
      case 'password':
        return void this.complete(ctx, () => this.login(ctx, { password: ctx.password, otpMayBeAppended: true }));
      case 'keyboard-interactive':
        return void this.keyboardInteractive(ctx);
      case 'publickey':
        return void this.publicKey(ctx);
      default:
        return this.fail(ctx);
    }
  }

  private keyboardInteractive(ctx: KeyboardAuthContext): Promise<void> {
    const partial = this.partialSessionId;
    this.partialSessionId = undefined; // single use, whatever the answer
    if (partial !== undefined) {
      return this.complete(ctx, async () => this.login(ctx, { partial_session_id: partial, otp: await this.ask(ctx, CODE_PROMPT) }));
    }
    return this.complete(ctx, async () => {
      const password = await this.ask(ctx, PASSWORD_PROMPT);
      try {
        return await this.login(ctx, { password, otpMayBeAppended: true });
      } catch (err) {
        const partialId = partialSessionIdOf(err);
        if (partialId === undefined) throw err;
        return this.login(ctx, { partial_session_id: partialId, otp: await this.ask(ctx, CODE_PROMPT) });
      }
    });
  }

  private async publicKey(ctx: PublicKeyAuthContext): Promise<void> {
    const parsed = ssh2.utils.parseKey(ctx.key.data);
    if (parsed instanceof Error || Array.isArray(parsed)) return this.fail(ctx);
    const publicKey = { type: parsed.type, blob: ctx.key.data };
    if (!ctx.signature) {
      // A probe: say "sign with it" only for a key the user has (accept() answers PK_OK).
      const known = await this.options.sessions.acceptsPublicKey(ctx.username, publicKey).catch(() => false);
      return known ? ctx.accept() : this.fail(ctx);
    }
    if (!ctx.blob || parsed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return this.fail(ctx);
    return this.complete(ctx, () => this.login(ctx, { publicKey }));
  }

  /**
   * One hidden prompt; rejects with PromptAborted if the client abandons the exchange, or abandoned
   * it already (a prompt must not interleave with the client's newer request).
   */
  private ask(ctx: KeyboardAuthContext, prompt: string): Promise<string> {
    if (this.current !== ctx) return Promise.reject(new PromptAborted());
    return new Promise((resolve, reject) => {
      ctx.prompt([{ prompt, echo: false }], (answers: string[] | Error) => {
        if (Array.isArray(answers)) resolve(answers[0] ?? '');
        else reject(new PromptAborted());
      });
    });
  }

  private login(ctx: AuthContext, credentials: Credentials): Promise<Session> {
    return this.options.sessions.create({
      username: ctx.username,
      ...credentials,
      protocol: 'sftp',
      remoteAddress: this.options.remoteAddress,
      transport: this.options.transport(),
      endWithConnection: true,
    });
  }

  /** Runs one attempt to its answer: success, partial success (a code is needed) or a refusal. */
  private async complete(ctx: AuthContext, attempt: () => Promise<Session>): Promise<void> {
    let admitted: boolean;
    try {
      admitted = await this.options.loggedIn(await attempt(), () => this.current !== ctx);
    } catch (err) {
      if (err instanceof PromptAborted) return;
      const partialId = partialSessionIdOf(err);
      if (partialId !== undefined && ctx.method !== 'keyboard-interactive') {
        this.partialSessionId = partialId;
        return ctx.reject(['keyboard-interactive'], true);
      }
      const described = describeError(err);
      this.options.showRefusal(described.message);
      return this.fail(ctx, FINAL_REFUSALS.has(described.code));
    }
    if (admitted) ctx.accept();
  }

  private fail(ctx: AuthContext, final = false): void {
    this.failures++;
    ctx.reject(METHODS);
    if (final || this.failures >= MAX_AUTH_ATTEMPTS) this.options.giveUp();
  }
}

/** The partial_session_id a CODE_REQUIRED refusal carries, if `err` is one. */
function partialSessionIdOf(err: unknown): string | undefined {
  const described = describeError(err);
  const id = described.data.partial_session_id;
  return described.code === 'CODE_REQUIRED' && typeof id === 'string' ? id : undefined;
}
