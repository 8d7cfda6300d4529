/**
 * `filegate serve --workers 2` on one machine: SFTP, FTP (passive with `pasvUrl`, and active) and
 * FTPS (explicit and implicit) logins and transfers are proven on both workers: connections are held
 * open until the shared store lists the user's sessions on two nodes, then each one transfers. Each
 * worker offers passive ports from its own half of the range only. A worker killed with SIGKILL is
 * replaced and its sessions leave the store at once; SIGTERM stops everything with exit 0. Without a
 * redis block it refuses to start.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net, { type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { Client as FtpClient } from 'basic-ftp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway.js';
import { RawFtp, readAll, writeAll } from '../helpers/ftp.js';
import { hasCommand, user } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';
import { startGatewayProcess, startRedis, type GatewayProcess, type RedisServer } from '../helpers/processes.js';
import { call, sshLogin, type SshSession } from '../helpers/sftp.js';

const PAYLOAD = Buffer.alloc(256 * 1024, 'filegate-cluster ');
const PASSWORD = 'cluster-pw';
/** FTP listens on every local address; clients reach it on CONTROL_HOST and PASV must name PASV_URL instead. */
const PASV_URL = '127.0.0.2';
const CONTROL_HOST = '127.0.0.3';
const PASSIVE = await passivePorts();
/** Worker 0 offers the lower half of the range, worker 1 the upper one. */
const HALF = PASSIVE[0] + Math.floor((PASSIVE[1] - PASSIVE[0] + 1) / 2);

let redis: RedisServer;
let node: GatewayProcess;
let observer: Gateway;
let dir: string;

/**
 * Opens logged-in connections of `username` (nobody else's) until the store lists them on two
 * nodes: round robin puts two consecutive ones on different workers, so this rarely needs a third.
 */
async function onBothWorkers<T extends { close(): void }>(username: string, open: () => Promise<T>): Promise<T[]> {
  const held: T[] = [];
  try {
    while (held.length < 8) {
      held.push(await open());
      const sessions = (await observer.sessions.list()).filter((s) => s.username === username);
      expect(sessions).toHaveLength(held.length);
      if (new Set(sessions.map((s) => s.node)).size === 2) return held;
    }
  } catch (err) {
    for (const connection of held) connection.close();
    throw err;
  }
  for (const connection of held) connection.close();
  throw new Error(`${username}: 8 connections, all on one worker`);
}

async function rawLogin(username: string, options: { implicitTls?: boolean; host?: string } = {}): Promise<RawFtp> {
  const ftp = await RawFtp.connect(options.implicitTls ? node.ports.ftps! : node.ports.ftp!, options);
  expect((await ftp.login(username, PASSWORD)).code).toBe(230);
  expect((await ftp.command('TYPE I')).code).toBe(200);
  return ftp;
}

/** One transfer on a data connection: `verb` (STOR/RETR) after `open` set it up; the bytes received. */
async function transfer(ftp: RawFtp, verb: string, data: Promise<Socket>, upload?: Buffer): Promise<Buffer> {
  ftp.send(verb);
  expect((await ftp.reply()).code).toBe(150);
  const socket = await data;
  const received = upload ? (await writeAll(socket, upload), Buffer.alloc(0)) : await readAll(socket);
  expect((await ftp.reply()).code).toBe(226);
  return received;
}

/** PASV (address and port as offered) or EPSV (port only). */
async function passiveOffer(ftp: RawFtp, extended: boolean): Promise<{ host?: string; port: number }> {
  if (extended) return { port: await ftp.passivePort() };
  const reply = await ftp.command('PASV');
  const fields = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(reply.text)?.slice(1).map(Number);
  if (reply.code !== 227 || !fields) throw new Error(`PASV failed: ${reply.text}`);
  return { host: fields.slice(0, 4).join('.'), port: fields[4]! * 256 + fields[5]! };
}

