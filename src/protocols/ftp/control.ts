/**
 * One FTP control connection. It reads whole command lines, runs them one at a time, holds the
 * connection's state (login, working directory, TYPE, PROT, a pending rename), logs in through the
 * core, and ends itself on logout, idle timeout or shutdown. Its data side is a DataChannel; the
 * commands themselves live in commands/.
 */
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { FtpConfig } from '../../config.js';
import type { GatewayError, GuardedFs, Language, Logger, Session } from '../../core/index.js';
import type { AdapterContext } from '../context.js';
import { describeError } from '../error-map.js';
import { COMMANDS } from './commands/index.js';
import { DataChannel, transferAborted } from './data-channel.js';
import type { FtpConnection } from './ftp-srv.js';
import { LineReader, stripTelnet } from './line-reader.js';
import { normalizeAddress, type PassivePorts } from './passive.js';
import { FtpReply, formatReply } from './reply.js';
import type { FtpTls } from './tls.js';

/** What every control connection of one adapter shares. */
export interface FtpServices {
  context: AdapterContext;
  config: FtpConfig;
  tls: FtpTls;
  ports: PassivePorts;
  logger: Logger;
}

/** Room for a path of 4096 characters in UTF-8 plus the verb. */
const MAX_LINE_BYTES = 16 * 1024;
/** Commands a client may send ahead; beyond this we stop reading until they are answered. */
const MAX_QUEUED = 16;
/** After we end the control connection, the client has this long to close its side. */
const CLOSE_GRACE_MS = 2_000;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

interface Command {
  verb: string;
  arg: string;
  refusal?: FtpReply;
}

export class FtpControl {
  socket: Socket;
  /** Negotiated TLS version of the control connection; null while it is plain. */
  tlsVersion: string | null;
  readonly remoteAddress: string;
  readonly logger: Logger;
  /** Set by USER, consumed by PASS. */
  username: string | undefined;
  session: Session | undefined;
  fs: GuardedFs | undefined;
  /** Virtual path of the working directory. */
  cwd = '/';
  /** Chosen with LANG (RFC 2640); else the session's language. */
  language: Language | undefined;
  /** PROT P: data connections run TLS. */
  dataProtected = false;
  readonly data: DataChannel;
  /** Ends when the control connection starts closing: a transfer still running then is abandoned. */
  closing = false;

  private readonly reader: LineReader;
  private readonly queue: Command[] = [];
  private pumping = false;
  private readingPaused = false;
  private running: Promise<void> = Promise.resolve();
  private commandCount = 0;
  private renameFrom: { path: string; command: number } | undefined;
  private loginFailures = 0;
  private detachSession: (() => void) | undefined;
  private lastActivity = Date.now();
  private lastProgress = -1;
  private idleTimer: NodeJS.Timeout;
  private readonly onData = (chunk: Buffer): void => this.reader.push(chunk);
  /** Waiting in survives(): told true on a client line, false when the connection starts closing. */
  private readonly survivalWatchers = new Set<(alive: boolean) => void>();

  constructor(
    readonly services: FtpServices,
    readonly connection: FtpConnection,
    implicitTls: boolean,
  ) {
    const socket = connection.commandSocket;
    this.socket = socket;
    this.tlsVersion = implicitTls ? (socket as TLSSocket).getProtocol() : null;
    this.remoteAddress = normalizeAddress(socket.remoteAddress);
    this.logger = services.logger.child({ remote: this.remoteAddress });
    this.data = new DataChannel({
      config: services.config,
      tls: services.tls,
      ports: services.ports,
      sessions: services.context.sessions,
      peer: this.remoteAddress,
      logger: this.logger,
      reply: (code, text) => this.reply(code, text),
    });
    this.reader = new LineReader(MAX_LINE_BYTES, {
      line: (bytes) => this.received(bytes),
      tooLong: () => this.enqueue({ verb: '', arg: '', refusal: new FtpReply(500, 'Command line too long.') }),
    });
    socket.setNoDelay(true); // replies are small: Nagle would delay every one of them
    // ftp-srv's own reader parses each TCP segment as whole commands: ours buffers lines.
    socket.removeAllListeners('data');
    socket.on('data', this.onData);
    socket.once('end', () => this.markClosing());
    socket.once('close', () => this.cleanup());
    this.idleTimer = setTimeout(() => this.checkIdle(), this.idleMs).unref();
  }

