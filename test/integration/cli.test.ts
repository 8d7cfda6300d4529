/** The `filegate` command: help, hash-password, config errors, and serve with clean shutdown. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/core/index.js';

const CLI = ['--import', 'tsx', path.resolve('src/cli.ts')];
const run = (args: string[], input?: string) =>
  spawnSync(process.execPath, [...CLI, ...args], { input, encoding: 'utf8', timeout: 20_000 });

describe('filegate CLI', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'filegate-cli-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prints help', () => {
    const result = run(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('filegate serve --config FILE');
  });

  it('hash-password prints a scrypt hash of stdin that verifies', async () => {
    const result = run(['hash-password'], 's3cret pass\n');
    expect(result.status).toBe(0);
    const hash = result.stdout.trim();
    expect(hash).toMatch(/^scrypt\$/);
    expect(await verifyPassword('s3cret pass', hash)).toBe(true);
    expect(run(['hash-password'], '').status).not.toBe(0);
  });

  it('refuses a bad config naming the file and the field', async () => {
    const file = path.join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ sftp: { port: 'twenty-two' } }));
    const result = run(['serve', '--config', file]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(file);
    expect(result.stderr).toContain('sftp.port');
  });

  it('refuses a bad user record naming the file, the user and the field', async () => {
    const users = path.join(dir, 'users.json');
    await writeFile(users, JSON.stringify([{ username: 'eve', password_hash: 'x', root_path: '../up' }]));
    const file = path.join(dir, 'users-conf.json');
    await writeFile(file, JSON.stringify({ users: './users.json' }));
    const result = run(['serve', '--config', file]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(users);
    expect(result.stderr).toContain('"eve"');
    expect(result.stderr).toContain('password_hash');
  });

  it('serves, logs JSON lines without secrets, and exits 0 on SIGTERM', async () => {
    const file = path.join(dir, 'conf.json');
    await writeFile(file, JSON.stringify({ storage: './data', certsDir: './certs', users: [], sftp: { host: '127.0.0.1', port: 0 } }));
    const child = spawn(process.execPath, [...CLI, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line; output: ${out}`)), 20_000);
      child.stdout.on('data', () => {
        const line = out.split('\n').find((l) => l.includes('"event":"listening"'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as Record<string, unknown>);
        }
      });
    });
    expect(listening.protocol).toBe('sftp');
    expect(listening.port).toBeGreaterThan(0);
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    for (const line of out.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });
});
