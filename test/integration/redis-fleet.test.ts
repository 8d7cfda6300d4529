/**
 * Two gateways in separate processes on one real redis-server behave as one: the two-step login
 * across nodes, the TOTP replay guard, the lockout, logout reaching another node's connections,
 * sessions listed across nodes, a killed node's sessions expiring, and Redis stopping mid-run
 * (logins fail closed, live connections keep working, logins return with Redis).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client as FtpClient, FTPError } from 'basic-ftp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway.js';
import { TotpVerifier } from '../../src/core/index.js';
import { TOTP_SECRET, hasCommand, user } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';
import { startGatewayProcess, startRedis, type GatewayProcess, type RedisServer } from '../helpers/processes.js';
import { LoginFailed, sshLogin } from '../helpers/sftp.js';

const SESSIONS = '/api/rest/v1/sessions';
const TTL_SECONDS = 3;

let redis: RedisServer;
let a: GatewayProcess;
let b: GatewayProcess;
let observer: Gateway;
let dir: string;
let baseConfig: Record<string, unknown>;

async function post(node: GatewayProcess, body: Record<string, string>): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`http://127.0.0.1:${node.ports.http}${SESSIONS}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function ftpLogin(node: GatewayProcess, username: string, password: string): Promise<FtpClient> {
  const client = new FtpClient(10_000);
  await client.access({ host: '127.0.0.1', port: node.ports.ftp!, user: username, password });
  return client;
}

/** Resolves when the FTP control connection has closed (basic-ftp drops its socket listeners: poll its flag). */
async function ftpClosed(client: FtpClient): Promise<void> {
  while (!client.closed) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe.skipIf(!hasCommand('redis-server'))('two gateways in separate processes on one Redis', () => {
  beforeAll(async () => {
    redis = await startRedis();
    dir = await mkdtemp(path.join(tmpdir(), 'filegate-fleet-'));
    baseConfig = {
      storage: path.join(dir, 'data'),
      users: [
        await user('alice', 'alice-pw'),
        await user('lena', 'lena-pw'),
        await user('tom', 'tom-pw', { totp_secret: TOTP_SECRET }),
        await user('lock', 'lock-pw'),
      ],
      redis: { url: redis.url, keyPrefix: 'fleet:', sessionTtlSeconds: TTL_SECONDS },
      lockout: { maxFailures: 3, maxFailuresPerSource: 1000, windowMinutes: 15, lockMinutes: 15 },
      http: { host: '127.0.0.1', port: 0 },
      sftp: { host: '127.0.0.1', port: 0 },
    };
    [a, b] = await Promise.all([
      startGatewayProcess({ ...baseConfig, ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() } }, ['http', 'sftp', 'ftp']),
      startGatewayProcess({ ...baseConfig, ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() } }, ['http', 'sftp', 'ftp']),
    ]);
    observer = await createGateway({ storage: path.join(dir, 'data'), users: [], redis: { url: redis.url, keyPrefix: 'fleet:' } });
  }, 90_000);

  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop(), observer?.close()]);
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('completes step 1 on A with step 2 on B, once; a code used on B is a replay on A', async () => {
    const step1 = await post(a, { username: 'tom', password: 'tom-pw' });
    expect(step1.status).toBe(401);
    expect(step1.body.type).toBe('not-authenticated/two-factor-authentication-error');
    const partial = step1.body.data.partial_session_id as string;
    const code = TotpVerifier.generate(TOTP_SECRET);
    const step2 = await post(b, { username: 'tom', partial_session_id: partial, otp: code });
    expect(step2.status).toBe(201);
    expect(step2.body.id).toMatch(/^[0-9a-f]{40}$/);
    const again = await post(a, { username: 'tom', partial_session_id: partial, otp: code });
    expect(again.body.type).toBe('not-authenticated/two-factor-authentication-setup-expired');
    const replay = await post(a, { username: 'tom', password: 'tom-pw', otp: code });
    expect(replay.status).toBe(401);
    expect(replay.body.type).toBe('not-authenticated/one-time-password-incorrect');
  });

  it('adds failures on A and B toward one lockout that holds on both', async () => {
    // Different passwords: identical requests from one address count once (retries), on every node.
    for (const [i, node] of [a, b, a].entries()) expect((await post(node, { username: 'lock', password: `wrong${i}` })).status).toBe(401);
    for (const node of [a, b]) {
      const refused = await post(node, { username: 'lock', password: 'lock-pw' });
      expect(refused.body.type).toBe('not-authenticated/locked-out');
    }
  });

  it("lists A's sessions on another node and ends A's SFTP and FTP connections from B within 1 s", async () => {
    const ssh = await sshLogin(a.ports.sftp!, { username: 'lena', password: 'lena-pw' });
    const ftp = await ftpLogin(a, 'lena', 'lena-pw');
    const held = async () => (await observer.sessions.list()).filter((s) => s.username === 'lena');
    await expect.poll(async () => (await held()).map((s) => `${s.protocol}:${s.connections}`).sort(), { timeout: 5_000 }).toEqual([
      'ftp:1',
      'sftp:1',
    ]);
    const [sftpSession, ftpSession] = ['sftp', 'ftp'].map((p) => (async () => (await held()).find((s) => s.protocol === p)!)());
    const sftpInfo = (await sftpSession)!;
    const ftpInfo = (await ftpSession)!;
    expect(sftpInfo.node).not.toBe(observer.sessions.node);
    expect(sftpInfo.node).toBe(ftpInfo.node);
    expect(sftpInfo.remote_address).toBe('127.0.0.1');

    let started = Date.now();
    const res = await fetch(`http://127.0.0.1:${b.ports.http}${SESSIONS}`, { method: 'DELETE', headers: { 'X-FilesAPI-Auth': sftpInfo.id } });
    expect(res.status).toBe(204);
    await ssh.closed;
    expect(Date.now() - started).toBeLessThan(1_000);

    started = Date.now();
    const closed = ftpClosed(ftp);
    expect(await observer.sessions.delete(ftpInfo.id)).toBe(true);
    await closed;
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await held()).toEqual([]);
  });

  it("removes a killed node's sessions within the TTL", async () => {
    const doomed = await startGatewayProcess({ ...baseConfig, http: undefined }, ['sftp']);
    const ssh = await sshLogin(doomed.ports.sftp!, { username: 'alice', password: 'alice-pw' });
    const onDoomed = async () => (await observer.sessions.list()).filter((s) => s.username === 'alice' && s.protocol === 'sftp');
    expect(await onDoomed()).toHaveLength(1);
    await doomed.kill();
    await ssh.closed;
    const killedAt = Date.now();
    await expect.poll(onDoomed, { timeout: (TTL_SECONDS + 2) * 1000, interval: 200 }).toEqual([]);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(TTL_SECONDS * 1000 + 1000);
  });

  it('fails new logins closed while Redis is down, keeps live connections, and recovers', async () => {
    const live = await ftpLogin(a, 'alice', 'alice-pw');
    await redis.stop();
    try {
      const http = await post(a, { username: 'alice', password: 'alice-pw' });
      expect(http.status).toBe(503);
      expect(http.body.type).toBe('service-unavailable');
      const ftpRefusal = await ftpLogin(a, 'alice', 'alice-pw').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(ftpRefusal).toBeInstanceOf(FTPError);
      expect((ftpRefusal as FTPError).code).toBe(421);
      const sshRefusal = await sshLogin(a.ports.sftp!, { username: 'alice', password: 'alice-pw' }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(sshRefusal).toBeInstanceOf(LoginFailed);
      expect((sshRefusal as LoginFailed).banners.join('')).toMatch(/unavailable/i);
      // The connection logged in before the outage still works.
      expect(Array.isArray(await live.list())).toBe(true);
    } finally {
      await redis.start();
    }
    await expect.poll(async () => (await post(b, { username: 'alice', password: 'alice-pw' })).status, { timeout: 10_000, interval: 250 }).toBe(201);
    expect((await post(a, { username: 'alice', password: 'alice-pw' })).status).toBe(201);
    expect(Array.isArray(await live.list())).toBe(true);
    live.close();
  }, 30_000);
});
