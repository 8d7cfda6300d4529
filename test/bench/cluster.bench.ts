/**
 * Scale-out on one machine: filegate `--workers 2` and `--workers 1` (both on one Redis) against
 * vsftpd and OpenSSH sshd, all in the same run, servers taking turns round by round:
 *   - FTP: PARALLEL parallel MIB MiB downloads with curl, each curl logging in once per download,
 *     and (the transfer alone) each curl downloading the file 4 times on one login;
 *   - SFTP: PARALLEL parallel downloads with the OpenSSH sftp client (key login);
 *   - logins per second, one after another and PARALLEL at a time: FTP with a raw client (USER/PASS/QUIT),
 *     SSH with an ssh2 client (up to the SFTP subsystem), by password and by key.
 * Every download is checked by SHA-256; MB/s is 10^6 bytes over the wall time of the whole batch.
 * Targets: FTP --workers 2 >= 1.0x vsftpd, SFTP --workers 2 >= 1.5x sshd. vsftpd runs twice over:
 * with a local account (a password checked per login, yescrypt through PAM, as filegate checks one
 * with scrypt: like for like) and anonymous (no password check at all); sshd logs in by key, as
 * filegate's SFTP does here.
 *   npm run bench:cluster   (env: BENCH_MIB=32, BENCH_PARALLEL=8, BENCH_REPEATS=3, BENCH_LOGINS=40)
 * Needs redis-server, vsftpd, sshd, curl and sftp; run as root (vsftpd chroots, sshd runs unshared).
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { loadavg } from 'node:os';
import path from 'node:path';
import { Client as SshClient } from 'ssh2';
import { hashPassword } from '../../src/core/index.js';
import { passivePorts } from '../helpers/passive-ports.js';
import { startGatewayProcess, startRedis, type GatewayProcess } from '../helpers/processes.js';
import { benchRoot, expectHash, median, medianAndBest, sha256, writeRandomFile } from './helpers.js';
import { startOpenSshServer } from './openssh-server.js';
import { startVsftpd } from './vsftpd-server.js';

const MIB = Number(process.env.BENCH_MIB ?? 32);
const PARALLEL = Number(process.env.BENCH_PARALLEL ?? 8);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const LOGINS = Number(process.env.BENCH_LOGINS ?? 40);
const PER_LOGIN = 4;
const SIZE = MIB * 1024 * 1024;
const PASSWORD = 'bench-password';
const TIMEOUT_MS = 180_000;

interface Server {
  name: string;
  ftp: { url: string; user: string; password: string };
  sftp: { port: number; user: string; path: string };
}

/** Lists of rates by row name, in insertion order. */
class Table {
  readonly rows = new Map<string, number[]>();
  add(row: string, rate: number): void {
    this.rows.set(row, [...(this.rows.get(row) ?? []), rate]);
  }
  median(row: string): number {
    return median(this.rows.get(row) ?? [NaN]);
  }
}

