/**
 * One FTP control connection as a state machine without a socket: command lines go in
 * (`line()`), replies and effects go out through a ControlWire. It runs commands one at a time,
 * holds the connection's state (login, working directory, TYPE, PROT, REST, a pending rename), logs
 * in through the core, and ends itself on logout, idle or login timeout, or shutdown. Its data side
 * is a DataChannel; the commands live in commands/ and see it only as an FtpCommandContext.
 */
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { FtpConfig } from '../../config.js';
import type { AdmissionTicket, GatewayError, GuardedFs, Language, Logger, Session } from '../../core/index.js';
import type { AdapterContext } from '../context.js';
import { describeError } from '../error-map.js';
import { COMMANDS, type FtpCommandContext } from './commands/index.js';
import { DataChannel, transferAborted, type DirectReceiver } from './data-channel.js';
import { stripTelnet } from './line-reader.js';
import type { PassivePorts } from './passive.js';
import { FtpReply, formatReply } from './reply.js';
import type { FtpTls } from './tls.js';

type ConnectionTicket = Pick<AdmissionTicket, 'authenticated' | 'active' | 'lastActive'>;

/** For a control connection outside any listener (unit tests): no deadlines to tell. */
function untracked(): ConnectionTicket {
  let lastActive = Date.now();
  return { authenticated: () => {}, active: () => (lastActive = Date.now()), get lastActive() { return lastActive; } };
}

/** What every control connection of one adapter shares. */
export interface FtpServices {
  context: AdapterContext;
  config: FtpConfig;
  tls: FtpTls;
  ports: PassivePorts;
  logger: Logger;
}

/** The control connection's transport, as the state machine needs it (a socket in production). */
export interface ControlWire {
  /** The client's address (a PROXY header's behind a load balancer): logins, limits, active mode. */
  readonly remoteAddress: string;
  /** The address the control connection comes from: passive data connections must come from it too. */
  readonly transportPeer: string;
  readonly localAddress: string;
  /** Negotiated TLS version; null while plain. */
  readonly tlsVersion: string | null;
  write(text: string): void;
  /** Whether written replies wait for the client to read them. */
  readonly congested: boolean;
  /** Resolves when the client has read enough of the replies (or the connection closed). */
  drained(): Promise<void>;
  pause(): void;
  resume(): void;
  /** AUTH TLS: drops input read after the command, sends `reply`, runs the server handshake. */
  startTls(reply: string): Promise<void>;
  /** Ends the connection after what was written (forced after a grace). */
  end(): void;
}

/** Commands a client may send ahead; beyond this we stop reading until they are answered. */
const MAX_QUEUED = 16;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

interface Command {
  verb: string;
  arg: string;
  refusal?: FtpReply;
}

export class FtpControl implements FtpCommandContext {
  readonly logger: Logger;
  readonly config: FtpConfig;
  username: string | undefined;
  session: Session | undefined;
  cwd = '/';
  language: Language | undefined;
  ascii = false;
  dataProtected = false;
  readonly data: DataChannel;
  /** Set when the control connection starts closing: a transfer still running then is abandoned. */
  closing = false;

  private fs: GuardedFs | undefined;
  private gone = false;
  private restOffset = 0;
  private readonly queue: Command[] = [];
  private pumping = false;
  private readingPaused = false;
  private running: Promise<void> = Promise.resolve();
  private commandCount = 0;
  private renameFrom: { path: string; command: number } | undefined;
  private loginFailures = 0;
  private detachSession: (() => void) | undefined;
  /** Transfer progress when the core last asked whether the connection is busy. */
  private lastProgress = -1;
  /** Waiting in survives(): told true on a client line, false when the connection starts closing. */
  private readonly survivalWatchers = new Set<(alive: boolean) => void>();

  constructor(
    private readonly services: FtpServices,
    private readonly wire: ControlWire,
    /** Called once, when a login succeeds (the login deadline stops). */
    /** The connection's admission ticket: told of the login and of each command line. */
    private readonly ticket: ConnectionTicket = untracked(),
  ) {
    this.config = services.config;
    this.logger = services.logger.child({ remote: wire.remoteAddress });
    this.data = new DataChannel({
      config: services.config,
      tls: services.tls,
      ports: services.ports,
      sessions: services.context.sessions,
      peer: wire.remoteAddress,
      transportPeer: wire.transportPeer,
      logger: this.logger,
      reply: (code, text) => this.reply(code, text),
    });
  }

