/**
 * FTP throughput: filegate vs vsftpd, 256 MiB up and down over loopback with curl, plain FTP and
 * explicit FTPS (AUTH TLS, PROT P). Every transfer is checked by SHA-256. Prints MB/s (10^6 bytes)
 * for both servers and filegate's ratios; targets: download >= 1.0x (plain and TLS), upload
 * >= 0.8x plain and >= 1.0x TLS. Two measures: "transfer" is curl's time from the start of the
 * transfer to its end (the data path), "session" the whole curl run (connect and login included:
 * filegate checks a scrypt password hash, vsftpd's anonymous login checks nothing).
 *   npm run bench:ftp      (env: BENCH_MIB=256, BENCH_REPEATS=3, BENCH_DIR=/dev/shm if it has room)
 * Needs vsftpd (Debian package) and curl; run as root so vsftpd can chroot its anonymous user.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { hashPassword } from '../../src/core/index.js';
import { benchRoot, expectHash, median, medianAndBest, sha256, startFilegateProcess, writeRandomFile } from './helpers.js';
import { startVsftpd } from './vsftpd-server.js';

const MIB = Number(process.env.BENCH_MIB ?? 256);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const TRANSFER_TIMEOUT_MS = 180_000;
const SIZE = MIB * 1024 * 1024;
const PASSWORD = 'bench-password';

interface Target {
  name: string;
  /** URL of the remote file, credentials included. */
  url: string;
  /** Where an upload lands on disk. */
  storedPath: string;
}

type Mode = 'plain' | 'tls';
type Phase = 'transfer' | 'session';
type Timing = Record<Phase, number>;
const PHASES: Phase[] = ['transfer', 'session'];
const MODES: Mode[] = ['plain', 'tls'];
const TARGETS = {
  up: { plain: 0.8, tls: 1.0 },
  down: { plain: 1.0, tls: 1.0 },
} as const;

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(await benchRoot(5 * SIZE), 'filegate-ftp-bench-'));
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const source = path.join(dir, 'source.bin');
    await writeRandomFile(source, SIZE);
    const sourceHash = await sha256(source);

    const filegateStorage = path.join(dir, 'filegate');
    const filegate = await startFilegateProcess(
      {
        storage: filegateStorage,
        certsDir: path.join(dir, 'filegate-certs'),
        ftp: { host: '127.0.0.1', port: 0, passivePorts: [31800, 31849] },
        users: [{ username: 'bench', password_hash: await hashPassword(PASSWORD), root_path: 'bench' }],
      },
      ['--initial-heap-size=128'], // as the filegate command runs
    );
    cleanups.unshift(() => filegate.stop());
    const vsftpdDir = path.join(dir, 'vsftpd');
    await mkdir(vsftpdDir);
    const vsftpd = await startVsftpd(vsftpdDir, [31850, 31899]);
    cleanups.unshift(() => vsftpd.stop());

    const targets: Target[] = [
      { name: 'filegate', url: `ftp://bench:${PASSWORD}@127.0.0.1:${filegate.port}/big.bin`, storedPath: path.join(filegateStorage, 'bench', 'big.bin') },
      { name: 'vsftpd', url: `ftp://127.0.0.1:${vsftpd.port}/pub/big.bin`, storedPath: path.join(vsftpd.uploadDir, 'big.bin') },
    ];
    const results = new Map<string, number[]>();
    const record = (key: string, timing: Timing): string => {
      for (const phase of PHASES) results.set(`${key} ${phase}`, [...(results.get(`${key} ${phase}`) ?? []), rate(timing[phase])]);
      return `${rate(timing.transfer).toFixed(0).padStart(5)} (${rate(timing.session).toFixed(0).padStart(5)})`;
    };
    console.log(`FTP benchmark: ${MIB} MiB, ${REPEATS} repeats, curl, loopback (plain = FTP, tls = AUTH TLS + PROT P)`);
    console.log('MB/s: transfer (session)');
    // Round 0 warms up (JIT, page cache) and is not counted; the order of the servers alternates.
    for (let round = 0; round <= REPEATS; round++) {
      for (const mode of MODES) {
        for (const target of round % 2 ? [...targets].reverse() : targets) {
          const downloaded = path.join(dir, `download-${target.name}.bin`);
          const up = await timedCurl(target, mode, ['-T', source]);
          await expectHash(target.storedPath, sourceHash, `${target.name} ${mode} upload`);
          const down = await timedCurl(target, mode, ['-o', downloaded]);
          await expectHash(downloaded, sourceHash, `${target.name} ${mode} download`);
          await rm(downloaded);
          await rm(target.storedPath);
          if (round === 0) continue;
          const upRates = record(`${target.name} ${mode} up`, up);
          const downRates = record(`${target.name} ${mode} down`, down);
          console.log(`  round ${round} ${mode.padEnd(5)} ${target.name.padEnd(8)} up ${upRates}   down ${downRates}`);
        }
      }
    }
    for (const phase of PHASES) {
      console.log(`\n${phase}: median (best) MB/s    upload         download`);
      for (const mode of MODES) {
        for (const target of targets) {
          const series = (direction: string): string => medianAndBest(results.get(`${target.name} ${mode} ${direction} ${phase}`)!);
          console.log(`  ${`${target.name} ${mode}`.padEnd(22)} ${series('up')}   ${series('down')}`);
        }
      }
    }
    console.log('\nfilegate / vsftpd (median)      transfer   session');
    for (const mode of MODES) {
      for (const direction of ['up', 'down'] as const) {
        const ratio = (phase: Phase): number =>
          median(results.get(`filegate ${mode} ${direction} ${phase}`)!) / median(results.get(`vsftpd ${mode} ${direction} ${phase}`)!);
        const target = TARGETS[direction][mode];
        const verdict = ratio('transfer') >= target ? 'ok' : 'BELOW TARGET';
        console.log(`  ${mode.padEnd(5)} ${direction.padEnd(4)} (target >= ${target.toFixed(1)}x)  ${ratio('transfer').toFixed(2)}x      ${ratio('session').toFixed(2)}x   ${verdict}`);
      }
    }
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}

/** One curl transfer: seconds of its transfer phase (curl's time_total - time_pretransfer) and of the whole run. */
async function timedCurl(target: Target, mode: Mode, args: string[]): Promise<Timing> {
  const tls = mode === 'tls' ? ['--ssl-reqd', '-k'] : [];
  const started = process.hrtime.bigint();
  const times = await new Promise<string>((resolve, reject) => {
    const write = ['-w', '%{time_pretransfer} %{time_total}'];
    execFile('curl', ['-sS', '--fail', ...write, ...tls, ...args, target.url], { timeout: TRANSFER_TIMEOUT_MS }, (err, stdout, stderr) =>
      err ? reject(new Error(`${target.name} ${mode}: curl ${args[0]} failed: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
  const [pretransfer, total] = times.trim().split(' ').map(Number) as [number, number];
  return { transfer: total - pretransfer, session: Number(process.hrtime.bigint() - started) / 1e9 };
}

const rate = (seconds: number): number => SIZE / 1e6 / seconds;

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
