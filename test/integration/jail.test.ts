/**
 * The jail with real clients. Symlinks clients make (OpenSSH `sftp ln -s`, ssh2) are stored relative
 * to themselves. And the jail against a race: The user's tree holds a directory `dir` (a secret of
 * its own inside) and, as links already on disk do, a symlink `out` to a directory outside the
 * jail with a different secret. A child process swaps them back and forth in a tight loop: `dir`
 * is renamed away, `out` renamed into its place, and back. Meanwhile an ssh2 SFTP client and a
 * basic-ftp client read, stat, list and write `dir/...` as fast as they can. A check of the real
 * path followed by a second call that uses it would now and then be handed the outside directory;
 * walking the path through descriptors never is. Nothing read, stat'ed or listed may come from
 * the outside, nothing may be written there, and the gateway's descriptors go back to where they were.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client as FtpClient } from 'basic-ftp';
import type { FileEntry, SFTPWrapper, Stats } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passivePorts } from '../helpers/passive-ports.js';
import { hasCommand, startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { call, runSftpCli, sshLogin, statusOf } from '../helpers/sftp.js';

const PW = 'jail-race-pw';
const INSIDE = 'inside the jail\n';
const OUTSIDE = 'THE OUTSIDE SECRET, longer than the inside one\n';
const RACE_MS = 3_000;

/** Swaps `dir` and the link `out` in `root` until the time is up; prints how many swaps it made. */
const SWAPPER = `
const { renameSync } = require('node:fs');
const path = require('node:path');
const [root, ms] = process.argv.slice(1);
const p = (name) => path.join(root, name);
const end = Date.now() + Number(ms);
let swaps = 0;
while (Date.now() < end) {
  renameSync(p('dir'), p('real'));
  renameSync(p('out'), p('dir'));
  renameSync(p('dir'), p('out'));
  renameSync(p('real'), p('dir'));
  swaps++;
}
process.stdout.write(String(swaps));
`;

const openDescriptors = (): number => readdirSync('/proc/self/fd').length;

