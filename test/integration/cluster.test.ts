/**
 * `filegate serve --workers 2` on one machine: logins and transfers over SFTP, FTP (passive) and
 * explicit FTPS reach both workers; a worker killed with SIGKILL is replaced and its sessions leave
 * the store at once; SIGTERM stops everything with exit 0. Without a redis block it refuses to start.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { Client as FtpClient } from 'basic-ftp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway.js';
import { hasCommand, user } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';
import { startGatewayProcess, startRedis, type GatewayProcess, type RedisServer } from '../helpers/processes.js';
import { call, sshLogin } from '../helpers/sftp.js';

const PAYLOAD = Buffer.alloc(256 * 1024, 'filegate-cluster ');

let redis: RedisServer;
let node: GatewayProcess;
let observer: Gateway;
let dir: string;

async function ftpRoundTrip(secure: boolean, name: string): Promise<void> {
  const client = new FtpClient(10_000);
  try {
    await client.access({ host: '127.0.0.1', port: node.ports.ftp!, user: 'alice', password: 'alice-pw', secure, secureOptions: { rejectUnauthorized: false } });
    await client.uploadFrom(Readable.from([PAYLOAD]), name);
    const chunks: Buffer[] = [];
    await client.downloadTo(new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) }), name);
    expect(Buffer.concat(chunks).equals(PAYLOAD)).toBe(true);
  } finally {
    client.close();
  }
}

async function sftpRoundTrip(name: string): Promise<void> {
  const ssh = await sshLogin(node.ports.sftp!, { username: 'alice', password: 'alice-pw' });
  try {
    await call((cb) => ssh.sftp.writeFile(name, PAYLOAD, cb));
    const back = await call<Buffer>((cb) => ssh.sftp.readFile(name, cb));
    expect(back.equals(PAYLOAD)).toBe(true);
  } finally {
    ssh.end();
  }
}

const nodesSeen = async (): Promise<Set<string>> => new Set((await observer.sessions.list()).map((s) => s.node));

describe.skipIf(!hasCommand('redis-server'))('filegate serve --workers 2', () => {
  beforeAll(async () => {
    redis = await startRedis();
    dir = await mkdtemp(path.join(tmpdir(), 'filegate-cluster-'));
    node = await startGatewayProcess(
      {
        storage: path.join(dir, 'data'),
        users: [await user('alice', 'alice-pw')],
        redis: { url: redis.url, keyPrefix: 'cluster:' },
        sftp: { host: '127.0.0.1', port: 0 },
        ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() },
        http: { host: '127.0.0.1', port: 0 },
      },
      ['sftp', 'ftp', 'http'],
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

  it('serves SFTP, FTP and explicit FTPS logins and transfers from both workers', async () => {
    // Round robin: logins held open at the same time land on both workers.
    const held = await Promise.all(Array.from({ length: 4 }, () => sshLogin(node.ports.sftp!, { username: 'alice', password: 'alice-pw' })));
    await expect.poll(async () => (await nodesSeen()).size, { timeout: 5_000 }).toBe(2);
    for (const ssh of held) ssh.end();
    for (let i = 0; i < 4; i++) {
      await sftpRoundTrip(`sftp-${i}.bin`);
      await ftpRoundTrip(false, `ftp-${i}.bin`);
      await ftpRoundTrip(true, `ftps-${i}.bin`);
    }
  }, 60_000);

  it('replaces a worker killed with SIGKILL and removes its sessions at once', async () => {
    const held = await Promise.all(Array.from({ length: 4 }, () => sshLogin(node.ports.sftp!, { username: 'alice', password: 'alice-pw' })));
    let sessions = await observer.sessions.list();
    await expect.poll(async () => new Set((sessions = await observer.sessions.list()).map((s) => s.node)).size, { timeout: 5_000 }).toBe(2);
    const victim = sessions[0]!.node;
    const pid = Number(victim.slice(victim.lastIndexOf('-') + 1));
    process.kill(pid, 'SIGKILL');
    await expect.poll(async () => (await observer.sessions.list()).filter((s) => s.node === victim).length, { timeout: 3_000 }).toBe(0);
    // The survivors' sessions stay; new logins keep working (the replacement joins within a second or so).
    expect((await observer.sessions.list()).some((s) => s.node !== victim)).toBe(true);
    for (const ssh of held) ssh.end();
    await expect.poll(async () => {
      await sftpRoundTrip('after-kill.bin');
      await ftpRoundTrip(false, 'after-kill.bin');
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
