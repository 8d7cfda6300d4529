/**
 * FTP throughput: filegate vs vsftpd, 256 MiB up and down over loopback with curl, plain FTP and
 * explicit FTPS (AUTH TLS, PROT P). Every transfer is checked by SHA-256. Prints MB/s (10^6 bytes)
 * for both servers and filegate's ratios; targets: download >= 1.0x (plain and TLS), upload
 * >= 0.8x plain and >= 1.0x TLS.
 *   npm run bench:ftp      (env: BENCH_MIB=256, BENCH_REPEATS=3, BENCH_DIR=/dev/shm if it has room)
 * Needs vsftpd (Debian package) and curl; run as root so vsftpd can chroot its anonymous user.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { createGateway, type Gateway } from '../../src/gateway.js';
import { hashPassword } from '../../src/core/index.js';
import { benchRoot, expectHash, median, medianAndBest, sha256, writeRandomFile } from './helpers.js';
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

    const { gateway, home } = await startFilegate(dir);
    cleanups.unshift(() => gateway.close());
    const vsftpdDir = path.join(dir, 'vsftpd');
    await mkdir(vsftpdDir);
    const vsftpd = await startVsftpd(vsftpdDir, [31850, 31899]);
    cleanups.unshift(() => vsftpd.stop());

    const targets: Target[] = [
      { name: 'filegate', url: `ftp://bench:${PASSWORD}@127.0.0.1:${gateway.addresses.ftp!.port}/big.bin`, storedPath: path.join(home, 'big.bin') },
      { name: 'vsftpd', url: `ftp://127.0.0.1:${vsftpd.port}/pub/big.bin`, storedPath: path.join(vsftpd.uploadDir, 'big.bin') },
    ];
    const results = new Map<string, number[]>();
    const record = (key: string, value: number): number => (results.set(key, [...(results.get(key) ?? []), value]), value);
    console.log(`FTP benchmark: ${MIB} MiB, ${REPEATS} repeats, curl, loopback (plain = FTP, tls = AUTH TLS + PROT P)`);
    // Round 0 warms up (JIT, page cache) and is not counted.
    for (let round = 0; round <= REPEATS; round++) {
      for (const mode of MODES) {
        for (const target of targets) {
          const downloaded = path.join(dir, `download-${target.name}.bin`);
          const up = await timedCurl(target, mode, ['-T', source]);
          await expectHash(target.storedPath, sourceHash, `${target.name} ${mode} upload`);
          const down = await timedCurl(target, mode, ['-o', downloaded]);
          await expectHash(downloaded, sourceHash, `${target.name} ${mode} download`);
          await rm(downloaded);
          await rm(target.storedPath);
          if (round === 0) continue;
          const upRate = record(`${target.name} ${mode} up`, rate(up));
          const downRate = record(`${target.name} ${mode} down`, rate(down));
          console.log(`  round ${round} ${mode.padEnd(5)} ${target.name.padEnd(8)} up ${upRate.toFixed(0).padStart(5)} MB/s   down ${downRate.toFixed(0).padStart(5)} MB/s`);
        }
      }
    }
    console.log('\nmedian (best) MB/s          upload         download');
    for (const mode of MODES) {
      for (const target of targets) {
        console.log(`  ${`${target.name} ${mode}`.padEnd(22)} ${medianAndBest(results.get(`${target.name} ${mode} up`)!)}   ${medianAndBest(results.get(`${target.name} ${mode} down`)!)}`);
      }
    }
    console.log('\nfilegate / vsftpd (median)');
    for (const mode of MODES) {
      for (const direction of ['up', 'down'] as const) {
        const ratio = median(results.get(`filegate ${mode} ${direction}`)!) / median(results.get(`vsftpd ${mode} ${direction}`)!);
        const target = TARGETS[direction][mode];
        console.log(`  ${mode.padEnd(5)} ${direction.padEnd(4)} ${ratio.toFixed(2)}x (target >= ${target.toFixed(1)}x) ${ratio >= target ? 'ok' : 'BELOW TARGET'}`);
      }
    }
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}

/** filegate with one password user whose files land in `home`. */
async function startFilegate(dir: string): Promise<{ gateway: Gateway; home: string }> {
  const gateway = await createGateway({
    storage: path.join(dir, 'filegate-data'),
    certsDir: path.join(dir, 'certs'),
    ftp: { host: '127.0.0.1', port: 0, passivePorts: [31800, 31849] },
    users: [{ username: 'bench', password_hash: await hashPassword(PASSWORD), root_path: 'bench' }],
  });
  return { gateway, home: path.join(dir, 'filegate-data', 'bench') };
}

/** One curl transfer; returns its wall-clock milliseconds (login included, as a user sees it). */
async function timedCurl(target: Target, mode: Mode, args: string[]): Promise<number> {
  const tls = mode === 'tls' ? ['--ssl-reqd', '-k'] : [];
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    execFile('curl', ['-sS', '--fail', ...tls, ...args, target.url], { timeout: TRANSFER_TIMEOUT_MS }, (err, _stdout, stderr) =>
      err ? reject(new Error(`${target.name} ${mode}: curl ${args[0]} failed: ${stderr || err.message}`)) : resolve(),
    );
  });
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const rate = (ms: number): number => SIZE / 1e6 / (ms / 1000);

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
