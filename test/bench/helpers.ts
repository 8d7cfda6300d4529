/** Pieces every throughput benchmark needs: test data, checksums, statistics, the servers under test. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { open, statfs } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * Where the benchmark's files live: RAM (/dev/shm) when it has room for `bytesNeeded`, so that the
 * servers are measured rather than the disk's write-back; BENCH_DIR overrides.
 */
export async function benchRoot(bytesNeeded: number): Promise<string> {
  if (process.env.BENCH_DIR) return process.env.BENCH_DIR;
  const shm = await statfs('/dev/shm').catch(() => undefined);
  return shm && shm.bavail * shm.bsize > bytesNeeded ? '/dev/shm' : tmpdir();
}

export async function writeRandomFile(file: string, size: number): Promise<void> {
  const handle = await open(file, 'w', 0o644);
  try {
    const chunk = Buffer.alloc(4 * 1024 * 1024);
    for (let written = 0; written < size; written += chunk.length) {
      randomFillSync(chunk);
      await handle.write(chunk, 0, Math.min(chunk.length, size - written));
    }
  } finally {
    await handle.close();
  }
}

/**
 * SHA-256 of a file, computed by `sha256sum` in its own process: hashing hundreds of MB in the
 * benchmark process would churn the same heap the in-process server runs on and skew its GC.
 */
export async function sha256(file: string): Promise<string> {
  const { stdout } = await execFileAsync('sha256sum', [file], { timeout: 60_000 });
  return stdout.split(' ')[0]!;
}

export async function expectHash(file: string, expected: string, what: string): Promise<void> {
  const actual = await sha256(file);
  if (actual !== expected) throw new Error(`${what}: SHA-256 mismatch (${actual} != ${expected})`);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** "median (best)" of a series of rates, padded for a table. */
export function medianAndBest(values: number[]): string {
  return `${median(values).toFixed(0).padStart(5)} (${Math.max(...values).toFixed(0).padStart(5)})`;
}

/** A loopback port that was free a moment ago (for peers that cannot be told to pick one). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** SIGTERM, then SIGKILL after 3 s; resolves when the process has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FILEGATE_SERVER = fileURLToPath(new URL('./filegate-server.mjs', import.meta.url));

export interface FilegateProcess {
  port: number;
  /** The server process's memory (after a full collection if it runs with --expose-gc). */
  memory(): Promise<NodeJS.MemoryUsage>;
  stop(): Promise<void>;
}

/** Starts the built filegate (`createGateway(config)`, `npm run build` first) in a child Node process run with `nodeFlags`. */
export async function startFilegateProcess(config: object, nodeFlags: string[] = []): Promise<FilegateProcess> {
  const child = spawn(process.execPath, [...nodeFlags, FILEGATE_SERVER, JSON.stringify(config)], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('filegate did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`filegate exited (${code}) before listening`)));
    child.stdout!.once('data', (line: Buffer) => {
      clearTimeout(timer);
      resolve((JSON.parse(line.toString()) as { port: number }).port);
    });
  }).catch(async (err: unknown) => {
    await stopChild(child);
    throw err;
  });
  return {
    port,
    memory() {
      return new Promise((resolve) => {
        child.stdout!.once('data', (line: Buffer) => resolve(JSON.parse(line.toString()) as NodeJS.MemoryUsage));
        child.stdin!.write('memory\n');
      });
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin!.end(); // the server closes when its stdin ends
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      if (child.exitCode === null) await exited;
      clearTimeout(timer);
    },
  };
}