  /** The language of replies a person reads. */
  get lang(): string | undefined {
    return this.language ?? this.session?.language;
  }

  get ascii(): boolean {
    return this.connection.transferType === 'ascii';
  }

  reply(code: number, ...lines: string[]): void {
    if (this.socket.writable) this.socket.write(formatReply(code, lines));
  }

  /** Answers a failed command: core errors through the error table, never with internal text. */
  replyError(err: unknown): void {
    if (err instanceof FtpReply) return this.reply(err.code, err.text);
    const described = describeError(err, this.lang);
    if (described.code === 'INTERNAL') this.logger.error({ err, session: this.session?.ref }, 'ftp command failed');
    this.reply(described.ftp, described.message);
  }

  /** The session's guarded filesystem (commands that need a login run only after one). */
  get files(): GuardedFs {
    return this.fs!;
  }

  /** Whether this session may write (MLSx `perm` facts say so); the core decides. */
  get mayWrite(): boolean {
    return this.files.writable;
  }

  /** A client path as a virtual path against the working directory. */
  path(arg: string): string {
    if (arg === '') throw new FtpReply(501, 'A path is required.');
    return this.files.resolvePath(arg, this.cwd);
  }

  /** The REST offset for this transfer; it applies to one transfer only. */
  takeRestOffset(): number {
    const offset = this.connection.restByteCount ?? 0;
    this.connection.restByteCount = 0;
    return offset;
  }

  rememberRename(virtualPath: string): void {
    this.renameFrom = { path: virtualPath, command: this.commandCount };
  }

