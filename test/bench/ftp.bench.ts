/**
 * FTP: filegate vs vsftpd in the same run, over loopback with curl.
 * - Throughput: 256 MiB up and down, plain FTP and explicit FTPS (AUTH TLS, PROT P), every transfer
 *   checked by SHA-256; MB/s (10^6 bytes) and filegate's ratios; targets: download >= 1.0x (plain
 *   and TLS), upload >= 0.8x plain and >= 1.0x TLS. Two measures: "transfer" is curl's time from the
 *   start of the transfer to its end (the data path), "session" the whole curl run (connect and
 *   login included). vsftpd's transfers run as its anonymous user.
 * - Listing: LIST of a 10,000-entry directory, net time (curl's time from the LIST command to the
 *   end of the listing); target filegate <= 2x vsftpd. Every listing must have one line per entry.
 * - Logins: sequential connect + login + LIST of a small directory + QUIT per second; target
 *   filegate >= 1.0x vsftpd with a local account and a password (as root: two system accounts are
 *   created for the run and deleted after it, see vsftpd-server.ts). Each side checks a password
 *   hash: filegate scrypt (N=16384, r=8, p=1, its default), vsftpd pam_unix with yescrypt (what
 *   Debian's passwd writes) and, for comparison, SHA-512 crypt and the anonymous user (no hash).
 *   filegate runs as deployed (its verified-password cache on: one scrypt per password and
 *   ttlSeconds) and, in a second process, with the cache off (one scrypt per login).
 *   Then the same session step by step (greeting, USER, PASS, PWD, CWD, EPSV, TYPE, LIST, QUIT) with
 *   each hash's cost alone, measured between the sessions.
 *   npm run bench:ftp      (env: BENCH_MIB=256, BENCH_REPEATS=3, BENCH_DIR=/dev/shm if it has room,
 *                           BENCH_ENTRIES=10000, BENCH_LOGINS=40, BENCH_PARTS=transfer,listing,logins)
 * Needs vsftpd (Debian package), curl and perl (to time crypt(3)); run as root.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hashPassword, verifyPassword } from '../../src/core/index.js';
import { benchRoot, expectHash, median, medianAndBest, sha256, startFilegateProcess, writeRandomFile } from './helpers.js';
import { passivePorts } from '../helpers/passive-ports.js';
import { startVsftpd, type CryptMethod, type VsftpdServer } from './vsftpd-server.js';
import { STEPS, timeSession, type SessionTarget, type Step } from './ftp-login-steps.js';

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
const LOGIN_STEP_SESSIONS = Number(process.env.BENCH_LOGIN_STEPS ?? 20);

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
  await chmod(dir, 0o711); // vsftpd's local accounts reach their homes inside
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const source = path.join(dir, 'source.bin');
    await writeRandomFile(source, SIZE);
    const sourceHash = await sha256(source);

    const filegateStorage = path.join(dir, 'filegate');
    const filegateConfig = {
      storage: filegateStorage,
      certsDir: path.join(dir, 'filegate-certs'),
      ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() },
      users: [{ username: 'bench', password_hash: await hashPassword(PASSWORD), root_path: 'bench' }],
    };
    const filegate = await startFilegateProcess(filegateConfig, ['--initial-heap-size=128']); // as the filegate command runs
    cleanups.unshift(() => filegate.stop());
    const vsftpdDir = path.join(dir, 'vsftpd');
    await mkdir(vsftpdDir);
    const vsftpd = await startVsftpd(vsftpdDir, await passivePorts(), PARTS.has('logins') ? ['YESCRYPT', 'SHA512'] : []);
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
      if (PARTS.has('logins')) {
        const uncached = await startFilegateProcess({ ...filegateConfig, passwordCache: { enabled: false } }, ['--initial-heap-size=128']);
        cleanups.unshift(() => uncached.stop());
        await logins(filegate.port, uncached.port, vsftpd);
      }
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

interface LoginTarget {
  name: string;
  /** What its login checks. */
  hash: string;
  /** URL of the small directory, credentials included. */
  url: string;
  session: SessionTarget;
  /** The cost of its password hash alone (ms), measured here; undefined without one. */
  hashCost?: () => Promise<number>;
}

