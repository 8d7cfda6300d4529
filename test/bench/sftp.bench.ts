/**
 * SFTP throughput: filegate vs OpenSSH sshd + sftp-server, 256 MiB up and down over loopback with
 * the OpenSSH `sftp` client at its default settings (no -B/-R). Every transfer is checked by
 * SHA-256. Prints MB/s (10^6 bytes) for both servers and filegate's ratio; the target is >= 1.2x.
 *   npm run bench:sftp      (env: BENCH_MIB=256, BENCH_REPEATS=3, BENCH_DIR=/dev/shm if it has room)
 * Needs root (the reference sshd runs in its own mount namespace) and openssh-server installed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { createGateway } from '../../src/gateway.js';
import { benchRoot, expectHash, median, medianAndBest, sha256, writeRandomFile } from './helpers.js';
import { startOpenSshServer } from './openssh-server.js';

const MIB = Number(process.env.BENCH_MIB ?? 256);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const TRANSFER_TIMEOUT_MS = 180_000;
const SIZE = MIB * 1024 * 1024;

interface Target {
  name: string;
  port: number;
  user: string;
  /** Path of the remote file as the client names it, and where it lands on disk. */
  remotePath: string;
  storedPath: string;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(await benchRoot(4 * SIZE), 'filegate-bench-'));
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const clientKey = path.join(dir, 'client_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
    const publicKey = (await readFile(`${clientKey}.pub`, 'utf8')).trim();
    const source = path.join(dir, 'source.bin');
    await writeRandomFile(source, SIZE);
    const sourceHash = await sha256(source);

    const storage = path.join(dir, 'filegate-data');
    const gateway = await createGateway({
      storage,
      certsDir: path.join(dir, 'certs'),
      sftp: { host: '127.0.0.1', port: 0 },
      users: [{ username: 'bench', public_keys: [publicKey], root_path: 'bench' }],
    });
    cleanups.unshift(() => gateway.close());
    const sshdDir = path.join(dir, 'sshd');
    await mkdir(sshdDir);
    const sshd = await startOpenSshServer(sshdDir, publicKey);
    cleanups.unshift(() => sshd.stop());
    const user = execFileSync('id', ['-un']).toString().trim();

    const targets: Target[] = [
      { name: 'filegate', port: gateway.addresses.sftp!.port, user: 'bench', remotePath: '/big.bin', storedPath: path.join(storage, 'bench', 'big.bin') },
      { name: 'openssh', port: sshd.port, user, remotePath: path.join(sshdDir, 'big.bin'), storedPath: path.join(sshdDir, 'big.bin') },
    ];
    const results = new Map<string, { up: number[]; down: number[] }>(targets.map((t) => [t.name, { up: [], down: [] }]));
    console.log(`SFTP benchmark: ${MIB} MiB, ${REPEATS} repeats, OpenSSH sftp client defaults, loopback`);
    // Round 0 warms up (JIT, page cache, disk) and is not counted.
    for (let round = 0; round <= REPEATS; round++) {
      for (const target of targets) {
        const downloaded = path.join(dir, `download-${target.name}.bin`);
        const up = await timedSftp(target, clientKey, `put ${source} ${target.remotePath}`);
        await expectHash(target.storedPath, sourceHash, `${target.name} upload`);
        const down = await timedSftp(target, clientKey, `get ${target.remotePath} ${downloaded}`);
        await expectHash(downloaded, sourceHash, `${target.name} download`);
        await rm(downloaded);
        await rm(target.storedPath);
        if (round === 0) continue;
        results.get(target.name)!.up.push(rate(up));
        results.get(target.name)!.down.push(rate(down));
        console.log(`  round ${round} ${target.name.padEnd(8)} up ${rate(up).toFixed(0).padStart(5)} MB/s   down ${rate(down).toFixed(0).padStart(5)} MB/s`);
      }
    }
    const fg = results.get('filegate')!;
    const os = results.get('openssh')!;
    console.log('\nmedian (best) MB/s          upload              download');
    for (const [name, r] of results) {
      console.log(`  ${name.padEnd(24)} ${medianAndBest(r.up)}   ${medianAndBest(r.down)}`);
    }
    const upRatio = median(fg.up) / median(os.up);
    const downRatio = median(fg.down) / median(os.down);
    console.log(`  filegate / openssh (median) ${upRatio.toFixed(2)}x up, ${downRatio.toFixed(2)}x down (target >= 1.20x)`);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}

/** Runs one `sftp -b` session with a single command; returns its wall-clock milliseconds. */
async function timedSftp(target: Target, key: string, command: string): Promise<number> {
  const args = [
    '-q', '-b', '-', '-i', key, '-P', String(target.port),
    '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR', `${target.user}@127.0.0.1`,
  ];
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const child = execFile('sftp', args, { timeout: TRANSFER_TIMEOUT_MS }, (err, _stdout, stderr) =>
      err ? reject(new Error(`${target.name}: sftp "${command}" failed: ${stderr || err.message}`)) : resolve(),
    );
    child.stdin!.end(`${command}\n`);
  });
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const rate = (ms: number): number => SIZE / 1e6 / (ms / 1000);

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
