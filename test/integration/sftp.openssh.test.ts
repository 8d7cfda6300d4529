/**
 * The SFTP adapter with the clients people use: OpenSSH `sftp` (sshpass, SSH_ASKPASS for the code
 * prompt, `-i` keys, `-c` ciphers) and curl's `sftp://`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpVerifier } from '../../src/core/index.js';
import { TOTP_SECRET, hasCommand, startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { runCli } from '../helpers/cli.js';
import { runCurl, runSftpCli, type CliLogin } from '../helpers/sftp.js';

const PW = 'openssh-pw';
const code = (): string => TotpVerifier.generate(TOTP_SECRET);

describe.skipIf(!hasCommand('sftp') || !hasCommand('sshpass') || !hasCommand('ssh-keygen'))('SFTP with OpenSSH sftp', () => {
  let gw: TestGateway;
  let port: number;
  let keyDir: string;
  let identity: string;
  const home = (...parts: string[]): string => path.join(gw.storage, ...parts);
  const cli = (login: Omit<CliLogin, 'workDir'>, commands: string[]) => runSftpCli(port, { ...login, workDir: gw.dir }, commands);

  beforeAll(async () => {
    keyDir = await mkdtemp(path.join(tmpdir(), 'filegate-sftp-key-'));
    identity = path.join(keyDir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', identity]);
    gw = await startGateway({
      sftp: { host: '127.0.0.1', port: 0 },
      insecure: { sshCiphers: true },
      lockout: { maxFailures: 2, maxFailuresPerSource: 100 },
      users: await Promise.all([
        user('alice', PW),
        user('reader', PW, { read_only: true }),
        user('keeper', PW, { use_provided_modified_at: false }),
        user('totp', PW, { totp_secret: TOTP_SECRET }),
        user('totp2', PW, { totp_secret: TOTP_SECRET }),
        user('setup', PW, { two_factor_setup_needed: true }),
        user('legacy', PW, { sftp_insecure_ciphers: true }),
        user('victim', PW),
        { username: 'keyed', public_keys: [(await readFile(`${identity}.pub`, 'utf8')).trim()], root_path: 'keyed' },
      ]),
    });
    port = gw.gateway.addresses.sftp!.port;
    await mkdir(home('reader'), { recursive: true });
    await writeFile(home('reader', 'existing.txt'), 'read me');
  });
  afterAll(async () => {
    await gw?.close();
    await rm(keyDir, { recursive: true, force: true });
  });

  it('round-trips a file byte for byte and never leaves the root', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 7);
    const local = path.join(gw.dir, 'up.bin');
    const back = path.join(gw.dir, 'down.bin');
    await writeFile(local, data);
    const result = await cli({ username: 'alice', password: PW }, [`put ${local} /up.bin`, `get /up.bin ${back}`, 'ls -l', 'cd ../..', 'pwd', '-cd /etc', 'pwd']);
    expect(result.code, result.stderr).toBe(0);
    expect((await readFile(home('alice', 'up.bin'))).equals(data)).toBe(true);
    expect((await readFile(back)).equals(data)).toBe(true);
    // With users-groups-by-id the client formats the line itself: no link count ("?"), our names.
    expect(result.stdout).toMatch(/-rw-r--r-- +\? alice +alice +2097159 .* up\.bin/);
    expect(result.stdout.match(/Remote working directory: (.*)/g)).toEqual(['Remote working directory: /', 'Remote working directory: /']);
  });

  it('keeps transferring across re-keys (the algorithms are checked again each time)', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const local = path.join(gw.dir, 'rekey.bin');
    await writeFile(local, data);
    const result = await cli({ username: 'alice', password: PW, args: ['-o', 'RekeyLimit=1M', '-o', 'LogLevel=DEBUG1'] }, [`put ${local} /rekey.bin`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.match(/SSH2_MSG_NEWKEYS received/g)?.length).toBeGreaterThan(2);
    expect((await readFile(home('alice', 'rekey.bin'))).equals(data)).toBe(true);
  });

  it('read_only: uploads, mkdir, rm and rename are refused; downloads work', async () => {
    const local = path.join(gw.dir, 'ro.txt');
    await writeFile(local, 'x');
    const result = await cli({ username: 'reader', password: PW }, [
      `-put ${local} /new.txt`,
      '-mkdir /d',
      '-rm /existing.txt',
      '-rename /existing.txt /moved.txt',
      `get /existing.txt ${path.join(gw.dir, 'got.txt')}`,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.match(/Permission denied/g)?.length).toBe(4);
    expect(await readFile(path.join(gw.dir, 'got.txt'), 'utf8')).toBe('read me');
    expect(await readFile(home('reader', 'existing.txt'), 'utf8')).toBe('read me');
  });

  it('OpenSSH extensions: rename over an existing file, df -h, ln, ln -s, put -f, chmod, ls -l', async () => {
    const local = path.join(gw.dir, 'ext.txt');
    await writeFile(local, 'extension data');
    await mkdir(home('alice'), { recursive: true });
    await writeFile(home('alice', 'target.txt'), 'old target');
    const result = await cli({ username: 'alice', password: PW }, [
      `put -f ${local} /synced.txt`,
      'rename /synced.txt /target.txt',
      'df -h /',
      'ln /target.txt /hard.txt',
      'ln -s target.txt /soft.txt',
      'chmod 600 /hard.txt',
      'ls -l /',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/does not support|Failure/);
    expect(await readFile(home('alice', 'target.txt'), 'utf8')).toBe('extension data');
    expect((await stat(home('alice', 'hard.txt'))).ino).toBe((await stat(home('alice', 'target.txt'))).ino);
    expect((await stat(home('alice', 'target.txt'))).mode & 0o777).toBe(0o600);
    expect(await readFile(home('alice', 'soft.txt'), 'utf8')).toBe('extension data');
    expect(result.stdout).toMatch(/Size +Used +Avail +\(root\) +%Capacity/); // df -h
    expect(result.stdout).toMatch(/-rw------- +\? alice +alice +14 .* \/target\.txt/);
    expect(result.stdout).toMatch(/lrwxrwxrwx .* \/soft\.txt/);
  });

  it('read_only: every write verb, extensions included, is refused', async () => {
    const local = path.join(gw.dir, 'ro2.txt');
    await writeFile(local, 'x');
    await mkdir(home('reader', 'sub'), { recursive: true });
    const result = await cli({ username: 'reader', password: PW }, [
      `-put -f ${local} /new.txt`,
      '-ln /existing.txt /hard.txt',
      '-ln -s /existing.txt /soft.txt',
      '-chmod 600 /existing.txt',
      '-rmdir /sub',
      '-rename /existing.txt /sub/moved.txt',
      'df /',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.match(/Permission denied/g)?.length).toBe(6);
    expect((await stat(home('reader', 'existing.txt'))).mode & 0o777).toBe(0o644);
    expect((await readdir(home('reader'))).sort()).toEqual(['existing.txt', 'sub']);
  });

  it('a hard link of a symlink that points outside gives no way to the outside file', async () => {
    await mkdir(home('outside'), { recursive: true });
    await writeFile(home('outside', 'secret.txt'), 'outside secret');
    await mkdir(home('alice'), { recursive: true });
    await symlink(home('outside', 'secret.txt'), home('alice', 'out-link'));
    const got = path.join(gw.dir, 'got-secret.txt');
    const result = await cli({ username: 'alice', password: PW }, ['ln /out-link /hard-out', `-get /hard-out ${got}`, `-get /out-link ${got}`]);
    expect(result.code, result.stderr).toBe(0);
    expect((await lstat(home('alice', 'hard-out'))).isSymbolicLink()).toBe(true); // the link itself was linked
    await expect(readFile(got)).rejects.toThrow();
    expect(result.stdout + result.stderr).not.toContain('outside secret');
  });

  it('scp (SFTP mode) with ~/ paths both ways', async () => {
    const local = path.join(gw.dir, 'scp-up.txt');
    const back = path.join(gw.dir, 'scp-down.txt');
    await writeFile(local, 'copied by scp');
    const scp = (...args: string[]) =>
      runCli('sshpass', ['-p', PW, 'scp', '-s', '-P', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'PubkeyAuthentication=no', ...args], { timeoutMs: 20_000 });
    const up = await scp(local, 'alice@127.0.0.1:~/scp-dir-file.txt');
    expect(up.code, up.stderr).toBe(0);
    expect(await readFile(home('alice', 'scp-dir-file.txt'), 'utf8')).toBe('copied by scp');
    const down = await scp('alice@127.0.0.1:~/scp-dir-file.txt', back);
    expect(down.code, down.stderr).toBe(0);
    expect(await readFile(back, 'utf8')).toBe('copied by scp');
  });

  it('put -p keeps the mtime only with use_provided_modified_at', async () => {
    const local = path.join(gw.dir, 'old.txt');
    await writeFile(local, 'old');
    const old = new Date('2001-09-09T01:46:40Z');
    await utimes(local, old, old);
    for (const username of ['alice', 'keeper']) {
      const result = await cli({ username, password: PW }, [`put -p ${local} /old.txt`]);
      expect(result.code, result.stderr).toBe(0);
    }
    expect((await stat(home('alice', 'old.txt'))).mtime.getTime()).toBe(old.getTime());
    expect(Math.abs((await stat(home('keeper', 'old.txt'))).mtimeMs - Date.now())).toBeLessThan(60_000);
  });

  it('TOTP: the password alone is refused, password + code accepted, a replayed code refused', async () => {
    expect((await cli({ username: 'totp', password: PW, otp: '' }, ['pwd'])).code).not.toBe(0);
    const current = code();
    const ok = await cli({ username: 'totp', password: PW, otp: current }, ['pwd']);
    expect(ok.code, ok.stderr).toBe(0);
    const replay = await cli({ username: 'totp', password: PW, otp: current }, ['pwd']);
    expect(replay.code).not.toBe(0);
    expect(replay.stderr).toContain('already used');
  });

  it('TOTP: the code may follow the password in the password prompt', async () => {
    const result = await cli({ username: 'totp2', password: `${PW}${code()}` }, ['pwd']);
    expect(result.code, result.stderr).toBe(0);
  });

  it('two_factor_setup_needed: refused with the allowed methods named', async () => {
    const result = await cli({ username: 'setup', password: PW }, ['pwd']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('Two-factor authentication must be set up before you can log in. Allowed methods: totp.');
  });

  it('sftp -c aes128-cbc: refused without the flag, accepted with sftp_insecure_ciphers', async () => {
    const refused = await cli({ username: 'alice', password: PW, args: ['-c', 'aes128-cbc'] }, ['pwd']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('The SSH algorithm aes128-cbc is not allowed for this account.');
    const accepted = await cli({ username: 'legacy', password: PW, args: ['-c', 'aes128-cbc'] }, ['pwd']);
    expect(accepted.code, accepted.stderr).toBe(0);
  });

  it('public key login with -i', async () => {
    const result = await cli({ username: 'keyed', identity }, ['pwd']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Remote working directory: /');
  });

  it('locks a user out after repeated failures, with the reason shown', async () => {
    for (const bad of ['bad-1', 'bad-2']) expect((await cli({ username: 'victim', password: bad }, ['pwd'])).code).not.toBe(0);
    const locked = await cli({ username: 'victim', password: PW }, ['pwd']);
    expect(locked.code).not.toBe(0);
    expect(locked.stderr).toMatch(/Too many failed logins\. Try again in \d+ minutes\./);
  });

  it('logging the session out drops a running sftp within a second', async () => {
    const before = new Set((await gw.gateway.sessions.list()).map((s) => s.id));
    const child = spawn('sftp', ['-P', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-i', identity, 'keyed@127.0.0.1'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      let id: string | undefined;
      await expect.poll(async () => (id = (await gw.gateway.sessions.list()).find((s) => !before.has(s.id))?.id), { timeout: 10_000 }).toBeDefined();
      const started = Date.now();
      gw.gateway.sessions.delete(id!);
      // sftp reports its ssh transport gone at once (it exits only at its next command).
      await expect.poll(() => stderr, { timeout: 1000, interval: 20 }).toContain('Connection closed');
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      child.kill();
    }
  });
});

describe.skipIf(!hasCommand('curl'))('SFTP with curl', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ sftp: { host: '127.0.0.1', port: 0 }, users: [await user('carol', PW)] });
  });
  afterAll(() => gw?.close());

  it('uploads and downloads with sftp:// byte for byte; a wrong password fails', async () => {
    const url = `sftp://127.0.0.1:${gw.gateway.addresses.sftp!.port}/curl.bin`;
    const data = randomBytes(1024 * 1024 + 3);
    const local = path.join(gw.dir, 'curl-up.bin');
    const back = path.join(gw.dir, 'curl-down.bin');
    await writeFile(local, data);
    const up = await runCurl(['-u', `carol:${PW}`, '-T', local, url]);
    expect(up.code, up.stderr).toBe(0);
    expect((await readFile(path.join(gw.storage, 'carol', 'curl.bin'))).equals(data)).toBe(true);
    const down = await runCurl(['-u', `carol:${PW}`, '-o', back, url]);
    expect(down.code, down.stderr).toBe(0);
    expect((await readFile(back)).equals(data)).toBe(true);
    const wrong = await runCurl(['-u', 'carol:wrong', '-o', back, url]);
    expect(wrong.code).toBe(67); // CURLE_LOGIN_DENIED
  });
});