const CRYPT_LABEL: Record<CryptMethod, string> = { YESCRYPT: 'yescrypt', SHA512: 'sha512' };

/**
 * Sequential sessions (connect, login, LIST of a small directory, QUIT) with curl, then the same
 * session step by step with a raw client.
 */
async function logins(filegatePort: number, uncachedPort: number, vsftpd: VsftpdServer): Promise<void> {
  const scryptHash = await hashPassword(PASSWORD);
  const filegateTarget = (name: string, port: number, hash: string, hashCost?: () => Promise<number>): LoginTarget => ({
    name,
    hash,
    url: `ftp://bench:${PASSWORD}@127.0.0.1:${port}/few/`,
    session: { port, username: 'bench', password: PASSWORD, dir: 'few' },
    hashCost,
  });
  const targets: LoginTarget[] = [
    filegateTarget('filegate', filegatePort, 'scrypt N=16384 r=8 p=1, verified once per ttlSeconds (password cache, default)'),
    filegateTarget('filegate-nocache', uncachedPort, 'scrypt N=16384 r=8 p=1 every login (passwordCache.enabled false)', async () => {
      const started = performance.now();
      await verifyPassword(PASSWORD, scryptHash);
      return performance.now() - started;
    }),
    ...vsftpd.localUsers.map((user) => ({
      name: `vsftpd-${CRYPT_LABEL[user.method]}`,
      hash: `local account, pam_unix, ${user.method === 'YESCRYPT' ? 'yescrypt (Debian passwd default)' : 'SHA-512 crypt, 5000 rounds'}`,
      url: `ftp://${user.name}:${user.password}@127.0.0.1:${vsftpd.port}/few/`,
      session: { port: vsftpd.port, username: user.name, password: user.password, dir: 'few' },
      hashCost: () => cryptCost(user.password, user.method),
    })),
    {
      name: 'vsftpd-anon',
      hash: 'anonymous: no password check',
      url: `ftp://127.0.0.1:${vsftpd.port}/pub/few/`,
      session: { port: vsftpd.port, username: 'anonymous', password: 'bench@', dir: 'pub/few' },
    },
  ];
  for (const user of vsftpd.localUsers) await makeDirectory(path.join(user.home, 'few'), 5);
  // Steady state for the scrypt timing, as in the long-lived server: the first hashes on each
  // thread-pool thread fault in their 16 MiB (vsftpd's forked sessions always start cold, and so
  // does each perl run that times crypt(3)).
  for (let i = 0; i < 2; i++) await Promise.all(Array.from({ length: 8 }, () => verifyPassword(PASSWORD, scryptHash)));
  for (const target of targets) await curlRun([target.url]); // warm-up
  const elapsed = new Map<string, number>();
  const hashCosts = new Map<string, number[]>();
  // Interleaved in blocks of 5, so every server sees the same background load; each hash is timed
  // between the blocks, under that same load.
  for (let done = 0; done < LOGINS; done += 5) {
    for (const target of targets) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < 5; i++) await curlRun([target.url]);
      elapsed.set(target.name, (elapsed.get(target.name) ?? 0) + Number(process.hrtime.bigint() - started) / 1e9);
      if (target.hashCost) hashCosts.set(target.name, [...(hashCosts.get(target.name) ?? []), await target.hashCost()]);
    }
  }
  const rounds = Math.ceil(LOGINS / 5) * 5;
  const rate = (name: string): number => rounds / elapsed.get(name)!;
  const hashMs = (target: LoginTarget): string => (hashCosts.has(target.name) ? median(hashCosts.get(target.name)!).toFixed(1) : '-');
  console.log(`\nSequential sessions (connect, login, LIST of 5 entries, QUIT) with curl, ${rounds} each`);
  console.log(`  ${'server'.padEnd(16)} ${'rate'.padStart(8)} ${'each'.padStart(9)} ${'hash ms'.padStart(8)}  password check`);
  for (const target of targets) {
    console.log(
      `  ${target.name.padEnd(16)} ${`${rate(target.name).toFixed(1)}/s`.padStart(8)} ${`${(1000 / rate(target.name)).toFixed(1)} ms`.padStart(9)} ${hashMs(target).padStart(8)}  ${target.hash}`,
    );
  }
  for (const own of ['filegate', 'filegate-nocache']) {
    for (const peer of targets.filter((target) => target.name.startsWith('vsftpd'))) {
      const ratio = rate(own) / rate(peer.name);
      // The target is for filegate as deployed; the cache-off row shows what the hash's cost alone does.
      const verdict = peer.name === 'vsftpd-yescrypt' && own === 'filegate' ? ` (target >= ${LOGIN_TARGET.toFixed(1)}x) ${ratio >= LOGIN_TARGET ? 'ok' : 'BELOW TARGET'}` : '';
      console.log(`  ${own} / ${peer.name.padEnd(16)} rate ${ratio.toFixed(2)}x${verdict}`);
    }
  }
  await loginSteps(targets, hashCosts);
}