  get localAddress(): string {
    return this.wire.localAddress;
  }

  get tlsVersion(): string | null {
    return this.wire.tlsVersion;
  }

  get lang(): string | undefined {
    return this.language ?? this.session?.language;
  }

  get files(): GuardedFs {
    return this.fs!;
  }

  get mayWrite(): boolean {
    return this.files.writable;
  }

  /** The greeting. */
  greet(): void {
    this.reply(220, 'filegate FTP server ready.');
  }

  reply(code: number, ...lines: string[]): void {
    this.wire.write(formatReply(code, lines));
  }

  /** Answers a failed command: core errors through the error table, never with internal text. */
  replyError(err: unknown): void {
    if (err instanceof FtpReply) return this.reply(err.code, err.text);
    const described = describeError(err, this.lang);
    if (described.code === 'INTERNAL') this.logger.error({ err, session: this.session?.ref }, 'ftp command failed');
    this.reply(described.ftp, described.message);
  }

  path(arg: string): string {
    if (arg === '') throw new FtpReply(501, 'A path is required.');
    return this.files.resolvePath(arg, this.cwd);
  }

  setRestOffset(offset: number): void {
    this.restOffset = offset;
  }

  takeRestOffset(): number {
    const offset = this.restOffset;
    this.restOffset = 0;
    return offset;
  }

  rememberRename(virtualPath: string): void {
    this.renameFrom = { path: virtualPath, command: this.commandCount };
  }

  takeRename(): string | undefined {
    const from = this.renameFrom;
    this.renameFrom = undefined;
    return from && from.command === this.commandCount - 1 ? from.path : undefined;
  }

  async login(username: string, password: string): Promise<void> {
    const { sessions, openFs } = this.services.context;
    let session: Session;
    try {
      session = await sessions.create({
        username,
        password,
        otpMayBeAppended: true,
        protocol: 'ftp',
        remoteAddress: this.wire.remoteAddress,
        transport: { kind: 'ftp', tlsVersion: this.tlsVersion },
        language: this.language,
        endWithConnection: true,
      });
    } catch (err) {
      this.replyError(err);
      if (++this.loginFailures >= this.config.maxLoginFailuresPerConnection) {
        this.logger.warn({ event: 'ftp_login_limit', failures: this.loginFailures }, 'too many failed logins on one connection');
        this.reply(421, 'Too many failed logins: closing the connection.');
        this.close();
      }
      return;
    }
    try {
      this.fs = await openFs(session);
    } catch (err) {
      sessions.delete(session.id);
      throw err;
    }
    this.detachSession = sessions.attach(session.id, {
      end: (reason) => this.end(reason),
      // A transfer under way counts as activity, like a command.
      lastActivity: () => (this.data.progress() >= 0 ? Date.now() : this.ticket.lastActive),
    });
    if (this.closing) return this.detachSession(); // the client left while the password was checked
    this.session = session;
    this.ticket.authenticated();
    this.reply(230, 'Login successful.');
  }

  /** AUTH TLS. Commands pipelined after AUTH in plaintext are dropped (they must never run as if sent over TLS). */
  async startTls(): Promise<void> {
    this.queue.length = 0;
    this.username = undefined;
    await this.wire.startTls(formatReply(234, ['AUTH TLS successful.']));
  }

  async transferData(resource: Readable | Writable, opening: string, move: (data: Socket) => Promise<void>, receiver?: DirectReceiver): Promise<void> {
    await this.data.transfer({ session: this.session!, protect: this.dataProtected }, resource, opening, move, receiver);
    this.reply(226, 'Transfer complete.');
  }

  survives(ms: number): Promise<boolean> {
    if (this.closing) return Promise.resolve(false);
    return new Promise((resolve) => {
      const settle = (alive: boolean): void => {
        clearTimeout(timer);
        this.survivalWatchers.delete(settle);
        resolve(alive);
      };
      // The last look comes after one more I/O poll: if the event loop lagged past the timer, a
      // close that arrived meanwhile is seen first.
      const timer = setTimeout(() => setImmediate(() => settle(!this.closing)), ms);
      this.survivalWatchers.add(settle);
    });
  }