const run = (file: string, args: string[], input?: string): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: TIMEOUT_MS }, (err, _stdout, stderr) =>
      err ? reject(new Error(`${file} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(),
    );
    child.stdin!.end(input);
  });

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** PARALLEL curls, each downloading the file `count` times on one login; checks every copy. */
async function ftpDownloads(server: Server, dir: string, hash: string, count: number): Promise<number> {
  const { url, user, password } = server.ftp;
  const outputs = Array.from({ length: PARALLEL }, (_, i) => Array.from({ length: count }, (_, j) => path.join(dir, `ftp-${i}-${j}.bin`)));
  const seconds = await timed(() =>
    Promise.all(outputs.map((files) => run('curl', ['-sS', '--fail', '--user', `${user}:${password}`, ...files.flatMap((file) => ['-o', file, url])]))),
  );
  await checkAll(outputs.flat(), hash, `${server.name} FTP`);
  return (PARALLEL * count * SIZE) / 1e6 / seconds;
}

async function sftpDownloads(server: Server, dir: string, hash: string, key: string): Promise<number> {
  const { port, user, path: remote } = server.sftp;
  const outputs = Array.from({ length: PARALLEL }, (_, i) => path.join(dir, `sftp-${i}.bin`));
  const args = [
    '-q', '-b', '-', '-i', key, '-P', String(port),
    '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR', `${user}@127.0.0.1`,
  ];
  const seconds = await timed(() => Promise.all(outputs.map((output) => run('sftp', args, `get ${remote} ${output}\n`))));
  await checkAll(outputs, hash, `${server.name} SFTP`);
  return (PARALLEL * SIZE) / 1e6 / seconds;
}

async function checkAll(files: string[], hash: string, what: string): Promise<void> {
  for (const file of files) {
    await expectHash(file, hash, what);
    await rm(file);
  }
}

/** One FTP login with a raw client: greeting, USER, PASS unless USER alone logged in, QUIT. */
function ftpLogin(port: number, user: string, password: string): Promise<void> {
  const next: Record<string, string | null> = { '220': `USER ${user}\r\n`, '331': `PASS ${password}\r\n`, '230': 'QUIT\r\n', '221': null };
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let buffer = '';
    let loggedIn = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!/^\d{3} /.test(line)) continue; // a line inside a multi-line reply
        const step = next[line.slice(0, 3)];
        if (step === undefined) return void socket.destroy(new Error(`FTP login: ${line}`));
        loggedIn ||= line.startsWith('230');
        if (step === null) socket.end();
        else socket.write(step);
      }
    });
    socket.once('error', reject);
    socket.once('close', () => (loggedIn ? resolve() : reject(new Error('FTP login: closed before 230'))));
  });
}

/** One SSH login with ssh2, up to an open SFTP subsystem. */
function sshLogin(port: number, user: string, auth: { password?: string; privateKey?: Buffer }): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = new SshClient();
    client.once('ready', () => client.sftp((err) => (client.end(), err ? reject(err) : resolve())));
    client.once('error', reject);
    client.connect({ host: '127.0.0.1', port, username: user, ...auth, readyTimeout: 30_000 });
  });
}

/** Logins per second: LOGINS of them one after another, then LOGINS with PARALLEL at a time. */
async function loginRates(login: () => Promise<void>): Promise<[number, number]> {
  const sequential = await timed(async () => {
    for (let i = 0; i < LOGINS; i++) await login();
  });
  const parallel = await timed(() =>
    Promise.all(Array.from({ length: PARALLEL }, async () => {
      for (let i = 0; i < LOGINS / PARALLEL; i++) await login();
    })),
  );
  return [LOGINS / sequential, LOGINS / parallel];
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(await benchRoot((PARALLEL * PER_LOGIN + 4) * SIZE), 'filegate-cluster-bench-'));
  await chmod(dir, 0o711); // vsftpd's local account reaches its home inside
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const key = path.join(dir, 'client_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const publicKey = (await readFile(`${key}.pub`, 'utf8')).trim();
    const privateKey = await readFile(key);
    const source = path.join(dir, 'source.bin');
    await writeRandomFile(source, SIZE);
    const hash = await sha256(source);
    const redis = await startRedis();
    cleanups.unshift(() => redis.stop());

    const servers: Server[] = [];
    const gateways = new Map<string, GatewayProcess>();
    const passwordHash = await hashPassword(PASSWORD);
    for (const workers of [2, 1]) {
      const storage = path.join(dir, `filegate-${workers}`);
      await mkdir(path.join(storage, 'bench'), { recursive: true });
      await copyFile(source, path.join(storage, 'bench', 'big.bin'));
      const gateway = await startGatewayProcess(
        {
          storage,
          redis: { url: redis.url, keyPrefix: `bench-${workers}:` },
          sftp: { host: '127.0.0.1', port: 0 },
          ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() },
          users: [{ username: 'bench', password_hash: passwordHash, public_keys: [publicKey], root_path: 'bench' }],
          lockout: { maxFailures: 5, maxFailuresPerSource: 1000, windowMinutes: 15, lockMinutes: 15 },
        },
        ['sftp', 'ftp'],
        ['--workers', String(workers)],
        workers,
        ['--initial-heap-size=128'], // as the filegate command runs
        'built',
      );
      cleanups.unshift(() => gateway.stop());
      const name = `filegate --workers ${workers}`;
      gateways.set(name, gateway);
      servers.push({
        name,
        ftp: { url: `ftp://127.0.0.1:${gateway.ports.ftp}/big.bin`, user: 'bench', password: PASSWORD },
        sftp: { port: gateway.ports.sftp!, user: 'bench', path: '/big.bin' },
      });
    }
    const vsftpdDir = path.join(dir, 'vsftpd');
    await mkdir(vsftpdDir);
    const vsftpd = await startVsftpd(vsftpdDir, await passivePorts(), ['YESCRYPT']);
    cleanups.unshift(() => vsftpd.stop());
    await copyFile(source, path.join(vsftpd.uploadDir, 'big.bin'));
    const account = vsftpd.localUsers[0]!;
    await copyFile(source, path.join(account.home, 'big.bin'));
    const sshdDir = path.join(dir, 'sshd');
    await mkdir(sshdDir);
    const sshd = await startOpenSshServer(sshdDir, publicKey);
    cleanups.unshift(() => sshd.stop());
    await copyFile(source, path.join(sshdDir, 'big.bin'));
    const ftpPeers = [
      { name: 'vsftpd (account)', url: `ftp://127.0.0.1:${vsftpd.port}/big.bin`, user: account.name, password: account.password },
      { name: 'vsftpd (anonymous)', url: `ftp://127.0.0.1:${vsftpd.port}/pub/big.bin`, user: 'anonymous', password: 'bench' },
    ];
    const peers = {
      sftp: { name: 'OpenSSH sshd', port: sshd.port, user: execFileSync('id', ['-un']).toString().trim(), path: path.join(sshdDir, 'big.bin') },
    };
    const ftpTargets: Server[] = [...servers, ...ftpPeers.map((peer) => ({ name: peer.name, ftp: peer, sftp: servers[0]!.sftp }))];
    const sftpTargets: Server[] = [...servers, { name: peers.sftp.name, ftp: servers[0]!.ftp, sftp: peers.sftp }];

    const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(`Scale-out benchmark: ${PARALLEL} parallel ${MIB} MiB downloads, ${REPEATS} repeats, loopback; load average ${load()}`);
    const fresh = new Table();
    const reused = new Table();
    const sftp = new Table();
    // Round 0 warms up (JIT, page cache) and is not counted; the order of the servers rotates.
    for (let round = 0; round <= REPEATS; round++) {
      const turn = <T>(list: T[]): T[] => [...list.slice(round % list.length), ...list.slice(0, round % list.length)];
      for (const target of turn(ftpTargets)) {
        const once = await ftpDownloads(target, dir, hash, 1);
        const many = await ftpDownloads(target, dir, hash, PER_LOGIN);
        if (round === 0) continue;
        fresh.add(target.name, once);
        reused.add(target.name, many);
        console.log(`  round ${round} FTP  ${target.name.padEnd(22)} ${once.toFixed(0).padStart(5)} MB/s, ${PER_LOGIN} per login ${many.toFixed(0).padStart(5)} MB/s`);
      }
      for (const target of turn(sftpTargets)) {
        const rate = await sftpDownloads(target, dir, hash, key);
        if (round === 0) continue;
        sftp.add(target.name, rate);
        console.log(`  round ${round} SFTP ${target.name.padEnd(22)} ${rate.toFixed(0).padStart(5)} MB/s`);
      }
    }

    const logins = new Map<string, [number, number]>();
    const ftpPort = (server: Server): number => Number(new URL(server.ftp.url).port);
    for (const server of ftpTargets) {
      logins.set(`FTP  ${server.name}${server.ftp.user === 'bench' ? ' (password)' : ''}`, await loginRates(() => ftpLogin(ftpPort(server), server.ftp.user, server.ftp.password)));
    }
    for (const server of servers) {
      logins.set(`SSH  ${server.name} (password)`, await loginRates(() => sshLogin(server.sftp.port, 'bench', { password: PASSWORD })));
      logins.set(`SSH  ${server.name} (key)`, await loginRates(() => sshLogin(server.sftp.port, 'bench', { privateKey })));
    }
    logins.set(`SSH  ${peers.sftp.name} (key)`, await loginRates(() => sshLogin(peers.sftp.port, peers.sftp.user, { privateKey })));

    const w2 = servers[0]!.name;
    const ratio = (table: Table, peer: string): string => (table.median(w2) / table.median(peer)).toFixed(2);
    console.log(`\n${PARALLEL} parallel ${MIB} MiB downloads, MB/s median (best)`);
    console.log(`  ${''.padEnd(24)} FTP 1 login each   FTP ${PER_LOGIN} per login   SFTP (key)`);
    for (const name of [...servers.map((s) => s.name), ...ftpPeers.map((peer) => peer.name), peers.sftp.name]) {
      const cell = (table: Table): string => (table.rows.has(name) ? medianAndBest(table.rows.get(name)!) : '').padEnd(18);
      console.log(`  ${name.padEnd(24)} ${cell(fresh)} ${cell(reused)} ${cell(sftp)}`);
    }
    for (const peer of ftpPeers) {
      console.log(`  ${w2} / ${peer.name}: ${ratio(fresh, peer.name)}x (${ratio(reused, peer.name)}x with ${PER_LOGIN} per login), target >= 1.0x`);
    }
    console.log(`  ${w2} / sshd:   ${ratio(sftp, peers.sftp.name)}x, target >= 1.5x`);
    console.log(`\nLogins per second (${LOGINS} one after another; ${LOGINS} with ${PARALLEL} at a time)`);
    for (const [name, [sequential, parallel]] of logins) {
      console.log(`  ${name.padEnd(42)} ${sequential.toFixed(1).padStart(7)} ${parallel.toFixed(1).padStart(7)}`);
    }
    console.log(`\nload average at the end ${load()}`);
    for (const [name, gateway] of gateways) {
      const workers = new Set(gateway.output.filter((line) => line.includes('"event":"transfer"')).map((line) => (JSON.parse(line) as { pid?: number }).pid));
      console.log(`  ${name}: transfers served by ${workers.size} worker process(es)`);
    }
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err: unknown) => console.error('cleanup failed:', err));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
