/**
 * gateway.reload(): a changed users file (flag flipped, user removed, user added) ends exactly the
 * affected sessions while an unrelated upload carries on to a byte-exact file; new logins see the new
 * records; a broken file is refused with the start-up error and the old users stay; lockout numbers
 * and the log level follow the new config.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '../../src/crypto/tls-cert.js';
import { ftpClosed, ftpConnect, memoryLogger, mkdirCode, sftpUpload, sshConnect } from '../helpers/clients.js';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';

const PASSWORD = 'reload test pw';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('gateway.reload()', () => {
  let gw: TestGateway;
  let usersDir: string;
  let usersFile: string;
  const { logger } = memoryLogger();

  beforeAll(async () => {
    usersDir = await mkdtemp(path.join(tmpdir(), 'filegate-reload-'));
    usersFile = path.join(usersDir, 'users.json');
    await writeFile(usersFile, JSON.stringify(await Promise.all(['keep', 'flip', 'gone'].map((name) => user(name, PASSWORD)))));
    gw = await startGateway(
      { users: usersFile, sftp: { host: '127.0.0.1', port: 0 }, ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() } },
      { logger },
    );
  });
  afterAll(async () => {
    await gw?.close();
    await rm(usersDir, { recursive: true, force: true });
  });

  it('ends the sessions of changed and removed users only; an unrelated upload completes intact', async () => {
    const keep = await sshConnect(gw, 'keep', PASSWORD);
    const flip = await sshConnect(gw, 'flip', PASSWORD);
    const gone = await ftpConnect(gw, 'gone', PASSWORD);
    const goneClosed = ftpClosed(gone);
    const upload = sftpUpload(keep, '/big.bin');
    for (let i = 0; i < 8; i++) await upload.write(randomBytes(256 * 1024));

    const records = JSON.parse(await readFile(usersFile, 'utf8')) as Record<string, unknown>[];
    const next = records.filter((r) => r.username !== 'gone').map((r) => (r.username === 'flip' ? { ...r, read_only: true } : r));
    await writeFile(usersFile, JSON.stringify([...next, await user('newbie', PASSWORD)]));
    const started = Date.now();
    const result = await gw.gateway.reload();
    expect(result).toEqual({ added: ['newbie'], removed: ['gone'], changed: [{ username: 'flip', fields: ['read_only'] }], endedSessions: 2, restartNeeded: [] });
    expect((await flip.closed) - started).toBeLessThan(1000);
    expect((await goneClosed).at - started).toBeLessThan(1000);

    for (let i = 0; i < 8; i++) await upload.write(randomBytes(256 * 1024));
    const sent = await upload.finish();
    expect(sha(await readFile(path.join(gw.storage, 'keep', 'big.bin')))).toBe(sha(sent));
    expect(sent.length).toBe(4 * 1024 * 1024);
    expect(await mkdirCode(keep, '/still-writable')).toBeUndefined();
    keep.ssh.end();

    const flipAgain = await sshConnect(gw, 'flip', PASSWORD);
    expect(await mkdirCode(flipAgain, '/nope')).toBe(3); // PERMISSION_DENIED: now read_only
    flipAgain.ssh.end();
    await expect(ftpConnect(gw, 'gone', PASSWORD)).rejects.toThrow(/^530/);
    (await sshConnect(gw, 'newbie', PASSWORD)).ssh.end();
  });

  it('refuses a broken users file with the start-up error and keeps the users in force', async () => {
    const good = await readFile(usersFile, 'utf8');
    for (const broken of ['[{"username": "newbie", "read_only": "yes"}]', '[{"username": ']) {
      await writeFile(usersFile, broken);
      const atStart = await startGateway({ users: usersFile }).then(
        () => 'started',
        (err: Error) => err.message,
      );
      expect(atStart).toContain(usersFile);
      await expect(gw.gateway.reload()).rejects.toThrow(atStart);
    }
    const login = await sshConnect(gw, 'newbie', PASSWORD);
    login.ssh.end();
    await writeFile(usersFile, good);
  });

  it('applies lockout numbers and the log level; names the keys that need a restart', async () => {
    const base = gw.gateway.config;
    const stricter = await gw.gateway.reload({ ...base, lockout: { ...base.lockout, maxFailures: 1 }, logLevel: 'warn' });
    expect(stricter.restartNeeded).toEqual([]);
    expect(logger.level).toBe('warn');
    await expect(sshConnect(gw, 'keep', 'wrong')).rejects.toThrow();
    await expect(sshConnect(gw, 'keep', PASSWORD)).rejects.toThrow(); // locked after one failure
    expect(gw.gateway.config.lockout.maxFailures).toBe(1);

    const moved = await gw.gateway.reload({ ...base, sftp: { ...base.sftp!, port: 1 } });
    expect(moved.restartNeeded).toEqual(['sftp']);
    expect(gw.gateway.config.sftp!.port).toBe(base.sftp!.port);
    expect(logger.level).toBe('info');
  });
});

describe('gateway.reload() and the FTPS certificate', () => {
  let gw: TestGateway;
  let tlsDir: string;
  const files = () => ({ cert: path.join(tlsDir, 'cert.pem'), key: path.join(tlsDir, 'key.pem') });
  const install = async (name: string) => {
    const made = createSelfSignedCertificate(name);
    await writeFile(files().cert, made.cert);
    await writeFile(files().key, made.key);
  };
  /** The common name of the certificate a new implicit FTPS connection is shown. */
  const servedName = () =>
    new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: gw.gateway.addresses.ftps!.port, rejectUnauthorized: false }, () => {
        resolve(String(socket.getPeerCertificate().subject.CN));
        socket.destroy();
      });
      socket.once('error', reject);
    });

  beforeAll(async () => {
    tlsDir = await mkdtemp(path.join(tmpdir(), 'filegate-reload-tls-'));
    await install('first');
    gw = await startGateway({ ftp: { host: '127.0.0.1', port: 0, implicitTlsPort: 0, passivePorts: await passivePorts(), tls: files() } });
  });
  afterAll(async () => {
    await gw?.close();
    await rm(tlsDir, { recursive: true, force: true });
  });

  it('serves a replaced certificate to new connections; an unusable one is refused and the old stays', async () => {
    expect(await servedName()).toBe('first');
    await install('second');
    await gw.gateway.reload();
    expect(await servedName()).toBe('second');
    await writeFile(files().key, 'not a key');
    await expect(gw.gateway.reload()).rejects.toThrow();
    expect(await servedName()).toBe('second');
  });
});

