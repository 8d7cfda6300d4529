/**
 * SFTP: filegate vs OpenSSH sshd + sftp-server in the same run, over loopback with the OpenSSH
 * `sftp` client at its default settings (no -B/-R). Servers run in their own processes and take
 * turns, round by round, so that load from elsewhere on the machine hits all of them alike.
 * - Throughput: 256 MiB up and down, every transfer checked by SHA-256; MB/s (10^6 bytes) for each
 *   server and filegate's ratios; target >= 1.5x both ways.
 * - Listing: `ls -l` of a 10,000-entry directory (every entry must be listed), three times in one
 *   session; net time of one listing = (that session - a session that only runs `pwd`, i.e.
 *   connect, key exchange and login) / 3; target filegate <= 1.0x sshd. Three listings a session
 *   keep sshd's slow, noisy session start (a fork and re-exec per connection) from swamping the
 *   difference. filegate runs as the CLI runs it (--initial-heap-size=128).
 *   npm run bench:sftp      (env: BENCH_MIB=256, BENCH_REPEATS=3, BENCH_DIR=/dev/shm if it has room,
 *                           BENCH_ENTRIES=10000, BENCH_PARTS=transfer,listing)
 * Needs root (the reference sshd runs in its own mount namespace) and openssh-server installed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { benchRoot, expectHash, median, medianAndBest, sha256, startFilegateProcess, writeRandomFile } from './helpers.js';
import { startOpenSshServer } from './openssh-server.js';

const MIB = Number(process.env.BENCH_MIB ?? 256);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 10_000);
const PARTS = new Set((process.env.BENCH_PARTS ?? 'transfer,listing').split(','));
const TRANSFER_TIMEOUT_MS = 180_000;
const TRANSFER_TARGET = 1.5;
const LIST_TARGET = 1.0;
const LISTINGS_PER_SESSION = 3;
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
  /** The directory `remotePath` is in: as the client names it, and on disk. */
  remoteDir: string;
  storedDir: string;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(await benchRoot(4 * SIZE), 'filegate-bench-'));
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const clientKey = path.join(dir, 'client_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
    const publicKey = (await readFile(`${clientKey}.pub`, 'utf8')).trim();
    const sshdDir = path.join(dir, 'sshd');
    await mkdir(sshdDir);
    const sshd = await startOpenSshServer(sshdDir, publicKey);
    cleanups.unshift(() => sshd.stop());
    const targets: Target[] = [
      {
        name: 'openssh',
        port: sshd.port,
        user: execFileSync('id', ['-un']).toString().trim(),
        remotePath: path.join(sshdDir, 'big.bin'),
        storedPath: path.join(sshdDir, 'big.bin'),
        remoteDir: sshdDir,
        storedDir: sshdDir,
      },
    ];
    for (const [i, [name, nodeFlags]] of FILEGATE_RUNTIMES.entries()) {
      const storage = path.join(dir, `filegate-${i}`);
      const filegate = await startFilegateProcess(
        { storage, certsDir: path.join(dir, `filegate-${i}-certs`), sftp: { host: '127.0.0.1', port: 0 }, users: [{ username: 'bench', public_keys: [publicKey], root_path: 'bench' }] },
        nodeFlags,
      );
      cleanups.unshift(() => filegate.stop());
      const storedDir = path.join(storage, 'bench');
      targets.push({ name, port: filegate.port, user: 'bench', remotePath: '/big.bin', storedPath: path.join(storedDir, 'big.bin'), remoteDir: '/', storedDir });
    }
    if (PARTS.has('transfer')) await transfers(targets, dir, clientKey);
    // The listing compares sshd with filegate as the CLI runs it.
    if (PARTS.has('listing')) await listings([targets[0]!, targets[targets.length - 1]!], clientKey);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}

async function transfers(targets: Target[], dir: string, clientKey: string): Promise<void> {
  const source = path.join(dir, 'source.bin');
  await writeRandomFile(source, SIZE);
  const sourceHash = await sha256(source);
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
    console.log(`  ${name} / openssh (median): ${up.toFixed(2)}x up, ${down.toFixed(2)}x down (target >= ${TRANSFER_TARGET.toFixed(2)}x) ${Math.min(up, down) >= TRANSFER_TARGET ? 'ok' : 'BELOW TARGET'}`);
  }
}

/** `ls -l` of a directory of ENTRIES files, net of a session that runs only `pwd`, per listing. */
async function listings(targets: Target[], clientKey: string): Promise<void> {
  for (const target of targets) await makeDirectory(path.join(target.storedDir, 'many'), ENTRIES);
  const times = new Map<string, { list: number[]; base: number[] }>(targets.map((t) => [t.name, { list: [], base: [] }]));
  // Round 0 warms up and is not counted; the order alternates so neither server always goes first.
  for (let round = 0; round <= REPEATS * 3; round++) {
    for (const target of round % 2 ? [...targets].reverse() : targets) {
      const base = await timedSftp(target, clientKey, 'pwd');
      const listed: string[] = [];
      const command = `ls -l ${path.posix.join(target.remoteDir, 'many')}`;
      const list = await timedSftp(target, clientKey, Array(LISTINGS_PER_SESSION).fill(command).join('\n'), listed);
      const lines = listed.join('').split('\n').filter((line) => line.includes('entry-')).length;
      if (lines !== LISTINGS_PER_SESSION * ENTRIES) throw new Error(`${target.name}: ls -l gave ${lines} entries, expected ${LISTINGS_PER_SESSION} x ${ENTRIES}`);
      if (round === 0) continue;
      times.get(target.name)!.list.push(list);
      times.get(target.name)!.base.push(base);
    }
  }
  console.log(`\nls -l of ${ENTRIES} entries, ms (medians): ${LISTINGS_PER_SESSION} listings a session, pwd-only session, net per listing`);
  const net = new Map<string, number>();
  for (const [name, t] of times) {
    net.set(name, (median(t.list) - median(t.base)) / LISTINGS_PER_SESSION);
    console.log(`  ${name.padEnd(34)} ${median(t.list).toFixed(0).padStart(5)} ${median(t.base).toFixed(0).padStart(5)} ${net.get(name)!.toFixed(0).padStart(5)}`);
  }
  const ratio = net.get(targets[1]!.name)! / net.get('openssh')!;
  console.log(`  filegate / openssh net time ${ratio.toFixed(2)}x (target <= ${LIST_TARGET.toFixed(1)}x) ${ratio <= LIST_TARGET ? 'ok' : 'BELOW TARGET'}`);
}

async function makeDirectory(dir: string, entries: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < entries; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, entries - i) }, (_, j) => writeFile(path.join(dir, `entry-${String(i + j).padStart(6, '0')}.dat`), 'x'.repeat((i + j) % 97))));
  }
}

/** Runs one `sftp -b` session with a single command; returns its wall-clock milliseconds (stdout into `output`). */
async function timedSftp(target: Target, key: string, command: string, output?: string[]): Promise<number> {
  const args = [
    '-q', '-b', '-', '-i', key, '-P', String(target.port),
    '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR', `${target.user}@127.0.0.1`,
  ];
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const child = execFile('sftp', args, { timeout: TRANSFER_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${target.name}: sftp "${command}" failed: ${stderr || err.message}`));
      output?.push(stdout);
      resolve();
    });
    child.stdin!.end(`${command}\n`);
  });
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const rate = (ms: number): number => SIZE / 1e6 / (ms / 1000);

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
