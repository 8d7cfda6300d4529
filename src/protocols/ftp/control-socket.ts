/**
 * The socket side of a control connection: splits what the client sends into lines for the state
 * machine (FtpControl), writes its replies, and swaps the plain socket for TLS on AUTH TLS.
 */
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { normalizeSource } from '../../core/index.js';
import type { ControlWire } from './control.js';
import { LineReader } from './line-reader.js';
import { acceptTls } from './tls.js';

/** Room for a path of 4096 characters in UTF-8 plus the verb. */
const MAX_LINE_BYTES = 16 * 1024;
/** After we end the control connection, the client has this long to close its side. */
const CLOSE_GRACE_MS = 2_000;

/** What the socket reports to: FtpControl. */
export interface ControlEvents {
  line(bytes: Buffer): void;
  lineTooLong(): void;
  peerEnded(): void;
  closed(): void;
}

export interface SocketWireOptions {
  /** Negotiated TLS version when the socket is already TLS (implicit FTPS). */
  tlsVersion: string | null;
  tlsContext: SecureContext;
  tlsHandshakeTimeoutMs: number;
  /** The client's address when a PROXY header named it; default: the socket's peer. */
  remoteAddress?: string;
}

export class SocketWire implements ControlWire {
  readonly remoteAddress: string;
  readonly transportPeer: string;
  readonly localAddress: string;
  tlsVersion: string | null;
  private events: ControlEvents | undefined;
  private readonly reader: LineReader;
  private readonly onData = (chunk: Buffer): void => this.reader.push(chunk);

  constructor(
    private socket: Socket,
    private readonly options: SocketWireOptions,
  ) {
    this.transportPeer = normalizeSource(socket.remoteAddress ?? '');
    this.remoteAddress = options.remoteAddress ?? this.transportPeer;
    this.localAddress = socket.localAddress ?? '';
    this.tlsVersion = options.tlsVersion;
    this.reader = new LineReader(MAX_LINE_BYTES, {
      line: (bytes) => this.events?.line(bytes),
      tooLong: () => this.events?.lineTooLong(),
    });
    socket.setNoDelay(true); // replies are small: Nagle would hold each one back for the client's delayed ACK
  }

  /** Starts delivering input to `events`. */
  attach(events: ControlEvents): void {
    this.events = events;
    this.listen(this.socket);
  }

  get congested(): boolean {
    return this.socket.writableNeedDrain;
  }

  write(text: string): void {
    if (this.socket.writable) this.socket.write(text);
  }

  drained(): Promise<void> {
    const socket = this.socket;
    return new Promise((resolve) => {
      const done = (): void => {
        socket.removeListener('drain', done).removeListener('close', done);
        resolve();
      };
      socket.once('drain', done).once('close', done);
    });
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /**
   * The plaintext reader is detached before the reply, so the client's ClientHello is never read
   * as a command, and plaintext already buffered after AUTH is dropped.
   */
  async startTls(reply: string): Promise<void> {
    const plain = this.socket;
    plain.removeListener('data', this.onData);
    plain.pause();
    this.reader.clear();
    await new Promise<void>((resolve) => plain.write(reply, () => resolve()));
    let secure;
    try {
      secure = await acceptTls(plain, this.options.tlsContext, this.options.tlsHandshakeTimeoutMs);
    } catch {
      plain.destroy();
      return;
    }
    this.tlsVersion = secure.getProtocol();
    // An error (a reset, a bad record) is followed by 'close', which ends the connection; unheard,
    // it would end the process.
    secure.on('error', () => {});
    this.socket = secure;
    this.listen(secure);
  }

  end(): void {
    const socket = this.socket;
    socket.end();
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private listen(socket: Socket): void {
    socket.on('data', this.onData);
    socket.once('end', () => this.events?.peerEnded());
    socket.once('close', () => this.events?.closed());
  }
}
