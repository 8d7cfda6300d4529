/**
 * The data side of one FTP control connection: its passive offer (PASV/EPSV), the transfer in
 * progress, and finished data connections the client has not closed yet.
 */
import { lookup } from 'node:dns/promises';
import { isIPv4, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { TLSSocket } from 'node:tls';
import type { FtpConfig } from '../../config.js';
import { GatewayError, checkDataProtection, fromErrno, type Logger, type Session, type SessionManager } from '../../core/index.js';
import { normalizeAddress, PassiveListener, type DataConnection, type PassivePorts } from './passive.js';
import { FtpReply } from './reply.js';
import type { FtpTls } from './tls.js';

const DATA_CONNECT_TIMEOUT_MS = 20_000;
/** How long an offer (and a TLS handshake on it) waits for the client. */
const PASSIVE_OFFER_LIFETIME_MS = 60_000;
/** After a transfer the client closes the data connection; we force it only after this. */
const DATA_LINGER_MS = 30_000;

export function transferAborted(why: string): GatewayError {
  return new GatewayError('TRANSFER_ABORTED', why, { text: 'transfer_aborted' });
}

export interface DataChannelOptions {
  config: FtpConfig;
  tls: FtpTls;
  ports: PassivePorts;
  sessions: SessionManager;
  logger: Logger;
  /** The control connection's peer: the only address a data connection is accepted from. */
  peer: string;
  /** Sends a reply on the control connection (the 150 before a transfer). */
  reply(code: number, text: string): void;
}

/** What a transfer needs from the control connection's state. */
export interface TransferContext {
  session: Session;
  /** PROT P. */
  protect: boolean;
}

export class DataChannel {
  private offer: PassiveListener | undefined;
  private current: Socket | undefined;
  private readonly lingering = new Set<Socket>();

  constructor(private readonly options: DataChannelOptions) {}

  /** Whether a transfer is moving data right now. */
  get busy(): boolean {
    return this.current !== undefined;
  }

  /** Bytes the running transfer has moved; -1 without one. */
  progress(): number {
    return this.current ? this.current.bytesRead + this.current.bytesWritten : -1;
  }

  /** PASV/EPSV: a listener for the next data connection; any earlier offer is withdrawn. */
  async offerPassive(protect: boolean): Promise<number> {
    this.withdraw();
    const server = await this.options.ports.listen();
    this.offer = new PassiveListener(server, this.options.peer, PASSIVE_OFFER_LIFETIME_MS, protect ? this.options.tls.data : undefined);
    return this.offer.port;
  }

  /** The IPv4 address a PASV reply names: `pasvUrl`, else the address the client reached us on. */
  async passiveAddress(localAddress: string | undefined): Promise<string> {
    const configured = this.options.config.pasvUrl;
    if (configured) return isIPv4(configured) ? configured : (await lookup(configured, { family: 4 })).address;
    const local = normalizeAddress(localAddress);
    if (!isIPv4(local)) throw new FtpReply(425, 'PASV needs IPv4: use EPSV.');
    return local;
  }

  withdraw(): void {
    this.offer?.close();
    this.offer = undefined;
  }

  /**
   * Runs one transfer: `resource` (the file or listing stream, opened before, so refusals came
   * before any data connection) is moved by `move`. On failure the resource is destroyed, and an
   * unfinished upload's temporary file is gone before the caller answers.
   */
  async transfer(context: TransferContext, resource: Readable | Writable, opening: string, move: (data: Socket) => Promise<void>): Promise<void> {
    let data: Socket | undefined;
    try {
      data = await this.open(context, opening);
      this.current = data;
      await move(data);
    } catch (err) {
      data?.destroy();
      resource.destroy();
      await finished(resource).catch(() => {});
      throw err instanceof FtpReply ? err : fromErrno(err);
    } finally {
      this.current = undefined;
    }
    this.linger(data);
  }

  /** Ends the running transfer (ABOR, logout, control connection closing). */
  abort(reason: Error): void {
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
   * protected connection: lftp starts TLS only once it reads 150 (ftp-srv waited for the
   * handshake first, so lftp could never transfer).
   */
  private async open({ session, protect }: TransferContext, opening: string): Promise<Socket> {
    checkDataProtection(session, protect);
    const offer = this.offer;
    this.offer = undefined;
    if (!offer) throw new FtpReply(425, 'Use PASV or EPSV first.');
    if (offer.secure !== protect) {
      offer.close();
      throw new FtpReply(425, 'PROT changed after PASV: send PASV or EPSV again.');
    }
    let connection: DataConnection;
    try {
      connection = await offer.connection(DATA_CONNECT_TIMEOUT_MS);
    } finally {
      offer.close();
    }
    this.options.reply(150, opening);
    if (!connection.secured) return connection.socket;
    let secure: TLSSocket;
    try {
      secure = await connection.secured;
    } catch (err) {
      this.options.logger.info({ err }, 'data connection TLS handshake failed');
      throw new FtpReply(425, 'TLS negotiation on the data connection failed.');
    }
    secure.on('error', () => {}); // the transfer's own handling reports errors
    try {
      this.options.sessions.recheckTransport(session, { kind: 'ftp', tlsVersion: secure.getProtocol() });
    } catch (err) {
      secure.destroy();
      throw err;
    }
    return secure;
  }

  /** The client closes a finished data connection first (destroying it now could reset it under unread data). */
  private linger(socket: Socket): void {
    this.lingering.add(socket);
    socket.once('close', () => this.lingering.delete(socket));
    setTimeout(() => socket.destroy(), DATA_LINGER_MS).unref();
  }
}
