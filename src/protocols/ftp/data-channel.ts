/**
 * The data side of one FTP control connection: its passive offer (PASV/EPSV) or active target
 * (PORT/EPRT), the transfer in progress, and finished data connections the client has not closed
 * yet (a bounded number).
 */
import { lookup } from 'node:dns/promises';
import { connect, isIPv4, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { TLSSocket } from 'node:tls';
import type { FtpConfig } from '../../config.js';
import { GatewayError, checkDataProtection, fromErrno, normalizeSource, type Logger, type Session, type SessionManager } from '../../core/index.js';
import { PassiveListener, type DataConnection, type PassivePorts } from './passive.js';
import { FtpReply } from './reply.js';
import { acceptTls, type FtpTls } from './tls.js';
import { readIntoBuffer } from '../socket-read-buffer.js';

const DATA_CONNECT_TIMEOUT_MS = 20_000;
/** An active-mode connect to the client must succeed within this. */
const ACTIVE_CONNECT_TIMEOUT_MS = 10_000;
/** Active mode never connects to a privileged port (FTP bounce: a client aiming us at port 22 or 25). */
const MIN_ACTIVE_PORT = 1024;
/** How long an offer (and a TLS handshake on it) waits for the client. */
const PASSIVE_OFFER_LIFETIME_MS = 60_000;
/** After a transfer the client closes the data connection; we force it only after this. */
const DATA_LINGER_MS = 30_000;
/** The one read buffer of a plain upload's data connection (see DirectReceiver). */
const DIRECT_READ_BYTES = 256 * 1024;

export function transferAborted(why: string): GatewayError {
  return new GatewayError('TRANSFER_ABORTED', why, { text: 'transfer_aborted' });
}

export interface DataChannelOptions {
  config: FtpConfig;
  tls: FtpTls;
  ports: PassivePorts;
  sessions: SessionManager;
  logger: Logger;
  /** The client's address: the only address active mode connects to. */
  peer: string;
  /** Where the control connection comes from (a load balancer's address behind one): the only address a passive data connection is accepted from. */
  transportPeer: string;
  /** Sends a reply on the control connection (the 150 before a transfer). */
  reply(code: number, text: string): void;
}

/**
 * Takes an upload's bytes straight from the data connection's one read buffer, reused for every
 * read (see socket-read-buffer.ts), on a plain (not TLS) connection where that can be done.
 */
export interface DirectReceiver {
  /** A read's bytes, valid only during the call; false: stop reading until `resume()`. */
  onRead(chunk: Buffer): boolean;
  /** Set by the data channel when the data connection reads this way; starts reads again. */
  resume?: () => void;
}

/** What a transfer needs from the control connection's state. */
export interface TransferContext {
  session: Session;
  /** PROT P. */
  protect: boolean;
}

export class DataChannel {
  /** EPSV ALL (RFC 2428): from then on only EPSV sets up data connections. */
  epsvAll = false;
  private offer: PassiveListener | undefined;
  private activeTarget: { host: string; port: number } | undefined;
  /** Set while a transfer waits for or moves data; ABOR fires it. */
  private running: AbortController | undefined;
  private current: Socket | undefined;
  private readonly lingering = new Set<Socket>();

  constructor(private readonly options: DataChannelOptions) {}

  /** Whether a transfer is waiting for its data connection or moving data right now. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  assertNotEpsvAll(): void {
    if (this.epsvAll) throw new FtpReply(503, 'EPSV ALL is in effect: use EPSV.');
  }

  /**
   * PORT/EPRT: the next data connection is ours to open, to the control connection's own address
   * and an unprivileged port only (else anyone could aim us at a third host or a service port).
   */
  setActive(host: string, port: number): void {
    this.assertNotEpsvAll();
    if (normalizeSource(host) !== this.options.peer || port < MIN_ACTIVE_PORT) {
      throw new FtpReply(504, 'Active mode connects only to your own address and a port of 1024 or above.');
    }
    this.withdraw();
    this.activeTarget = { host, port };
  }

  /** Bytes the running transfer has moved; -1 without one. */
  progress(): number {
    return this.current ? this.current.bytesRead + this.current.bytesWritten : -1;
  }

  /** PASV/EPSV: a listener for the next data connection; any earlier offer is withdrawn. */
  async offerPassive(protect: boolean): Promise<number> {
    this.withdraw();
    const server = await this.options.ports.listen();
    this.offer = new PassiveListener(server, this.options.transportPeer, PASSIVE_OFFER_LIFETIME_MS, protect ? this.options.tls.data : undefined);
    return this.offer.port;
  }

  /** The IPv4 address a PASV reply names: `pasvUrl`, else the address the client reached us on. */
  async passiveAddress(localAddress: string | undefined): Promise<string> {
    const configured = this.options.config.pasvUrl;
    if (configured) return isIPv4(configured) ? configured : (await lookup(configured, { family: 4 })).address;
    const local = normalizeSource(localAddress ?? '');
    if (!isIPv4(local)) throw new FtpReply(425, 'PASV needs IPv4: use EPSV.');
    return local;
  }

  withdraw(): void {
    this.offer?.close();
    this.offer = undefined;
    this.activeTarget = undefined;
  }

  /**
   * Runs one transfer: `resource` (the file or listing stream, opened before, so refusals came
   * before any data connection) is moved by `move`. On failure the resource is destroyed, and an
   * unfinished upload's temporary file is gone before the caller answers.
   */
  async transfer(context: TransferContext, resource: Readable | Writable, opening: string, move: (data: Socket) => Promise<void>, receiver?: DirectReceiver): Promise<void> {
    let data: Socket | undefined;
    const running = new AbortController();
    this.running = running;
    try {
      data = await this.open(context, opening, running.signal, receiver);
      this.current = data;
      if (running.signal.aborted) throw running.signal.reason;
      await move(data);
    } catch (err) {
      data?.destroy();
      resource.destroy();
      await finished(resource).catch(() => {});
      throw err instanceof FtpReply ? err : fromErrno(err);
    } finally {
      this.current = undefined;
      this.running = undefined;
    }
    this.linger(data);
  }

  /** Ends the running transfer, also one still waiting for its data connection (ABOR, logout, close). */
  abort(reason: Error): void {
    this.running?.abort(reason);
    this.current?.destroy(reason);
  }

  /** The control connection is gone: nothing of its data side survives it. */
  close(reason: Error): void {
    this.withdraw();
    this.abort(reason);
    for (const socket of this.lingering) socket.destroy();
  }

  /**
   * The data connection of a transfer. 150 is sent without waiting for the TLS handshake of a
   * protected connection: lftp starts TLS only once it reads 150.
   */
  private async open({ session, protect }: TransferContext, opening: string, signal: AbortSignal, receiver: DirectReceiver | undefined): Promise<Socket> {
    checkDataProtection(session, protect);
    const connection = this.activeTarget ? await this.connectActive(protect, signal) : await this.acceptPassive(protect, signal);
    if (receiver && !connection.secured) {
      const direct = readIntoBuffer(connection.socket, Buffer.allocUnsafe(DIRECT_READ_BYTES), (chunk) => receiver.onRead(chunk));
      if (direct) {
        direct.socket.on('error', () => direct.socket.destroy());
        connection.socket = direct.socket;
        receiver.resume = direct.resume;
      }
    }
    signal.addEventListener('abort', () => connection.socket.destroy(), { once: true });
    this.options.reply(150, opening);
    if (!connection.secured) return connection.socket;
    let secure: TLSSocket;
    // A client may open a passive connection long before its command, but once 150 is out its
    // handshake gets tlsHandshakeTimeoutSeconds like any other.
    const handshakeTimer = setTimeout(() => connection.socket.destroy(), this.options.config.tlsHandshakeTimeoutSeconds * 1000);
    try {
      secure = await untilAborted(connection.secured, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      this.options.logger.info({ err }, 'data connection TLS handshake failed');
      throw new FtpReply(425, 'TLS negotiation on the data connection failed.');
    } finally {
      clearTimeout(handshakeTimer);
    }
    secure.on('error', () => {}); // the transfer's own handling reports errors
    if (this.options.config.requireTlsSessionReuse && !secure.isSessionReused()) {
      // A new TLS session on the data connection: maybe another process that raced the client to the port.
      secure.destroy();
      throw new FtpReply(425, 'The data connection must resume the TLS session of the control connection.');
    }
    try {
      this.options.sessions.recheckTransport(session, { kind: 'ftp', tlsVersion: secure.getProtocol() });
    } catch (err) {
      secure.destroy();
      throw err;
    }
    return secure;
  }

  private async acceptPassive(protect: boolean, signal: AbortSignal): Promise<DataConnection> {
    const offer = this.offer;
    this.offer = undefined;
    if (!offer) throw new FtpReply(425, this.epsvAll ? 'Use EPSV first.' : 'Use PASV, EPSV, PORT or EPRT first.');
    if (offer.secure !== protect) {
      offer.close();
      throw new FtpReply(425, 'PROT changed after PASV: send PASV or EPSV again.');
    }
    const withdraw = (): void => offer.close();
    signal.addEventListener('abort', withdraw, { once: true });
    try {
      return await untilAborted(offer.connection(DATA_CONNECT_TIMEOUT_MS), signal);
    } finally {
      signal.removeEventListener('abort', withdraw);
      offer.close();
    }
  }

  /** Active mode: we connect to the client (bounded in time); TLS still has us as the server. */
  private async connectActive(protect: boolean, signal: AbortSignal): Promise<DataConnection> {
    const { host, port } = this.activeTarget!;
    this.activeTarget = undefined;
    const socket = connect({ host, port, timeout: ACTIVE_CONNECT_TIMEOUT_MS, signal });
    socket.pause(); // read from once the transfer starts, like an accepted passive connection
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
        socket.once('close', () => reject(new Error('active data connection closed')));
        socket.once('timeout', () => reject(new Error('active connect timed out')));
      });
    } catch (err) {
      socket.destroy();
      if (signal.aborted) throw signal.reason;
      this.options.logger.info({ err }, 'active data connection failed');
      throw new FtpReply(425, 'Could not open the data connection.');
    }
    socket.setTimeout(0);
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    const secured = protect ? acceptTls(socket, this.options.tls.data, this.options.config.tlsHandshakeTimeoutSeconds * 1000) : undefined;
    secured?.catch(() => {}); // reported when the transfer awaits it
    return { socket, secured };
  }

  /**
   * The client closes a finished data connection first (destroying it now could reset it under
   * unread data); at most `maxLingeringDataConnections` wait, the oldest goes first.
   */
  private linger(socket: Socket): void {
    for (const old of this.lingering) {
      if (this.lingering.size < this.options.config.maxLingeringDataConnections) break;
      old.destroy();
      this.lingering.delete(old);
    }
    this.lingering.add(socket);
    socket.once('close', () => this.lingering.delete(socket));
    setTimeout(() => socket.destroy(), DATA_LINGER_MS).unref();
  }
}

/** `promise`, or a rejection with the signal's reason once it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
      (err) => (signal.removeEventListener('abort', onAbort), reject(err)),
    );
  });
}