function connectTo(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** PORT or EPRT to a fresh local listener; `accepted` is the connection the server opens to it. */
async function activeOffer(ftp: RawFtp, extended: boolean): Promise<{ accepted: Promise<Socket> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const command = extended ? `EPRT |1|127.0.0.1|${port}|` : `PORT 127,0,0,1,${port >> 8},${port & 255}`;
  expect((await ftp.command(command)).code).toBe(200);
  return { accepted: new Promise((resolve) => server.once('connection', (socket) => (server.close(), resolve(socket)))) };
}

async function ftpRoundTrip(client: FtpClient, name: string): Promise<void> {
  await client.uploadFrom(Readable.from([PAYLOAD]), name);
  const chunks: Buffer[] = [];
  await client.downloadTo(new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) }), name);
  expect(Buffer.concat(chunks).equals(PAYLOAD)).toBe(true);
}

async function sftpRoundTrip(ssh: SshSession, name: string): Promise<void> {
  await call((cb) => ssh.sftp.writeFile(name, PAYLOAD, cb));
  const back = await call<Buffer>((cb) => ssh.sftp.readFile(name, cb));
  expect(back.equals(PAYLOAD)).toBe(true);
}

const sshSession = async (username: string): Promise<SshSession & { close(): void }> => {
  const ssh = await sshLogin(node.ports.sftp!, { username, password: PASSWORD });
  return Object.assign(ssh, { close: () => ssh.end() });
};

