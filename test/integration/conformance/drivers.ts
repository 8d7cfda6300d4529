/**
 * One small file-client interface, implemented over SFTP (the ssh2 client) and FTP (basic-ftp), so
 * the conformance cases are written once and run against both adapters.
 */
import { Readable, Writable } from 'node:stream';
import { Client as FtpClient } from 'basic-ftp';
import { Client as SshClient, type SFTPWrapper } from 'ssh2';
import type { GatewayConfigInput } from '../../../src/config.js';
import type { TestGateway } from '../../helpers/gateway.js';

export interface Credentials {
  username: string;
  password: string;
  /** A TOTP code, given the way the protocol takes it. */
  otp?: string;
}

export interface FileClient {
  upload(path: string, data: Buffer): Promise<void>;
  download(path: string): Promise<Buffer>;
  list(path: string): Promise<string[]>;
  mkdir(path: string): Promise<void>;
  remove(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  setModifiedTime(path: string, mtime: Date): Promise<void>;
  close(): Promise<void>;
}

export interface ProtocolDriver {
  name: string;
  listeners(): Partial<GatewayConfigInput>;
  /** Logs in; rejects when the server refuses. */
  connect(gateway: TestGateway, credentials: Credentials): Promise<FileClient>;
}

const promised = <T>(run: (done: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value as T))));

export const sftpDriver: ProtocolDriver = {
  name: 'sftp',
  listeners: () => ({ sftp: { host: '127.0.0.1', port: 0 } }),
  async connect(gateway, { username, password, otp }) {
    const ssh = new SshClient();
    ssh.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) =>
      finish(prompts.map((p) => (/code/i.test(p.prompt) ? (otp ?? '') : password))),
    );
    await new Promise<void>((resolve, reject) => {
      ssh.once('ready', resolve).once('error', reject);
      ssh.connect({ host: '127.0.0.1', port: gateway.gateway.addresses.sftp!.port, username, password, tryKeyboard: true, readyTimeout: 10_000 });
    });
    const sftp = await promised<SFTPWrapper>((done) => ssh.sftp(done));
    return {
      upload: (path, data) => promised((done) => sftp.writeFile(path, data, done)),
      download: (path) => promised<Buffer>((done) => sftp.readFile(path, done)),
      list: async (path) => (await promised<{ filename: string }[]>((done) => sftp.readdir(path, done))).map((e) => e.filename).sort(),
      mkdir: (path) => promised((done) => sftp.mkdir(path, done)),
      remove: (path) => promised((done) => sftp.unlink(path, done)),
      rename: (from, to) => promised((done) => sftp.rename(from, to, done)),
      setModifiedTime: (path, mtime) => promised((done) => sftp.utimes(path, mtime, mtime, done)),
      close: async () => {
        ssh.end();
      },
    };
  },
};

/** FTP driver on `passivePorts` (from test/helpers/passive-ports.ts). */
export function ftpDriver(passivePorts: [number, number]): ProtocolDriver {
  return {
    name: 'ftp',
    listeners: () => ({ ftp: { host: '127.0.0.1', port: 0, passivePorts } }),
    async connect(gateway, { username, password, otp }) {
      const ftp = new FtpClient(10_000);
      try {
        await ftp.access({ host: '127.0.0.1', port: gateway.gateway.addresses.ftp!.port, user: username, password: password + (otp ?? '') });
      } catch (err) {
        ftp.close();
        throw err;
      }
      return {
        upload: async (path, data) => void (await ftp.uploadFrom(Readable.from([data]), path)),
        download: async (path) => {
          const chunks: Buffer[] = [];
          const sink = new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) });
          await ftp.downloadTo(sink, path);
          return Buffer.concat(chunks);
        },
        list: async (path) => (await ftp.list(path)).map((e) => e.name).sort(),
        mkdir: async (path) => void (await ftp.send(`MKD ${path}`)),
        remove: async (path) => void (await ftp.remove(path)),
        rename: async (from, to) => void (await ftp.rename(from, to)),
        setModifiedTime: async (path, mtime) => void (await ftp.send(`MFMT ${ftpTime(mtime)} ${path}`)),
        close: async () => ftp.close(),
      };
    },
  };
}

function ftpTime(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}
