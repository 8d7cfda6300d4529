/**
 * Real server processes for fleet tests: a throwaway redis-server and gateways run by the CLI in
 * their own processes, each on free loopback ports, each stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The CLI from the sources (tests), or as built by `npm run build` (benchmarks: what users run). */
const CLI = { source: ['--import', 'tsx', path.resolve('src/cli.ts')], built: [path.resolve('dist/cli.js')] };

/** A port nothing listens on right now (the kernel's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Resolves when `child` prints a line matching `ready`; rejects on exit or after `timeoutMs`. The
 * resolved array keeps collecting every later line (for log assertions).
 */
function waitForOutput(child: ChildProcess, ready: (line: string) => boolean, timeoutMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let partial = '';
    let done = false;
    const timer = setTimeout(() => reject(new Error(`not ready in ${timeoutMs} ms: ${lines.join('\n')}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      const text = partial + chunk.toString();
      const parts = text.split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (!done && ready(line)) {
          done = true;
          clearTimeout(timer);
          resolve(lines);
        }
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!done) reject(new Error(`exited with ${code} before ready: ${lines.join('\n')}`));
    });
  });
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  return exited;
}

export interface RedisServer {
  port: number;
  url: string;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop()). */
  start(): Promise<void>;
}

/** A redis-server with no persistence, on a free port, in a temporary directory. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'filegate-redis-'));
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await waitForOutput(child, (line) => line.includes('Ready to accept connections'), 10_000);
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    async stop() {
      if (child) await stopChild(child);
      child = undefined;
    },
  };
}

export interface GatewayProcess {
  pid: number;
  /** Bound ports by listener name (sftp, ftp, ftps, http). */
  ports: Record<string, number>;
  /** Every line the process has printed (JSON log lines). */
  output: string[];
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

/**
 * Runs `filegate serve --config` with `config` (relative paths resolve in a temporary directory);
 * ready when each of `listeners` has logged `listening` `instances` times (once per worker).
 * `nodeFlags` go to node itself (workers inherit them).
 */
export async function startGatewayProcess(
  config: Record<string, unknown>,
  listeners: string[],
  extraArgs: string[] = [],
  instances = 1,
  nodeFlags: string[] = [],
  cli: keyof typeof CLI = 'source',
  /** A command the gateway runs under (`unshare ... sh -c '...; exec "$@"'`): it must exec its arguments. */
  launcher: string[] = [],
): Promise<GatewayProcess> {
  const dir = await mkdtemp(path.join(tmpdir(), 'filegate-node-'));
  const file = path.join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ certsDir: './certs', logLevel: 'info', ...config }));
  const command = [...launcher, process.execPath, ...nodeFlags, ...CLI[cli], 'serve', '--config', file, ...extraArgs];
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports: Record<string, number> = {};
  const seen = new Map<string, number>();
  const output = await waitForOutput(
    child,
    (line) => {
      if (!line.includes('"event":"listening"')) return false;
      const { protocol, port } = JSON.parse(line) as { protocol: string; port: number };
      ports[protocol] = port;
      seen.set(protocol, (seen.get(protocol) ?? 0) + 1);
      return listeners.every((name) => (seen.get(name) ?? 0) >= instances);
    },
    60_000, // tsx compiles the sources in every process: slow on a loaded machine
  ).catch(async (err: unknown) => {
    await stopChild(child, 'SIGKILL');
    throw err;
  });
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  return {
    pid: child.pid!,
    ports,
    output,
    stop: async () => {
      const code = await stopChild(child);
      await cleanup();
      return code;
    },
    kill: async () => {
      await stopChild(child, 'SIGKILL');
      await cleanup();
    },
  };
}
