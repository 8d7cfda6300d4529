/**
 * SFTP throughput: filegate vs OpenSSH sshd + sftp-server, 256 MiB up and down over loopback with
 * the OpenSSH `sftp` client at its default settings (no -B/-R). Every transfer is checked by
 * SHA-256. Prints MB/s (10^6 bytes) for each server and filegate's ratios; the target is >= 1.2x.
 * Servers run in their own processes and take turns, round by round, so that load from elsewhere on
 * the machine hits all of them alike.
 *   npm run bench:sftp      (env: BENCH_MIB=256, BENCH_REPEATS=3, BENCH_DIR=/dev/shm if it has room)
 * Needs root (the reference sshd runs in its own mount namespace) and openssh-server installed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { benchRoot, expectHash, median, medianAndBest, sha256, startFilegateProcess, writeRandomFile } from './helpers.js';
import { startOpenSshServer } from './openssh-server.js';

const MIB = Number(process.env.BENCH_MIB ?? 256);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const TRANSFER_TIMEOUT_MS = 180_000;
/**
 * filegate runs twice: with Node's default heap settings and with a larger initial heap. At these
 * rates (hundreds of MB/s of short-lived Buffers, most of them allocated inside ssh2) V8's default
 * sizing can fall into back-to-back full collections that cost about a third of the throughput;
 * `--initial-heap-size=128` (MB) keeps it out of them.
 */
const FILEGATE_RUNTIMES: [string, string[]][] = [
  ['filegate (node defaults)', []],
  ['filegate (--initial-heap-size=128)', ['--initial-heap-size=128']],
];
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

    const sshdDir = path.join(dir, 'sshd');
    await mkdir(sshdDir);
    const sshd = await startOpenSshServer(sshdDir, publicKey);
    cleanups.unshift(() => sshd.stop());
    const targets: Target[] = [
      { name: 'openssh', port: sshd.port, user: execFileSync('id', ['-un']).toString().trim(), remotePath: path.join(sshdDir, 'big.bin'), storedPath: path.join(sshdDir, 'big.bin') },
    ];
    for (const [i, [name, nodeFlags]] of FILEGATE_RUNTIMES.entries()) {
      const storage = path.join(dir, `filegate-${i}`);
      const filegate = await startFilegateProcess(
        { storage, certsDir: path.join(dir, `filegate-${i}-certs`), sftp: { host: '127.0.0.1', port: 0 }, users: [{ username: 'bench', public_keys: [publicKey], root_path: 'bench' }] },
        nodeFlags,
      );
      cleanups.unshift(() => filegate.stop());
      targets.push({ name, port: filegate.port, user: 'bench', remotePath: '/big.bin', storedPath: path.join(storage, 'bench', 'big.bin') });
    }
    const results = new Map<string, { up: number[]; down: number[] }>(targets.map((t) => [t.name, { up: [], down: [] }]));
    console.log(`SFTP benchmark: ${MIB} MiB, ${REPEATS} repeats, OpenSSH sftp client defaults, loopback`);
    // Round 0 warms up (JIT, page cache, disk) and is not counted.
    for (let round = 0; round <= REPEATS; round++) {
      for (const target of targets) {
        const downloaded = path.join(dir, 'download.bin');
        const up = await timedSftp(target, clientKey, `put ${source} ${target.remotePath}`);
        await expectHash(target.storedPath, sourceHash, `${target.name} upload`);
        const down = await timedSftp(target, clientKey, `get ${target.remotePath} ${downloaded}`);
        await expectHash(downloaded, sourceHash, `${target.name} download`);
        await rm(downloaded);
        await rm(target.storedPath);
        if (round === 0) continue;
        results.get(target.name)!.up.push(rate(up));
        results.get(target.name)!.down.push(rate(down));
        console.log(`  round ${round} ${target.name.padEnd(34)} up ${rate(up).toFixed(0).padStart(5)} MB/s   down ${rate(down).toFixed(0).padStart(5)} MB/s`);
      }
    }
    const os = results.get('openssh')!;
    console.log('\nmedian (best) MB/s                    upload              download');
    for (const [name, r] of results) console.log(`  ${name.padEnd(34)} ${medianAndBest(r.up)}   ${medianAndBest(r.down)}`);
    for (const [name] of FILEGATE_RUNTIMES) {
      const fg = results.get(name)!;
      const up = median(fg.up) / median(os.up);
      const down = median(fg.down) / median(os.down);
      console.log(`  ${name} / openssh (median): ${up.toFixed(2)}x up, ${down.toFixed(2)}x down (target >= 1.20x)`);
    }
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