/** The session step by step: median ms per step and server, and the hash cost beside PASS. */
async function loginSteps(targets: LoginTarget[], hashCosts: Map<string, number[]>): Promise<void> {
  const times = new Map<string, Record<Step, number[]>>();
  for (let i = 0; i < LOGIN_STEP_SESSIONS; i++) {
    for (const target of targets) {
      const session = await timeSession(target.session);
      const series = times.get(target.name) ?? (Object.fromEntries(STEPS.map((step) => [step, []])) as unknown as Record<Step, number[]>);
      for (const step of STEPS) series[step].push(session[step]);
      times.set(target.name, series);
    }
  }
  console.log(`\nThe same session step by step (raw client, median ms of ${LOGIN_STEP_SESSIONS}; command sent to final reply)`);
  console.log(`  ${'step'.padEnd(22)}${targets.map((target) => target.name.padStart(17)).join('')}`);
  const medians = (name: string, step: Step): number => median(times.get(name)![step]);
  for (const step of STEPS) console.log(`  ${step.padEnd(22)}${targets.map((target) => medians(target.name, step).toFixed(2).padStart(17)).join('')}`);
  const total = (name: string): number => STEPS.reduce((sum, step) => sum + medians(name, step), 0);
  const hash = (name: string): number => (hashCosts.has(name) ? median(hashCosts.get(name)!) : 0);
  console.log(`  ${'sum of steps'.padEnd(22)}${targets.map((target) => total(target.name).toFixed(2).padStart(17)).join('')}`);
  console.log(`  ${'password hash alone'.padEnd(22)}${targets.map((target) => hash(target.name).toFixed(2).padStart(17)).join('')}`);
  console.log(`  ${'PASS beyond the hash'.padEnd(22)}${targets.map((target) => (medians(target.name, 'PASS') - hash(target.name)).toFixed(2).padStart(17)).join('')}`);
  console.log(`  ${'all but the hash'.padEnd(22)}${targets.map((target) => (total(target.name) - hash(target.name)).toFixed(2).padStart(17)).join('')}`);
}

/** crypt(3) of `password` with a fresh salt of `method`, timed inside perl (libcrypt, as pam_unix uses it). */
function cryptCost(password: string, method: CryptMethod): Promise<number> {
  const setting = method === 'YESCRYPT' ? '$y$j9T$F5Jx5fExrKuJdF4y1.YpR.$' : '$6$Jx5fExrKuJdF4y1Y$';
  const script = 'use Time::HiRes "time"; my $t = time; my $h = crypt($ARGV[0], $ARGV[1]); die "crypt failed\n" if !$h || $h eq "*0"; printf "%.3f", (time - $t) * 1000';
  return new Promise((resolve, reject) =>
    execFile('perl', ['-e', script, password, setting], (err, stdout) => (err ? reject(err) : resolve(Number(stdout)))),
  );
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
