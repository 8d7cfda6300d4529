/**
 * Server memory over many SFTP logins (not a test: a measurement). filegate runs in its own process;
 * LOGINS sequential ssh2 connections each log in with a password (scrypt, as deployed; AUTH=key for
 * a public key instead), read a small directory over SFTP and close. Every STEP logins the server's RSS, V8 heap, external and
 * array-buffer memory are printed (after a full collection), so that growth can be told apart:
 * JS-visible memory that grows is a leak in the process; RSS that grows while those stay flat is
 * the native allocator (glibc malloc arenas) holding on to freed memory.
 *   npm run build && npx tsx test/bench/sftp-login-memory.ts     (env: LOGINS=500, STEP=100, AUTH=password|key, NODE_FLAGS="--expose-gc";
 *                                               MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_ are passed on to the server)
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { hashPassword } from '../../src/core/index.js';
import { startFilegateProcess, type FilegateProcess } from './helpers.js';

const LOGINS = Number(process.env.LOGINS ?? 500);
const STEP = Number(process.env.STEP ?? 100);
const NODE_FLAGS = (process.env.NODE_FLAGS ?? '--expose-gc').split(' ').filter(Boolean);
const PASSWORD = 'memory-bench-pw';
const BY_KEY = process.env.AUTH === 'key';
const KEY = ssh2.utils.generateKeyPairSync('ed25519');
const MB = 1024 * 1024;

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'filegate-login-memory-'));
  let filegate: FilegateProcess | undefined;
  try {
    const home = path.join(dir, 'data', 'bench');
    await mkdir(home, { recursive: true });
    for (let i = 0; i < 5; i++) await writeFile(path.join(home, `f${i}.txt`), 'x'.repeat(100));
    filegate = await startFilegateProcess(
      {
        storage: path.join(dir, 'data'),
        certsDir: path.join(dir, 'certs'),
        sftp: { host: '127.0.0.1', port: 0 },
        lockout: { maxFailures: 1_000_000, maxFailuresPerSource: 1_000_000 },
        users: [
          BY_KEY
            ? { username: 'bench', public_keys: [KEY.public], root_path: 'bench' }
            : { username: 'bench', password_hash: await hashPassword(PASSWORD), root_path: 'bench' },
        ],
      },
      NODE_FLAGS,
    );
    console.log(`${LOGINS} sequential SFTP logins (${BY_KEY ? 'public key' : 'password'}) + readdir + close; node ${NODE_FLAGS.join(' ') || '(no flags)'}; MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? '(unset)'}, MALLOC_MMAP_THRESHOLD_=${process.env.MALLOC_MMAP_THRESHOLD_ ?? '(unset)'}`);
    console.log('logins     rss  heapUsed  external  arrayBuffers   (MB)');
    const report = async (done: number): Promise<void> => {
      const m = await filegate!.memory();
      const f = (n: number): string => (n / MB).toFixed(1).padStart(8);
      console.log(`${String(done).padStart(6)} ${f(m.rss)} ${f(m.heapUsed)} ${f(m.external)} ${f(m.arrayBuffers)}`);
    };
    await report(0);
    for (let done = 1; done <= LOGINS; done++) {
      await loginAndList(filegate.port);
      if (done % STEP === 0) await report(done);
    }
  } finally {
    await filegate?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function loginAndList(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('error', reject);
    client.on('close', () => resolve());
    client.on('ready', () =>
      client.sftp((err, sftp) => {
        if (err) return reject(err);
        sftp.readdir('/', (readErr) => (readErr ? reject(readErr) : client.end()));
      }),
    );
    client.connect({ host: '127.0.0.1', port, username: 'bench', ...(BY_KEY ? { privateKey: KEY.private } : { password: PASSWORD }), readyTimeout: 20_000 });
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
