/**
 * Passive data connections (PASV/EPSV): listeners on the configured port range, each accepting one
 * connection from the control connection's own address (so nobody else can steal a transfer).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { FtpReply } from './reply.js';

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

/** One PASV/EPSV offer: the first connection from `peer` is the data connection. */
export class PassiveListener {
  private socket: Socket | undefined;
  private waiting: ((socket: Socket | undefined) => void) | undefined;
  private readonly expiry: NodeJS.Timeout;

  constructor(
    private readonly server: Server,
    private readonly peer: string,
    /** How long the offer stays open without a connection. */
    lifetimeMs: number,
  ) {
    server.on('connection', (socket) => this.accept(socket));
    server.on('error', () => this.close());
    this.expiry = setTimeout(() => this.close(), lifetimeMs).unref();
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** The data connection, waiting up to `timeoutMs` for the client to open it. */
  connection(timeoutMs: number): Promise<Socket> {
    if (this.socket) return Promise.resolve(this.take());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.settle(undefined), timeoutMs);
      this.waiting = (socket) => {
        clearTimeout(timer);
        this.waiting = undefined;
        if (socket) resolve(this.take());
        else reject(new FtpReply(425, 'Could not open the data connection.'));
      };
    });
  }

  /** Stops listening; a connection nobody claimed is dropped. */
  close(): void {
    clearTimeout(this.expiry);
    this.server.close();
    this.socket?.destroy();
    this.socket = undefined;
    this.settle(undefined);
  }

  private accept(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    if (this.socket || normalizeAddress(socket.remoteAddress) !== this.peer) {
      socket.destroy();
      return;
    }
    this.socket = socket;
    this.server.close(); // one connection per offer
    this.settle(socket);
  }

  private take(): Socket {
    const socket = this.socket!;
    this.socket = undefined;
    clearTimeout(this.expiry);
    socket.setNoDelay(true);
    return socket;
  }

  private settle(socket: Socket | undefined): void {
    this.waiting?.(socket);
  }
}

/** `::ffff:1.2.3.4` and `1.2.3.4` are the same peer. */
export function normalizeAddress(address: string | undefined): string {
  return (address ?? '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}