describe('gateway.reload() and the admin token', () => {
  it('takes up a new token file: the old token is refused, the new one works, no token turns the API off', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'filegate-reload-token-'));
    const tokenFile = path.join(dir, 'admin-token');
    await writeFile(tokenFile, 'first-token-0123456789\n');
    const gw = await startGateway({ http: { host: '127.0.0.1', port: 0, adminTokenFile: tokenFile } });
    const status = async (token: string) =>
      (await fetch(`http://127.0.0.1:${gw.gateway.addresses.http!.port}/api/rest/v1/admin/sessions`, { headers: { Authorization: `Bearer ${token}` } })).status;
    try {
      expect(await status('first-token-0123456789')).toBe(200);
      await writeFile(tokenFile, 'second-token-0123456789\n');
      await gw.gateway.reload();
      expect(await status('first-token-0123456789')).toBe(401);
      expect(await status('second-token-0123456789')).toBe(200);
      await writeFile(tokenFile, 'short\n');
      await expect(gw.gateway.reload()).rejects.toThrow('at least 16 characters');
      expect(await status('second-token-0123456789')).toBe(200);
      const { adminTokenFile: _off, ...http } = gw.gateway.config.http!;
      await gw.gateway.reload({ ...gw.gateway.config, http });
      expect(await status('second-token-0123456789')).toBe(404);
    } finally {
      await gw.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
