/**
 * SIGHUP to `filegate serve --workers 2` reaches every worker: each re-reads the users file, the
 * removed user's sessions end on both workers, and the added user logs in through both.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway.js';
import { hasCommand, user } from '../helpers/gateway.js';
import { startGatewayProcess, startRedis, type GatewayProcess, type RedisServer } from '../helpers/processes.js';
import { call, LoginFailed, sshLogin, type SshSession } from '../helpers/sftp.js';

const PASSWORD = 'cluster reload pw';

describe.skipIf(!hasCommand('redis-server'))('SIGHUP under --workers 2', () => {
  let redis: RedisServer;
  let node: GatewayProcess;
  let observer: Gateway;
  let dir: string;
  let usersFile: string;
  let stays: Record<string, unknown>;

  /** Four logins held at once: round robin spreads them over both workers. */
  const holdFour = async (username: string): Promise<SshSession[]> => {
    const held = await Promise.all(Array.from({ length: 4 }, () => sshLogin(node.ports.sftp!, { username, password: PASSWORD })));
    await expect
      .poll(async () => new Set((await observer.sessions.list()).filter((s) => s.username === username).map((s) => s.node)).size, { timeout: 5_000 })
      .toBe(2);
    return held;
  };

  beforeAll(async () => {
    redis = await startRedis();
    dir = await mkdtemp(path.join(tmpdir(), 'filegate-cluster-reload-'));
    usersFile = path.join(dir, 'users.json');
    stays = await user('stays', PASSWORD);
    await writeFile(usersFile, JSON.stringify([stays, await user('leaves', PASSWORD)]));
    node = await startGatewayProcess(
      { storage: path.join(dir, 'data'), users: usersFile, redis: { url: redis.url, keyPrefix: 'reload:' }, sftp: { host: '127.0.0.1', port: 0 } },
      ['sftp'],
      ['--workers', '2'],
      2,
    );
    observer = await createGateway({ storage: path.join(dir, 'data'), users: [], redis: { url: redis.url, keyPrefix: 'reload:' } });
  }, 90_000);

  afterAll(async () => {
    await Promise.allSettled([node?.stop(), observer?.close()]);
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('every worker reloads: the removed user is cut on both, the added one logs in on both', async () => {
    const leaving = await holdFour('leaves');
    const staying = await holdFour('stays');
    await writeFile(usersFile, JSON.stringify([stays, await user('arrives', PASSWORD)]));
    process.kill(node.pid, 'SIGHUP');

    await Promise.all(leaving.map((login) => login.closed));
    const applied = () => node.output.filter((line) => line.includes('"event":"reload"') && line.includes('"outcome":"applied"'));
    await expect.poll(() => applied().length, { timeout: 10_000 }).toBe(2);
    expect(new Set(applied().map((line) => (JSON.parse(line) as { pid: number }).pid)).size).toBe(2);
    expect((await observer.sessions.list()).filter((s) => s.username === 'leaves')).toEqual([]);
    await expect(sshLogin(node.ports.sftp!, { username: 'leaves', password: PASSWORD })).rejects.toBeInstanceOf(LoginFailed);

    // Unchanged users keep their connections on both workers.
    expect((await observer.sessions.list()).filter((s) => s.username === 'stays')).toHaveLength(4);
    for (const login of staying) expect(await call<string>((cb) => login.sftp.realpath('.', cb))).toBe('/');
    const arrived = await holdFour('arrives');
    for (const login of [...staying, ...arrived]) login.end();
  }, 60_000);
});
