/**
 * One FTP control connection. It reads whole command lines, runs them one at a time, holds the
 * connection's state (login, working directory, PROT, the passive offer, the transfer in
 * progress), logs in through the core, and ends itself on logout, idle timeout or shutdown.
 * The commands themselves live in commands/.
 */
import { lookup } from 'node:dns/promises';
import { isIPv4, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { TLSSocket } from 'node:tls';
import type { FtpConfig } from '../../config.js';
import {
  GatewayError,
  checkDataProtection,
  fromErrno,
  type GuardedFs,
  type Language,
  type Logger,
  type Session,
} from '../../core/index.js';
import type { AdapterContext } from '../context.js';
import { describeError } from '../error-map.js';
import { COMMANDS } from './commands/index.js';
import type { FtpConnection } from './ftp-srv.js';
import { LineReader, stripTelnet } from './line-reader.js';
import { normalizeAddress, PassiveListener, type DataConnection, type PassivePorts } from './passive.js';
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
const MAX_QUEUED = 64;
const DATA_CONNECT_TIMEOUT_MS = 20_000;
const PASSIVE_OFFER_LIFETIME_MS = 60_000;
/** After a transfer, the client closes the data connection; we only force it after this. */
const DATA_LINGER_MS = 30_000;
/** After we end the control connection, the client has this long to close its side. */
const CLOSE_GRACE_MS = 2_000;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

interface Command {
  verb: string;
  arg: string;
  refusal?: FtpReply;
}

interface Transfer {
  abort(reason: Error): void;
  /** Bytes moved so far: the idle timer leaves a moving transfer alone. */
  progress(): number;
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
  private passive: PassiveListener | undefined;
  private transfer: Transfer | undefined;
  /** Finished data connections the client has not closed yet. */
  private readonly lingering = new Set<Socket>();
  private detachSession: (() => void) | undefined;
  private lastActivity = Date.now();
  private lastProgress = -1;
  private idleTimer: NodeJS.Timeout;
  private readonly onData = (chunk: Buffer): void => this.reader.push(chunk);

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
    this.reader = new LineReader(MAX_LINE_BYTES, {
      line: (bytes) => this.received(bytes),
      tooLong: () => this.enqueue({ verb: '', arg: '', refusal: new FtpReply(500, 'Command line too long.') }),
    });
    socket.setNoDelay(true); // replies are small: Nagle would delay every one of them
    // ftp-srv's own reader parses each TCP segment as whole commands: ours buffers lines.
    socket.removeAllListeners('data');
    socket.on('data', this.onData);
    socket.once('end', () => (this.closing = true));
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
    try {
      this.files.assertWritable();
      return true;
    } catch {
      return false;
    }
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
    secure.once('end', () => (this.closing = true));
    secure.on('data', this.onData);
    this.socket = secure;
    this.connection.commandSocket = secure;
  }

  /** PASV/EPSV: a listener for the next data connection; any earlier offer is withdrawn. */
  async offerPassive(): Promise<number> {
    this.passive?.close();
    this.passive = undefined;
    const server = await this.services.ports.listen();
    const secureContext = this.dataProtected ? this.services.tls.data : undefined;
    this.passive = new PassiveListener(server, this.remoteAddress, PASSIVE_OFFER_LIFETIME_MS, secureContext);
    return this.passive.port;
  }

  /** The IPv4 address a PASV reply names: `pasvUrl`, else the address the client reached us on. */
  async passiveAddress(): Promise<string> {
    const configured = this.services.config.pasvUrl;
    if (configured) return isIPv4(configured) ? configured : (await lookup(configured, { family: 4 })).address;
    const local = normalizeAddress(this.socket.localAddress);
    if (!isIPv4(local)) throw new FtpReply(425, 'PASV needs IPv4: use EPSV.');
    return local;
  }

  /**
   * Runs one transfer over the passive data connection: `resource` (the file stream, already
   * opened, so refusals came before any data connection) is moved by `move`. 150 is sent without
   * waiting for the TLS handshake of a protected data connection: lftp starts TLS only once it
   * reads 150 (ftp-srv waited for the handshake first, so lftp could never transfer).
   */
  async transferData(resource: Readable | Writable, opening: string, move: (data: Socket) => Promise<void>): Promise<void> {
    let data: Socket | undefined;
    try {
      data = await this.openData(opening);
      const current = data;
      this.transfer = { abort: (reason) => current.destroy(reason), progress: () => current.bytesRead + current.bytesWritten };
      await move(data);
    } catch (err) {
      data?.destroy();
      // An unfinished upload is discarded; its temporary file is gone before we answer.
      resource.destroy();
      await finished(resource).catch(() => {});
      throw err instanceof FtpReply ? err : fromErrno(err);
    } finally {
      this.transfer = undefined;
    }
    // The client closes first (destroying now could reset the connection under unread data).
    const done = data;
    this.lingering.add(done);
    done.once('close', () => this.lingering.delete(done));
    setTimeout(() => done.destroy(), DATA_LINGER_MS).unref();
    this.reply(226, 'Transfer complete.');
  }

  /** ABOR while a transfer runs: it ends with 426, then ABOR is answered. */
  async abortTransfer(): Promise<void> {
    this.transfer?.abort(new GatewayError('TRANSFER_ABORTED', 'ABOR from the client', { text: 'transfer_aborted' }));
    await this.running;
    this.reply(226, 'ABOR successful.');
  }

  /** ABOR with no transfer running: withdraws a passive offer. */
  withdrawPassive(): void {
    this.passive?.close();
    this.passive = undefined;
  }

  /** Ends the control connection after the replies already written. */
  close(): void {
    this.closing = true;
    this.transfer?.abort(new GatewayError('TRANSFER_ABORTED', 'control connection closing', { text: 'transfer_aborted' }));
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

  private async openData(opening: string): Promise<Socket> {
    checkDataProtection(this.session!, this.dataProtected);
    const offer = this.passive;
    this.passive = undefined;
    if (!offer) throw new FtpReply(425, 'Use PASV or EPSV first.');
    if (offer.secure !== this.dataProtected) {
      offer.close();
      throw new FtpReply(425, 'PROT changed after PASV: send PASV or EPSV again.');
    }
    let connection: DataConnection;
    try {
      connection = await offer.connection(DATA_CONNECT_TIMEOUT_MS);
    } finally {
      offer.close();
    }
    this.reply(150, opening);
    if (!connection.secured) return connection.socket;
    let secure: TLSSocket;
    try {
      secure = await connection.secured;
    } catch (err) {
      this.logger.info({ err }, 'data connection TLS handshake failed');
      throw new FtpReply(425, 'TLS negotiation on the data connection failed.');
    }
    secure.on('error', () => {}); // the transfer's own handling reports errors
    try {
      this.services.context.sessions.recheckTransport(this.session!, { kind: 'ftp', tlsVersion: secure.getProtocol() });
    } catch (err) {
      secure.destroy();
      throw err;
    }
    return secure;
  }

  private get idleMs(): number {
    return this.services.config.idleTimeoutSeconds * 1000;
  }

  private received(bytes: Buffer): void {
    this.lastActivity = Date.now();
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
    if (verb === 'ABOR' && this.transfer) {
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
    const progress = this.transfer?.progress() ?? -1;
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

  private cleanup(): void {
    this.closing = true;
    clearTimeout(this.idleTimer);
    this.queue.length = 0;
    this.passive?.close();
    this.transfer?.abort(new GatewayError('TRANSFER_ABORTED', 'control connection closed', { text: 'transfer_aborted' }));
    for (const socket of this.lingering) socket.destroy();
    this.detachSession?.();
  }
}
