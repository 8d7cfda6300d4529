/**
 * A raw FTP client for tests that need exact bytes or exact command boundaries: commands go out
 * verbatim, replies come back parsed (multi-line aware), data connections are plain sockets.
 */
import net, { type Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';

export interface FtpReplyLine {
  code: number;
  /** The whole reply, every line, without the final CRLF. */
  text: string;
}

const REPLY_TIMEOUT_MS = 10_000;

export class RawFtp {
  private buffer = '';
  private readonly replies: FtpReplyLine[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;

  private constructor(public socket: Socket) {
    this.listen(socket);
  }

  /**
   * Connects and reads the 220 greeting. `implicitTls` for an ftps:// listener; `proxyHeader` is
   * written first, as a load balancer would.
   */
  static async connect(
    port: number,
    options: { implicitTls?: boolean; host?: string; localAddress?: string; proxyHeader?: string | Buffer } = {},
  ): Promise<RawFtp> {
    const { host = '127.0.0.1', localAddress } = options;
    const plain = net.connect({ port, host, localAddress });
    if (options.proxyHeader !== undefined) plain.write(options.proxyHeader);
    const socket = options.implicitTls ? tls.connect({ socket: plain, rejectUnauthorized: false }) : plain;
    await new Promise<void>((resolve, reject) => {
      socket.once(options.implicitTls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    const client = new RawFtp(socket);
    const greeting = await client.reply();
    if (greeting.code !== 220) throw new Error(`unexpected greeting: ${greeting.text}`);
    return client;
  }

  /** Writes raw bytes (no CRLF added). */
  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }

  async command(line: string): Promise<FtpReplyLine> {
    this.send(line);
    return this.reply();
  }

  /** The next complete reply. */
  async reply(timeoutMs = REPLY_TIMEOUT_MS): Promise<FtpReplyLine> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === 0) {
      if (this.ended) throw new Error('control connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => (clearTimeout(timer), resolve());
      });
    }
    return this.replies.shift()!;
  }

  /** USER + PASS; returns the PASS reply. */
  async login(username: string, password: string): Promise<FtpReplyLine> {
    const user = await this.command(`USER ${username}`);
    if (user.code !== 331) return user;
    return this.command(`PASS ${password}`);
  }

  /** AUTH TLS, then the handshake on the control connection. */
  async authTls(): Promise<void> {
    const reply = await this.command('AUTH TLS');
    if (reply.code !== 234) throw new Error(`AUTH TLS refused: ${reply.text}`);
    await this.startTls();
  }

  /** The client side of the TLS handshake on the control connection (after a 234). */
  async startTls(): Promise<void> {
    const secure = tls.connect({ socket: this.socket, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.listen(secure);
  }

  /** EPSV, then a connection to the offered port (from `localAddress` if given). */
  async openData(localAddress?: string): Promise<Socket> {
    const port = await this.passivePort();
    return connectData(port, localAddress);
  }

  async passivePort(): Promise<number> {
    const reply = await this.command('EPSV');
    const port = /\(\|\|\|(\d+)\|\)/.exec(reply.text)?.[1];
    if (reply.code !== 229 || !port) throw new Error(`EPSV failed: ${reply.text}`);
    return Number(port);
  }

  /** Resolves when the server closes the control connection. */
  closed(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  close(): void {
    this.socket.destroy();
  }

  private listen(socket: Socket): void {
    socket.removeAllListeners('data');
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.parse(chunk));
    socket.on('error', () => {});
    socket.once('close', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  private parse(chunk: string): void {
    this.buffer += chunk;
    for (;;) {
      const match = /^(\d{3})(?: [^\r\n]*|-[\s\S]*?\r\n\1 [^\r\n]*)\r\n/.exec(this.buffer);
      if (!match) break;
      this.replies.push({ code: Number(match[1]), text: match[0].slice(0, -2) });
      this.buffer = this.buffer.slice(match[0].length);
    }
    this.waiter?.();
  }
}

export function connectData(port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** TLS on a data connection (after the 150 reply, as lftp does). */
export function secureData(socket: Socket): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({ socket, rejectUnauthorized: false, maxVersion: 'TLSv1.3' });
    secure.once('secureConnect', () => resolve(secure));
    secure.once('error', reject);
  });
}

/**
 * Everything a data connection delivers until the server closes it. A connection that ended before
 * anyone read it delivered nothing (an empty listing): its 'end' has been and gone, and only
 * readableEnded still says so.
 */
export function readAll(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (socket.readableEnded) return resolve(Buffer.alloc(0));
    if (socket.destroyed) return reject(new Error('data connection closed without an end'));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

/** Writes `data` and ends the connection (an upload). */
export function writeAll(socket: Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.end(data, () => resolve());
  });
}
