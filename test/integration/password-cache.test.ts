/**
 * passwordCache end to end: real FTP logins against a gateway built from a config, scrypt runs
 * counted on node:crypto. Repeated logins run scrypt once; `enabled: false` runs it every time; a
 * users file reloaded with a new hash refuses the old password at once.
 */
import * as crypto from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ftpConnect } from '../helpers/clients.js';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, scrypt: vi.fn(actual.scrypt) };
});
const scrypt = vi.mocked(crypto.scrypt);

const PASSWORD = 'cache test pw';

describe('passwordCache', () => {
  let gw: TestGateway | undefined;
  let usersDir: string;
  let usersFile: string;

  beforeEach(async () => {
    usersDir = await mkdtemp(path.join(tmpdir(), 'filegate-pwcache-'));
    usersFile = path.join(usersDir, 'users.json');
    await writeFile(usersFile, JSON.stringify([await user('alice', PASSWORD)]));
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await rm(usersDir, { recursive: true, force: true });
  });

  const start = async (passwordCache?: { enabled: boolean }) => {
    gw = await startGateway({ users: usersFile, passwordCache, ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() } });
    scrypt.mockClear();
    return gw;
  };
  const loginTimes = async (gateway: TestGateway, times: number, password = PASSWORD) => {
    for (let i = 0; i < times; i++) (await ftpConnect(gateway, 'alice', password)).close();
  };

  it('runs scrypt once for repeated logins with the same password (the default)', async () => {
    await loginTimes(await start(), 4);
    expect(scrypt).toHaveBeenCalledTimes(1);
  });

  it('runs scrypt on every login with enabled: false', async () => {
    await loginTimes(await start({ enabled: false }), 4);
    expect(scrypt).toHaveBeenCalledTimes(4);
  });

  it('refuses the old password right after a reload with a new hash; the new one works', async () => {
    const gateway = await start();
    await loginTimes(gateway, 2);
    await writeFile(usersFile, JSON.stringify([await user('alice', 'new pw')]));
    expect(await gateway.gateway.reload()).toMatchObject({ changed: [{ username: 'alice', fields: ['password_hash'] }] });
    await expect(ftpConnect(gateway, 'alice', PASSWORD)).rejects.toThrow(/^530/);
    await loginTimes(gateway, 1, 'new pw');
  });
});
