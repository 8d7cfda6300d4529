/**
 * FTP: filegate vs vsftpd in the same run, over loopback with curl.
 * - Throughput: 256 MiB up and down, plain FTP and explicit FTPS (AUTH TLS, PROT P), every transfer
 *   checked by SHA-256; MB/s (10^6 bytes) and filegate's ratios; targets: download >= 1.0x (plain
 *   and TLS), upload >= 0.8x plain and >= 1.0x TLS. Two measures: "transfer" is curl's time from the
 *   start of the transfer to its end (the data path), "session" the whole curl run (connect and
 *   login included: filegate checks a scrypt password hash, vsftpd's anonymous login checks nothing).
 * - Listing: LIST of a 10,000-entry directory, net time (curl's time from the LIST command to the
 *   end of the listing); target filegate <= 2x vsftpd. Every listing must have one line per entry.
 * - Logins: sequential connect + login + LIST of a small directory + QUIT per second; target
 *   filegate >= 1.0x vsftpd. filegate's figure includes its scrypt check (printed separately).
 *   npm run bench:ftp      (env: BENCH_MIB=256, BENCH_REPEATS=3, BENCH_DIR=/dev/shm if it has room,
 *                           BENCH_ENTRIES=10000, BENCH_LOGINS=40, BENCH_PARTS=transfer,listing,logins)
 * Needs vsftpd (Debian package) and curl; run as root so vsftpd can chroot its anonymous user.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hashPassword, verifyPassword } from '../../src/core/index.js';
import { benchRoot, expectHash, median, medianAndBest, sha256, startFilegateProcess, writeRandomFile } from './helpers.js';
import { passivePorts } from '../helpers/passive-ports.js';
import { startVsftpd } from './vsftpd-server.js';

const MIB = Number(process.env.BENCH_MIB ?? 256);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const TRANSFER_TIMEOUT_MS = 180_000;
const SIZE = MIB * 1024 * 1024;
const PASSWORD = 'bench-password';
const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 10_000);
const LOGINS = Number(process.env.BENCH_LOGINS ?? 40);
const PARTS = new Set((process.env.BENCH_PARTS ?? 'transfer,listing,logins').split(','));
const LIST_TARGET = 2.0;
const LOGIN_TARGET = 1.0;

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
        ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() },
        users: [{ username: 'bench', password_hash: await hashPassword(PASSWORD), root_path: 'bench' }],
      },
      ['--initial-heap-size=128'], // as the filegate command runs
    );
    cleanups.unshift(() => filegate.stop());
    const vsftpdDir = path.join(dir, 'vsftpd');
    await mkdir(vsftpdDir);
    const vsftpd = await startVsftpd(vsftpdDir, await passivePorts());
    cleanups.unshift(() => vsftpd.stop());

    const targets: Target[] = [
      { name: 'filegate', url: `ftp://bench:${PASSWORD}@127.0.0.1:${filegate.port}/big.bin`, storedPath: path.join(filegateStorage, 'bench', 'big.bin') },
      { name: 'vsftpd', url: `ftp://127.0.0.1:${vsftpd.port}/pub/big.bin`, storedPath: path.join(vsftpd.uploadDir, 'big.bin') },
    ];
    if (PARTS.has('transfer')) await transfers(dir, source, sourceHash, targets);
    if (PARTS.has('listing') || PARTS.has('logins')) {
      const listTargets = [
        { name: 'filegate', base: `ftp://bench:${PASSWORD}@127.0.0.1:${filegate.port}`, dir: path.join(filegateStorage, 'bench') },
        { name: 'vsftpd', base: `ftp://127.0.0.1:${vsftpd.port}/pub`, dir: vsftpd.uploadDir },
      ];
      for (const target of listTargets) {
        await makeDirectory(path.join(target.dir, 'many'), ENTRIES);
        await makeDirectory(path.join(target.dir, 'few'), 5);
      }
      if (PARTS.has('listing')) await listings(listTargets);
      if (PARTS.has('logins')) await logins(listTargets);
    }
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}

interface ListTarget {
  name: string;
  /** URL of the directory holding `many/` and `few/`, credentials included. */
  base: string;
  dir: string;
}