describe.skipIf(!hasCommand('redis-server'))('filegate serve --workers 2', () => {
  beforeAll(async () => {
    redis = await startRedis();
    dir = await mkdtemp(path.join(tmpdir(), 'filegate-cluster-'));
    node = await startGatewayProcess(
      {
        storage: path.join(dir, 'data'),
        users: await Promise.all(['alice', 'active', 'pasv', 'ftps', 'implicit'].map((name) => user(name, PASSWORD))),
        redis: { url: redis.url, keyPrefix: 'cluster:' },
        sftp: { host: '127.0.0.1', port: 0 },
        ftp: { host: '0.0.0.0', port: 0, implicitTlsPort: 0, passivePorts: PASSIVE, pasvUrl: PASV_URL },
        http: { host: '127.0.0.1', port: 0 },
      },
      ['sftp', 'ftp', 'ftps', 'http'],
      ['--workers', '2'],
      2,
    );
    observer = await createGateway({ storage: path.join(dir, 'data'), users: [], redis: { url: redis.url, keyPrefix: 'cluster:' } });
  }, 90_000);

  afterAll(async () => {
    await Promise.allSettled([node?.stop(), observer?.close()]);
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves SFTP logins and transfers from both workers', async () => {
    const held = await onBothWorkers('alice', () => sshSession('alice'));
    try {
      for (const [i, ssh] of held.entries()) await sftpRoundTrip(ssh, `sftp-${i}.bin`);
    } finally {
      for (const ssh of held) ssh.end();
    }
  }, 60_000);

  it('FTP passive with pasvUrl: replies name pasvUrl, each worker offers its own half of the range, data reaches it', async () => {
    const held = await onBothWorkers('pasv', () => rawLogin('pasv', { host: CONTROL_HOST }));
    const halves = new Set<boolean>();
    try {
      for (const [i, ftp] of held.entries()) {
        const ports: number[] = [];
        // Several transfers per connection, PASV and EPSV alternating, each on a fresh offer.
        for (let round = 0; round < 3; round++) {
          const name = `pasv-${i}-${round}.bin`;
          const up = await passiveOffer(ftp, round % 2 === 1);
          await transfer(ftp, `STOR ${name}`, connectTo(up.host ?? CONTROL_HOST, up.port), PAYLOAD);
          const down = await passiveOffer(ftp, round % 2 === 0);
          const bytes = await transfer(ftp, `RETR ${name}`, connectTo(down.host ?? CONTROL_HOST, down.port));
          expect(bytes.equals(PAYLOAD)).toBe(true);
          for (const offer of [up, down]) {
            if (offer.host !== undefined) expect(offer.host).toBe(PASV_URL);
            ports.push(offer.port);
          }
        }
        for (const port of ports) expect(port).toBeGreaterThanOrEqual(PASSIVE[0]), expect(port).toBeLessThanOrEqual(PASSIVE[1]);
        const lower = new Set(ports.map((port) => port < HALF));
        expect(lower.size, `ports of one connection: ${ports.join(' ')}`).toBe(1);
        halves.add([...lower][0]!);
      }
      expect(halves.size).toBe(2); // both workers, each in its own half
    } finally {
      for (const ftp of held) ftp.close();
    }
  }, 60_000);

  it('FTP active mode (PORT and EPRT) transfers on both workers', async () => {
    const held = await onBothWorkers('active', () => rawLogin('active'));
    try {
      for (const [i, ftp] of held.entries()) {
        const name = `active-${i}.bin`;
        await transfer(ftp, `STOR ${name}`, (await activeOffer(ftp, false)).accepted, PAYLOAD);
        expect((await transfer(ftp, `RETR ${name}`, (await activeOffer(ftp, true)).accepted)).equals(PAYLOAD)).toBe(true);
      }
    } finally {
      for (const ftp of held) ftp.close();
    }
  }, 60_000);

  it.each([
    ['explicit', 'ftps', true, 'ftp'],
    ['implicit', 'implicit', 'implicit', 'ftps'],
  ] as const)('%s FTPS logins and transfers on both workers', async (_kind, username, secure, listener) => {
    const held = await onBothWorkers(username, async () => {
      const client = new FtpClient(10_000);
      await client.access({ host: '127.0.0.1', port: node.ports[listener]!, user: username, password: PASSWORD, secure, secureOptions: { rejectUnauthorized: false } });
      return client;
    });
    try {
      for (const [i, client] of held.entries()) {
        expect(client.ftp.socket.constructor.name).toBe('TLSSocket');
        await ftpRoundTrip(client, `${username}-${i}.bin`);
      }
    } finally {
      for (const client of held) client.close();
    }
  }, 60_000);

  it('replaces a worker killed with SIGKILL and removes its sessions at once', async () => {
    const held = await onBothWorkers('alice', () => sshSession('alice'));
    const sessions = await observer.sessions.list();
    const victim = sessions.find((s) => s.username === 'alice')!.node;
    const pid = Number(victim.slice(victim.lastIndexOf('-') + 1));
    process.kill(pid, 'SIGKILL');
    await expect.poll(async () => (await observer.sessions.list()).filter((s) => s.node === victim).length, { timeout: 3_000 }).toBe(0);
    // The survivors' sessions stay; new logins keep working (the replacement joins within a second or so).
    expect((await observer.sessions.list()).some((s) => s.node !== victim)).toBe(true);
    for (const ssh of held) ssh.end();
    await expect.poll(async () => {
      const ssh = await sshSession('alice');
      try {
        await sftpRoundTrip(ssh, 'after-kill.bin');
      } finally {
        ssh.end();
      }
      const client = new FtpClient(10_000);
      try {
        await client.access({ host: '127.0.0.1', port: node.ports.ftp!, user: 'alice', password: PASSWORD });
        await ftpRoundTrip(client, 'after-kill.bin');
      } finally {
        client.close();
      }
      return true;
    }, { timeout: 10_000 }).toBe(true);
  }, 30_000);

  it('stops every worker on SIGTERM and exits 0', async () => {
    const pids = new Set((await observer.sessions.list()).map((s) => Number(s.node.slice(s.node.lastIndexOf('-') + 1))));
    expect(await node.stop()).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });

  it('refuses to start more than one worker without a redis block', async () => {
    const file = path.join(dir, 'no-redis.json');
    await writeFile(file, JSON.stringify({ storage: './data', users: [], sftp: { host: '127.0.0.1', port: 0 } }));
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.resolve('src/cli.ts'), 'serve', '--config', file, '--workers', '2'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('"redis" block');
  });
});
