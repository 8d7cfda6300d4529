/**
 * Passive data connections (PASV/EPSV): listeners on the configured port range, each accepting one
 * connection from the control connection's own address (so nobody else can steal a transfer).
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { SecureContext, TLSSocket } from 'node:tls';
import { normalizeSource } from '../../core/index.js';
import { FtpReply } from './reply.js';
import { acceptTls } from './tls.js';

/** Hands out listeners on a port range, round robin; a port in use is skipped. */
export class PassivePorts {
  private cursor: number;

  constructor(
    private readonly host: string,
    private readonly range: readonly [number, number],
  ) {
    this.cursor = range[0];
  }

  async listen(): Promise<Server> {
    const [first, last] = this.range;
    for (let attempt = 0; attempt <= last - first; attempt++) {
      const port = this.cursor;
      this.cursor = port >= last ? first : port + 1;
      const server = createServer({ pauseOnConnect: true });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port, host: this.host, exclusive: true }, () => {
            server.removeListener('error', reject);
            resolve();
          });
        });
        return server;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EADDRINUSE' && code !== 'EACCES') throw err;
      }
    }
    throw new FtpReply(425, 'No passive port is free; try again later.');
  }
}

/** An accepted data connection; `secured` is its TLS handshake when the offer was protected. */
export interface DataConnection {
  socket: Socket;
  secured: Promise<TLSSocket> | undefined;
}

/**
 * One PASV/EPSV offer: the first connection from `peer` is the data connection. With a TLS context
 * the server side of the handshake starts at once: it waits for the client's ClientHello, so a
 * client that starts TLS right after connecting (curl, FileZilla) and one that waits for the 150
 * reply (lftp) both work.
 */
export class PassiveListener {
  private accepted: DataConnection | undefined;
  private waiting: ((connection: DataConnection | undefined) => void) | undefined;
  private readonly expiry: NodeJS.Timeout;

  constructor(
    private readonly server: Server,
    private readonly peer: string,
    /** How long the offer (and a handshake on it) may wait for the client. */
    private readonly lifetimeMs: number,
    private readonly secureContext: SecureContext | undefined,
  ) {
    server.on('connection', (socket) => this.accept(socket));
    server.on('error', () => this.close());
    this.expiry = setTimeout(() => this.close(), lifetimeMs).unref();
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Whether this offer's data connection runs TLS. */
  get secure(): boolean {
    return this.secureContext !== undefined;
  }

  /** The data connection, waiting up to `timeoutMs` for the client to open it. */
  connection(timeoutMs: number): Promise<DataConnection> {
    if (this.accepted) return Promise.resolve(this.take());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.settle(undefined), timeoutMs);
      this.waiting = (connection) => {
        clearTimeout(timer);
        this.waiting = undefined;
        if (connection) resolve(this.take());
        else reject(new FtpReply(425, 'Could not open the data connection.'));
      };
    });
  }

  /** Stops listening; a connection nobody claimed is dropped. */
  close(): void {
    clearTimeout(this.expiry);
    this.server.close();
    this.accepted?.socket.destroy();
    this.accepted = undefined;
    this.settle(undefined);
  }

  private accept(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    if (this.accepted || normalizeSource(socket.remoteAddress ?? '') !== this.peer) {
      socket.destroy();
      return;
    }
    this.server.close(); // one connection per offer
    socket.setNoDelay(true);
    const secured = this.secureContext ? acceptTls(socket, this.secureContext, this.lifetimeMs) : undefined;
    secured?.catch(() => {}); // reported when the transfer awaits it
    this.accepted = { socket, secured };
    this.settle(this.accepted);
  }

  private take(): DataConnection {
    const accepted = this.accepted!;
    this.accepted = undefined;
    clearTimeout(this.expiry);
    return accepted;
  }

  private settle(connection: DataConnection | undefined): void {
    this.waiting?.(connection);
  }
}