async function makeDirectory(dir: string, entries: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < entries; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, entries - i) }, (_, j) => writeFile(path.join(dir, `entry-${String(i + j).padStart(6, '0')}.dat`), 'x'.repeat((i + j) % 97))));
  }
}

/** LIST of the big directory, net time (curl's transfer phase: LIST sent to the end of the data). */
async function listings(targets: ListTarget[]): Promise<void> {
  const times = new Map<string, number[]>();
  for (let round = 0; round <= REPEATS * 3; round++) {
    for (const target of round % 2 ? [...targets].reverse() : targets) {
      const { stdout, pretransfer, total } = await curlRun([`${target.base}/many/`]);
      const lines = stdout.split('\n').filter((line) => line.includes('entry-')).length;
      if (lines !== ENTRIES) throw new Error(`${target.name}: LIST gave ${lines} entries, expected ${ENTRIES}`);
      if (round > 0) times.set(target.name, [...(times.get(target.name) ?? []), (total - pretransfer) * 1000]);
    }
  }
  console.log(`\nLIST of ${ENTRIES} entries, net ms: median (best)`);
  for (const target of targets) {
    const series = times.get(target.name)!;
    console.log(`  ${target.name.padEnd(10)} ${median(series).toFixed(1)} (${Math.min(...series).toFixed(1)})`);
  }
  const ratio = median(times.get('filegate')!) / median(times.get('vsftpd')!);
  console.log(`  filegate / vsftpd time ${ratio.toFixed(2)}x (target <= ${LIST_TARGET.toFixed(1)}x) ${ratio <= LIST_TARGET ? 'ok' : 'BELOW TARGET'}`);
}

/** Sequential sessions: connect, login, LIST of a small directory, QUIT. */
async function logins(targets: ListTarget[]): Promise<void> {
  const rates = new Map<string, number>();
  for (const target of targets) await curlRun([`${target.base}/few/`]); // warm-up
  const elapsed = new Map<string, number>();
  // Interleaved in blocks of 5, so both servers see the same background load.
  for (let done = 0; done < LOGINS; done += 5) {
    for (const target of targets) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < 5; i++) await curlRun([`${target.base}/few/`]);
      elapsed.set(target.name, (elapsed.get(target.name) ?? 0) + Number(process.hrtime.bigint() - started) / 1e9);
    }
  }
  const rounds = Math.ceil(LOGINS / 5) * 5;
  for (const target of targets) rates.set(target.name, rounds / elapsed.get(target.name)!);
  const hash = await hashPassword(PASSWORD);
  const started = process.hrtime.bigint();
  for (let i = 0; i < 5; i++) await verifyPassword(PASSWORD, hash);
  const hashMs = Number(process.hrtime.bigint() - started) / 1e6 / 5;
  console.log(`\nSequential sessions (connect, login, LIST of 5 entries, QUIT) with curl, ${rounds} each`);
  for (const target of targets) console.log(`  ${target.name.padEnd(10)} ${rates.get(target.name)!.toFixed(1)}/s  (${(1000 / rates.get(target.name)!).toFixed(1)} ms each)`);
  console.log(`  (filegate's scrypt check alone: ${hashMs.toFixed(1)} ms, in this process)`);
  const ratio = rates.get('filegate')! / rates.get('vsftpd')!;
  console.log(`  filegate / vsftpd rate ${ratio.toFixed(2)}x (target >= ${LOGIN_TARGET.toFixed(1)}x) ${ratio >= LOGIN_TARGET ? 'ok' : 'BELOW TARGET'}`);
}

/** One curl run: its output and curl's own timings (seconds). */
function curlRun(args: string[]): Promise<{ stdout: string; pretransfer: number; total: number }> {
  return new Promise((resolve, reject) => {
    const write = ['-w', '\n@@%{time_pretransfer} %{time_total}'];
    execFile('curl', ['-sS', '--fail', ...write, ...args], { timeout: TRANSFER_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl ${args.join(' ')} failed: ${stderr || err.message}`));
      const at = stdout.lastIndexOf('\n@@');
      const [pretransfer, total] = stdout.slice(at + 3).trim().split(' ').map(Number) as [number, number];
      resolve({ stdout: stdout.slice(0, at), pretransfer, total });
    });
  });
}

async function transfers(dir: string, source: string, sourceHash: string, targets: Target[]): Promise<void> {
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