  close(): void {
    this.markClosing();
    this.data.abort(transferAborted('control connection closing'));
    this.wire.end();
  }

  /** Not logged in within `loginTimeoutSeconds`: 421 and close, whatever the client sent meanwhile. */
  loginTimedOut(): void {
    if (this.session || this.closing) return;
    this.reply(421, 'Login timeout: closing the control connection.');
    this.close();
  }

  /** A command line from the client (without its line end). */
  line(bytes: Buffer): void {
    this.ticket.active();
    for (const watcher of this.survivalWatchers) watcher(true);
    let text: string;
    try {
      text = UTF8.decode(stripTelnet(bytes));
    } catch {
      return this.enqueue({ verb: '', arg: '', refusal: new FtpReply(501, 'Command is not valid UTF-8.') });
    }
    const space = text.indexOf(' ');
    const verb = (space === -1 ? text : text.slice(0, space)).toUpperCase();
    const arg = space === -1 ? '' : text.slice(space + 1); // verbatim: quotes and leading "-" are part of names
    // ABOR must reach a running transfer, which holds the queue until it ends.
    if (verb === 'ABOR' && this.data.busy) {
      void this.abortTransfer();
      return;
    }
    this.enqueue({ verb, arg });
  }

  /** A line longer than the limit (skipped up to its end). */
  lineTooLong(): void {
    this.enqueue({ verb: '', arg: '', refusal: new FtpReply(500, 'Command line too long.') });
  }

  /** The client ended its side. */
  peerEnded(): void {
    this.markClosing();
  }

  /** The connection is gone: nothing of it survives. */
  closed(): void {
    if (this.gone) return;
    this.gone = true;
    this.markClosing();
    this.queue.length = 0;
    this.data.close(transferAborted('control connection closed'));
    this.detachSession?.();
  }

  /** ABOR while a transfer runs or waits: it ends with 426, then ABOR is answered. */
  private async abortTransfer(): Promise<void> {
    this.data.abort(transferAborted('ABOR from the client'));
    await this.running;
    this.reply(226, 'ABOR successful.');
  }

  /** Logout or shutdown from the core: 421 with the reason, then close. */
  private end(reason: GatewayError): void {
    const described = describeError(reason, this.lang);
    this.reply(described.ftp, described.message);
    this.close();
  }

  private markClosing(): void {
    this.closing = true;
    for (const watcher of this.survivalWatchers) watcher(false);
  }

  private enqueue(command: Command): void {
    this.queue.push(command);
    if (this.queue.length >= MAX_QUEUED && !this.readingPaused) {
      this.readingPaused = true;
      this.wire.pause();
    }
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    while (this.queue.length > 0 && !this.closing) {
      const command = this.queue.shift()!;
      this.running = this.execute(command);
      await this.running;
      // A client that does not read its replies gets no more commands run.
      if (this.wire.congested) await this.wire.drained();
      if (this.readingPaused && this.queue.length < MAX_QUEUED / 2) {
        this.readingPaused = false;
        this.wire.resume();
      }
    }
    this.pumping = false;
  }

  private async execute({ verb, arg, refusal }: Command): Promise<void> {
    this.commandCount++;
    const command = refusal || !Object.hasOwn(COMMANDS, verb) ? undefined : COMMANDS[verb];
    try {
      if (refusal) throw refusal;
      if (!command) throw new FtpReply(502, 'Command not implemented.');
      if (!command.beforeLogin && !this.session) throw new FtpReply(530, 'Please log in with USER and PASS.');
      await command.run(this, arg);
    } catch (err) {
      this.replyError(err);
    } finally {
      // REST applies to the transfer it prepares (RFC 3659 5.1): any other command drops it.
      if (!command?.keepsRestOffset) this.restOffset = 0;
    }
  }

  /** Whether a data transfer moved since the core last asked (transfers count as activity). */
  transferProgressed(): boolean {
    const progress = this.data.progress();
    const moved = progress >= 0 && progress !== this.lastProgress;
    this.lastProgress = progress;
    return moved;
  }

  /** No command and no transfer progress for `idleTimeoutSeconds` (the core's admission says so). */
  idleTimedOut(): void {
    if (this.closing) return;
    this.reply(421, 'Idle timeout: closing the control connection.');
    this.close();
  }

}
