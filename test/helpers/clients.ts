/** Real clients logged in to a test gateway (ssh2 SFTP, basic-ftp), and an in-memory log sink. */
import { Writable } from 'node:stream';
import { Client as FtpClient } from 'basic-ftp';
import { pino } from 'pino';
import { Client as SshClient, type SFTPWrapper } from 'ssh2';
import { createLogger } from '../../src/logging.js';
import type { TestGateway } from './gateway.js';

/**
 * Captures the gateway's pino events in memory, and the raw lines as written (`lines`). `redacted`
 * uses filegate's own logger, so a test sees exactly what a log file would hold.
 */
export function memoryLogger(options: { redacted?: boolean } = {}): { logger: pino.Logger; events: Record<string, unknown>[]; lines: string[] } {
  const events: Record<string, unknown>[] = [];
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        lines.push(line);
        events.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const logger = options.redacted ? createLogger('debug', sink) : pino({ level: 'debug' }, sink);
  return { logger, events, lines };
}

export interface SftpLogin {
  ssh: SshClient;
  sftp: SFTPWrapper;
  /** Resolves with the time the connection closed. */
  closed: Promise<number>;
}

/** An SFTP login to a test gateway, or to a port (a gateway in another process). */
export async function sshConnect(target: TestGateway | number, username: string, password: string): Promise<SftpLogin> {
  const port = typeof target === 'number' ? target : target.gateway.addresses.sftp!.port;
  const ssh = new SshClient();
  const closed = new Promise<number>((resolve) => ssh.once('close', () => resolve(Date.now())));
  await new Promise<void>((resolve, reject) => {
    ssh.once('ready', resolve).once('error', reject);
    ssh.connect({ host: '127.0.0.1', port, username, password, readyTimeout: 10_000 });
  });
  ssh.on('error', () => {}); // the server's disconnect may surface as an error event
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => ssh.sftp((err, s) => (err ? reject(err) : resolve(s))));
  return { ssh, sftp, closed };
}

/** An SFTP upload written chunk by chunk, so a test decides when it is in progress and when it ends. */
export function sftpUpload(login: SftpLogin, remotePath: string) {
  const stream = login.sftp.createWriteStream(remotePath);
  const sent: Buffer[] = [];
  return {
    write: (chunk: Buffer) => new Promise<void>((resolve, reject) => stream.write(chunk, (err) => (err ? reject(err) : (sent.push(chunk), resolve())))),
    finish: () => new Promise<Buffer>((resolve, reject) => {
      stream.once('error', reject).once('close', () => resolve(Buffer.concat(sent)));
      stream.end();
    }),
  };
}

/** The SFTP status code of a mkdir (undefined: it worked). */
export function mkdirCode(login: SftpLogin, dir: string): Promise<number | undefined> {
  return new Promise((resolve) => login.sftp.mkdir(dir, (err) => resolve((err as { code?: number } | undefined)?.code)));
}

export async function ftpConnect(gw: TestGateway, username: string, password: string): Promise<FtpClient> {
  const ftp = new FtpClient(10_000);
  await ftp.access({ host: '127.0.0.1', port: gw.gateway.addresses.ftp!.port, user: username, password });
  return ftp;
}

/**
 * Resolves with the time a basic-ftp client's control connection is closed, and the last reply it
 * received. (basic-ftp removes its socket's listeners when it closes, so poll its own flag.)
 */
export function ftpClosed(ftp: FtpClient): Promise<{ at: number; reply: string }> {
  let reply = '';
  ftp.ftp.socket.on('data', (chunk: Buffer) => (reply = chunk.toString()));
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 5000;
    const timer = setInterval(() => {
      if (ftp.closed) resolve({ at: Date.now(), reply });
      else if (Date.now() > deadline) reject(new Error('FTP connection still open after 5 s'));
      else return;
      clearInterval(timer);
    }, 10);
  });
}
