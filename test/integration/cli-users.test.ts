/**
 * `filegate users …` and SIGHUP through a real `filegate serve` process: add, log in, set read_only,
 * reload, write refused, remove, reload, login refused; a broken users file is refused on SIGHUP with
 * the start-up message while the server keeps serving and an upload in progress completes intact.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { mkdirCode, sftpUpload, sshConnect } from '../helpers/clients.js';

const CLI = ['--import', 'tsx', path.resolve('src/cli.ts')];
const filegate = (args: string[], input = '') => runCli(process.execPath, [...CLI, ...args], { input });
const PASSWORD = 'cli users pw';

describe('filegate users and SIGHUP against filegate serve', () => {
  let dir: string;
  let conf: string;
  let server: ChildProcess;
  let out = '';
  let err = '';
  let port: number;
  const events = () => out.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
  const reloaded = async (count: number) =>
    expect.poll(() => events().filter((e) => e.event === 'reload' && e.outcome !== undefined).length, { timeout: 10_000 }).toBe(count);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'filegate-cli-users-'));
    conf = path.join(dir, 'conf.json');
    await writeFile(path.join(dir, 'users.json'), '[]\n');
    await writeFile(conf, JSON.stringify({ storage: './data', certsDir: './certs', users: './users.json', sftp: { host: '127.0.0.1', port: 0 } }));
  });
  afterAll(async () => {
    server?.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('round trip: add, log in, set read_only, SIGHUP, write refused, remove, SIGHUP, login refused', async () => {
    for (const name of ['ann', 'keep']) {
      const added = await filegate(['users', 'add', name, '--config', conf], `${PASSWORD}\n`);
      expect(added.stderr).toBe('');
      expect(added.stdout).toContain(`added user "${name}"`);
    }
    expect((await filegate(['users', 'add', 'ann', '--config', conf], PASSWORD)).code).toBe(2); // exists
    expect((await filegate(['users', 'list', '--config', conf])).stdout).toMatch(/^ann +ann +password *$/m);

    server = spawn(process.execPath, [...CLI, 'serve', '--config', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    server.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    await expect.poll(() => events().find((e) => e.event === 'listening'), { timeout: 20_000 }).toBeDefined();
    port = events().find((e) => e.event === 'listening')!.port as number;

    const ann = await sshConnect(port, 'ann', PASSWORD);
    expect(await mkdirCode(ann, '/made')).toBeUndefined();
    const keep = await sshConnect(port, 'keep', PASSWORD);
    const upload = sftpUpload(keep, '/steady.bin');
    await upload.write(randomBytes(512 * 1024));

    const set = await filegate(['users', 'set', 'ann', '--read-only', '--config', conf]);
    expect(set.stdout).toContain('user "ann": read_only false -> true');
    server.kill('SIGHUP');
    await reloaded(1);
    expect(events().find((e) => e.event === 'reload' && e.outcome === 'applied')).toMatchObject({ changed: ['ann'], ended_sessions: 1 });
    await ann.closed;
    const annAgain = await sshConnect(port, 'ann', PASSWORD);
    expect(await mkdirCode(annAgain, '/refused')).toBe(3);
    annAgain.ssh.end();

    expect((await filegate(['users', 'remove', 'ann', '--config', conf])).stdout).toContain('removed user "ann"');
    server.kill('SIGHUP');
    await reloaded(2);
    await expect(sshConnect(port, 'ann', PASSWORD)).rejects.toThrow(/authentication/i);

    // A broken file: refused with the message start-up gives, the server carries on as it was.
    const users = path.join(dir, 'users.json');
    const good = await readFile(users, 'utf8');
    await writeFile(users, '[{"username": "keep", "password_hash": "plain"}]');
    const atStart = await filegate(['serve', '--config', conf]);
    const startMessage = atStart.stderr.trim().replace(/^filegate: /, '');
    expect(startMessage).toContain(users);
    server.kill('SIGHUP');
    await reloaded(3);
    expect(events().at(-1)).toMatchObject({ event: 'reload', outcome: 'refused', error: startMessage });
    expect(err).toContain(`filegate: reload refused: ${startMessage}`);
    (await sshConnect(port, 'keep', PASSWORD)).ssh.end();
    await writeFile(users, good);

    await upload.write(randomBytes(512 * 1024));
    const sent = await upload.finish();
    const stored = await readFile(path.join(dir, 'data', 'keep', 'steady.bin'));
    expect(createHash('sha256').update(stored).digest('hex')).toBe(createHash('sha256').update(sent).digest('hex'));
    keep.ssh.end();

    const exit = new Promise<number | null>((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(out).not.toContain(PASSWORD);
  }, 90_000); // a dozen CLI processes, each compiling the sources with tsx: slow on a loaded machine
});