  /** The RNFR path, only if RNFR was the command right before this one. */
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
        remoteAddress: this.remoteAddress,
        transport: { kind: 'ftp', tlsVersion: this.tlsVersion },
        language: this.language,
        endWithConnection: true,
      });
    } catch (err) {
      this.replyError(err);
      if (++this.loginFailures >= this.services.config.maxLoginFailuresPerConnection) {
        this.logger.warn({ event: 'ftp-login-limit', failures: this.loginFailures }, 'too many failed logins on one connection');
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
    this.detachSession = sessions.attach(session.id, { end: (reason) => this.end(reason) });
    if (this.closing) return this.detachSession(); // the client left while the password was checked
    this.session = session;
    this.reply(230, 'Login successful.');
  }

  /**
   * AUTH TLS. The plaintext reader is detached before the 234 reply: ftp-srv kept it, so the
   * client's ClientHello was sometimes read as a command. Plaintext pipelined after AUTH is dropped
   * (it must never run as if it had come over TLS).
   */
  async startTls(): Promise<void> {
    const plain = this.socket;
    plain.removeListener('data', this.onData);
    plain.pause();
    this.reader.clear();
    this.queue.length = 0;
    this.username = undefined;
    await new Promise<void>((resolve) => plain.write(formatReply(234, ['AUTH TLS successful.']), () => resolve()));
    const secure = new TLSSocket(plain, { isServer: true, secureContext: this.services.tls.control });
    secure.on('error', (err) => this.logger.debug({ err }, 'control connection TLS error'));
    secure.once('secure', () => (this.tlsVersion = secure.getProtocol()));
    secure.once('end', () => this.markClosing());
    secure.on('data', this.onData);
    this.socket = secure;
    this.connection.commandSocket = secure;
  }

  /** Runs one transfer on the data channel (see DataChannel.transfer), then answers 226. */
  async transferData(resource: Readable | Writable, opening: string, move: (data: Socket) => Promise<void>): Promise<void> {
    await this.data.transfer({ session: this.session!, protect: this.dataProtected }, resource, opening, move);
    this.reply(226, 'Transfer complete.');
  }

  /** ABOR while a transfer runs: it ends with 426, then ABOR is answered. */
  async abortTransfer(): Promise<void> {
    this.data.abort(transferAborted('ABOR from the client'));
    await this.running;
    this.reply(226, 'ABOR successful.');
  }

  /**
   * Resolves true if the control connection is still open after `ms` (early when the client sends
   * a line meanwhile: it is alive), false as soon as it starts closing.
   */
  survives(ms: number): Promise<boolean> {
    if (this.closing) return Promise.resolve(false);
    return new Promise((resolve) => {
      const settle = (alive: boolean): void => {
        clearTimeout(timer);
        this.survivalWatchers.delete(settle);
        resolve(alive);
      };
      const timer = setTimeout(() => settle(!this.closing), ms);
      this.survivalWatchers.add(settle);
    });
  }

  /** Ends the control connection after the replies already written. */
  close(): void {
    this.markClosing();
    this.data.abort(transferAborted('control connection closing'));
    this.socket.end();
    const socket = this.socket;
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Logout or shutdown from the core: 421 with the reason, then close. */
  private end(reason: GatewayError): void {
    const described = describeError(reason, this.lang);
    this.reply(described.ftp, described.message);
    this.close();
  }

  private get idleMs(): number {
    return this.services.config.idleTimeoutSeconds * 1000;
  }

  private received(bytes: Buffer): void {
    this.lastActivity = Date.now();
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

  private enqueue(command: Command): void {
    this.queue.push(command);
    if (this.queue.length >= MAX_QUEUED && !this.readingPaused) {
      this.readingPaused = true;
      this.socket.pause();
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
      if (this.socket.writableNeedDrain) {
        // A client that does not read its replies gets no more commands run.
        await new Promise<void>((resolve) => {
          this.socket.once('drain', resolve);
          this.socket.once('close', resolve);
        });
      }
      if (this.readingPaused && this.queue.length < MAX_QUEUED / 2) {
        this.readingPaused = false;
        this.socket.resume();
      }
    }
    this.pumping = false;
  }

  private async execute({ verb, arg, refusal }: Command): Promise<void> {
    this.commandCount++;
    try {
      if (refusal) throw refusal;
      const command = Object.hasOwn(COMMANDS, verb) ? COMMANDS[verb] : undefined;
      if (!command) throw new FtpReply(502, 'Command not implemented.');
      if (!command.beforeLogin && !this.session) throw new FtpReply(530, 'Please log in with USER and PASS.');
      await command.run(this, arg);
    } catch (err) {
      this.replyError(err);
    }
  }

  /** Idle means no command and no transfer progress for `idleTimeoutSeconds`. */
  private checkIdle(): void {
    const progress = this.data.progress();
    if (progress !== this.lastProgress) {
      this.lastProgress = progress;
      this.lastActivity = Date.now();
    }
    const idleFor = Date.now() - this.lastActivity;
    if (idleFor >= this.idleMs) {
      this.logger.info({ event: 'ftp-idle-timeout', session: this.session?.ref }, 'idle control connection closed');
      this.reply(421, 'Idle timeout: closing the control connection.');
      this.close();
      return;
    }
    this.idleTimer = setTimeout(() => this.checkIdle(), this.idleMs - idleFor).unref();
  }

  private markClosing(): void {
    this.closing = true;
    for (const watcher of this.survivalWatchers) watcher(false);
  }

  private cleanup(): void {
    this.markClosing();
    clearTimeout(this.idleTimer);
    this.queue.length = 0;
    this.data.close(transferAborted('control connection closed'));
    this.detachSession?.();
  }
}
