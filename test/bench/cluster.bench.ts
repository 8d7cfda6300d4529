/**
 * Scale-out: `filegate serve --workers 2` (two worker processes on one Redis) against vsftpd in the
 * same run: 8 parallel 32 MiB FTP downloads over loopback with curl, every download checked by
 * SHA-256. Aggregate MB/s (10^6 bytes) is the total bytes over the wall time of the whole batch;
 * target filegate >= 1.0x vsftpd.
 *   npm run bench:cluster   (env: BENCH_MIB=32, BENCH_PARALLEL=8, BENCH_REPEATS=3, BENCH_WORKERS=2)
 * Needs redis-server, vsftpd and curl; run as root so vsftpd can chroot its anonymous user.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { hashPassword } from '../../src/core/index.js';
import { startGatewayProcess, startRedis } from '../helpers/processes.js';
import { benchRoot, expectHash, median, medianAndBest, sha256, writeRandomFile } from './helpers.js';
import { passivePorts } from '../helpers/passive-ports.js';
import { startVsftpd } from './vsftpd-server.js';

const MIB = Number(process.env.BENCH_MIB ?? 32);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 8);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const WORKERS = process.env.BENCH_WORKERS ?? '2';
const SIZE = MIB * 1024 * 1024;
const PASSWORD = 'bench-password';
const TARGET = 1.0;

function curl(url: string, output: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('curl', ['-sS', '--fail', '-o', output, url], { timeout: 180_000 }, (err, _stdout, stderr) =>
      err ? reject(new Error(`curl ${url}: ${stderr || err.message}`)) : resolve(),
    ),
  );
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(await benchRoot((PARALLEL + 3) * SIZE), 'filegate-cluster-bench-'));
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const source = path.join(dir, 'source.bin');
    await writeRandomFile(source, SIZE);
    const hash = await sha256(source);
    const redis = await startRedis();
    cleanups.unshift(() => redis.stop());
    const storage = path.join(dir, 'filegate');
    await mkdir(path.join(storage, 'bench'), { recursive: true });
    await copyFile(source, path.join(storage, 'bench', 'big.bin'));
    const filegate = await startGatewayProcess(
      {
        storage,
        redis: { url: redis.url, keyPrefix: 'bench:' },
        ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() },
        users: [{ username: 'bench', password_hash: await hashPassword(PASSWORD), root_path: 'bench' }],
        lockout: { maxFailures: 5, maxFailuresPerSource: 1000, windowMinutes: 15, lockMinutes: 15 },
      },
      [],
      ['--workers', WORKERS],
      WORKERS === 'auto' ? 1 : Number(WORKERS),
    );
    cleanups.unshift(() => filegate.stop());
    const vsftpdDir = path.join(dir, 'vsftpd');
    await mkdir(vsftpdDir);
    const vsftpd = await startVsftpd(vsftpdDir, await passivePorts());
    cleanups.unshift(() => vsftpd.stop());
    await copyFile(source, path.join(vsftpd.uploadDir, 'big.bin'));

    const targets = [
      { name: `filegate --workers ${WORKERS}`, url: `ftp://bench:${PASSWORD}@127.0.0.1:${filegate.ports.ftp}/big.bin` },
      { name: 'vsftpd', url: `ftp://127.0.0.1:${vsftpd.port}/pub/big.bin` },
    ];
    const rates = new Map<string, number[]>();
    console.log(`FTP scale-out benchmark: ${PARALLEL} parallel ${MIB} MiB downloads, ${REPEATS} repeats, curl, loopback`);
    // Round 0 warms up (JIT, page cache) and is not counted; the order of the servers alternates.
    for (let round = 0; round <= REPEATS; round++) {
      for (const target of round % 2 ? [...targets].reverse() : targets) {
        const outputs = Array.from({ length: PARALLEL }, (_, i) => path.join(dir, `down-${i}.bin`));
        const started = process.hrtime.bigint();
        await Promise.all(outputs.map((output) => curl(target.url, output)));
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        for (const output of outputs) {
          await expectHash(output, hash, `${target.name} download`);
          await rm(output);
        }
        if (round === 0) continue;
        const rate = (PARALLEL * SIZE) / 1e6 / seconds;
        rates.set(target.name, [...(rates.get(target.name) ?? []), rate]);
        console.log(`  round ${round} ${target.name.padEnd(22)} ${rate.toFixed(0).padStart(5)} MB/s`);
      }
    }
    console.log('\nmedian (best) MB/s');
    for (const target of targets) console.log(`  ${target.name.padEnd(22)} ${medianAndBest(rates.get(target.name)!)}`);
    const ratio = median(rates.get(targets[0]!.name)!) / median(rates.get('vsftpd')!);
    console.log(`\nfilegate / vsftpd ${ratio.toFixed(2)}x (target >= ${TARGET.toFixed(1)}x) ${ratio >= TARGET ? 'ok' : 'BELOW TARGET'}`);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