describe('the jail with real clients', () => {
  let gw: TestGateway;
  let root: string;
  let outside: string;

  beforeAll(async () => {
    gw = await startGateway({
      sftp: { host: '127.0.0.1', port: 0 },
      ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() },
      users: [await user('racer', PW)],
    });
    root = path.join(gw.storage, 'racer');
    outside = path.join(gw.storage, 'outside');
    await mkdir(path.join(root, 'dir'), { recursive: true });
    await mkdir(outside);
    await writeFile(path.join(root, 'dir', 'secret.txt'), INSIDE);
    await writeFile(path.join(outside, 'secret.txt'), OUTSIDE);
    await writeFile(path.join(outside, 'outside-only.txt'), 'x');
    await symlink(outside, path.join(root, 'out'));
  });
  afterAll(() => gw?.close());

  it.skipIf(!hasCommand('sftp') || !hasCommand('sshpass'))('stores the links clients make relative to the link, with no host path; outside targets stay refused', async () => {
    const port = gw.gateway.addresses.sftp!.port;
    const got = path.join(gw.dir, 'through-link.txt');
    const cli = await runSftpCli(port, { username: 'racer', password: PW, workDir: gw.dir }, [
      'mkdir /links',
      'ln -s /dir/secret.txt /links/soft', // OpenSSH: ln -s oldpath newpath
      'ln -s ../dir /links/dir-link',
      `get /links/dir-link/secret.txt ${got}`,
      '-ln -s /out/secret.txt /links/escape',
      '-ln -s /out /links/escape-dir',
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(await readFile(got, 'utf8')).toBe(INSIDE);
    const ssh = await sshLogin(port, { username: 'racer', password: PW });
    try {
      const { sftp } = ssh;
      await call((cb) => sftp.symlink('/dir/secret.txt', '/links/ssh2-link', cb));
      for (const [link, stored] of [
        ['soft', '../dir/secret.txt'],
        ['dir-link', '../dir'],
        ['ssh2-link', '../dir/secret.txt'],
      ]) {
        const onDisk = path.join(root, 'links', link!);
        expect(await readlink(onDisk), link).toBe(stored);
        expect((await lstat(onDisk)).size, link).toBe(stored!.length); // tells nothing of the host's path
        expect(await call<string>((cb) => sftp.readlink(`/links/${link}`, cb))).toBe(path.posix.resolve('/links', stored!));
      }
      expect((await call<Buffer>((cb) => sftp.readFile('/links/soft', cb))).toString()).toBe(INSIDE);
      expect((await call<Buffer>((cb) => sftp.readFile('/links/ssh2-link', cb))).toString()).toBe(INSIDE);
      expect((await statusOf(call((cb) => sftp.symlink('/out/secret.txt', '/links/escape2', cb)))).code).toBe(2); // NO_SUCH_FILE
      expect((await readdir(path.join(root, 'links'))).sort()).toEqual(['dir-link', 'soft', 'ssh2-link']);
    } finally {
      ssh.end();
    }
  });

  it('never reads, stats, lists or writes outside while a directory is swapped for an outside link', async () => {
    const descriptorsBefore = openDescriptors();
    const ssh = await sshLogin(gw.gateway.addresses.sftp!.port, { username: 'racer', password: PW });
    const ftp = new FtpClient(10_000);
    await ftp.access({ host: '127.0.0.1', port: gw.gateway.addresses.ftp!.port, user: 'racer', password: PW });

    const seen = { reads: [] as string[], sizes: [] as number[], names: new Set<string>(), failures: 0 };
    const swapper = spawn(process.execPath, ['-e', SWAPPER, root, String(RACE_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let swaps = '';
    swapper.stdout.on('data', (chunk: Buffer) => (swaps += chunk.toString()));
    const swapperDone = new Promise<number | null>((resolve) => swapper.once('exit', resolve));
    const racing = (): boolean => swapper.exitCode === null;
    const attempt = async <T>(op: () => Promise<T>, keep: (value: T) => void): Promise<void> => {
      try {
        keep(await op());
      } catch {
        seen.failures++; // the name is missing or is the outside link at that moment: refused
      }
    };

    const sftpLoop = async (sftp: SFTPWrapper, lane: number): Promise<void> => {
      for (let i = 0; racing(); i++) {
        await Promise.all([
          attempt(() => call<Buffer>((cb) => sftp.readFile('/dir/secret.txt', cb)), (data) => seen.reads.push(data.toString())),
          attempt(() => call<Stats>((cb) => sftp.stat('/dir/secret.txt', cb)), (s) => seen.sizes.push(s.size)),
          attempt(() => call<FileEntry[]>((cb) => sftp.readdir('/dir', cb)), (list) => list.forEach((e) => seen.names.add(e.filename))),
          attempt(() => call((cb) => sftp.writeFile(`/dir/sftp-${lane}-${i % 4}.txt`, 'planted', cb)), () => {}),
        ]);
      }
    };
    const ftpLoop = async (): Promise<void> => {
      while (racing()) {
        const chunks: Buffer[] = [];
        const sink = new Writable({ write: (chunk: Buffer, _enc, done) => void (chunks.push(chunk), done()) });
        await attempt(() => ftp.downloadTo(sink, 'dir/secret.txt'), () => seen.reads.push(Buffer.concat(chunks).toString()));
        await attempt(() => ftp.size('dir/secret.txt'), (size) => seen.sizes.push(size));
        await attempt(() => ftp.list('dir'), (list) => list.forEach((e) => seen.names.add(e.name)));
      }
    };
    await Promise.all([sftpLoop(ssh.sftp, 0), sftpLoop(ssh.sftp, 1), sftpLoop(ssh.sftp, 2), ftpLoop(), swapperDone]);
    ssh.end();
    ftp.close();

    expect(Number(swaps), 'the swapper ran').toBeGreaterThan(100);
    expect(seen.reads.length, 'reads that got through while racing').toBeGreaterThan(20);
    expect(seen.reads.filter((data) => data !== INSIDE)).toEqual([]);
    expect(seen.sizes.filter((size) => size !== INSIDE.length)).toEqual([]);
    expect(seen.names.has('outside-only.txt')).toBe(false);
    expect((await readdir(outside)).sort()).toEqual(['outside-only.txt', 'secret.txt']);
    expect(await readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe(OUTSIDE);

    // Every descriptor the race opened is closed again once the clients are gone.
    await ssh.closed;
    let descriptors = openDescriptors();
    for (let wait = 0; wait < 40 && descriptors > descriptorsBefore; wait++) {
      await sleep(50);
      descriptors = openDescriptors();
    }
    expect(descriptors).toBeLessThanOrEqual(descriptorsBefore);
  });
});
