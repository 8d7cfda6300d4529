/**
 * `filegate serve --workers N`: N worker processes (node:cluster) on the same listeners, sharing
 * their state through Redis. The primary only forks, replaces crashed workers (removing their
 * sessions from the store at once), and stops them all on SIGTERM/SIGINT. FTP passive ports are split
 * between the workers, so a data connection reaches the worker holding its control connection.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism, hostname } from 'node:os';
import type { GatewayConfig } from './config.js';
import { RedisStore, type Logger } from './core/index.js';

const INDEX_ENV = 'FILEGATE_WORKER_INDEX';
const COUNT_ENV = 'FILEGATE_WORKERS';
/** A worker crashing faster than this after its start is not replaced again at once. */
const RESTART_DELAY_MS = 1_000;

/** `--workers` as a number: absent = 1, `auto` = the number of cores. Throws on anything else. */
export function parseWorkers(value: string | undefined): number {
  if (value === undefined) return 1;
  if (value === 'auto') return availableParallelism();
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 256) throw new Error(`--workers: "${value}" is not a number from 1 to 256 or "auto"`);
  return count;
}

/** The node id of the worker with this pid: the same in the worker and in its primary. */
export const workerNode = (pid: number): string => `${hostname()}-${pid}`;

/** In a worker: the config with this worker's share of the FTP passive ports. Elsewhere: unchanged. */
export function workerConfig(config: GatewayConfig): GatewayConfig {
  if (!cluster.isWorker || !config.ftp) return config;
  const index = Number(process.env[INDEX_ENV]);
  const count = Number(process.env[COUNT_ENV]);
  return { ...config, ftp: { ...config.ftp, passivePorts: passiveShare(config.ftp.passivePorts, index, count) } };
}

/** Worker `index` of `count`'s slice of the passive port range. */
export function passiveShare([low, high]: readonly [number, number], index: number, count: number): [number, number] {
  const size = high - low + 1;
  if (size < count) throw new Error(`ftp.passivePorts: ${size} ports cannot be split between ${count} workers`);
  return [low + Math.floor((index * size) / count), low + Math.floor(((index + 1) * size) / count) - 1];
}

/** Checks what N workers need; the error message names the config key. */
export function checkClusterConfig(config: GatewayConfig, workers: number): void {
  if (workers > 1 && !config.redis) {
    throw new Error(`--workers ${workers} needs a "redis" block in the config: workers share sessions, logins and lockouts through it`);
  }
  if (config.ftp) passiveShare(config.ftp.passivePorts, 0, workers);
}

/** Runs the primary until SIGTERM/SIGINT; resolves with the exit code. */
export function runPrimary(config: GatewayConfig, workers: number, logger: Logger): Promise<number> {
  const store = RedisStore.create({ url: config.redis!.url, keyPrefix: config.redis!.keyPrefix, logger });
  const slots = new Map<Worker, number>();
  let stopping = false;
  const fork = (index: number): void => {
    const worker = cluster.fork({ [INDEX_ENV]: String(index), [COUNT_ENV]: String(workers) });
    const started = Date.now();
    slots.set(worker, index);
    worker.once('exit', (code, signal) => {
      slots.delete(worker);
      if (stopping) return;
      const pid = worker.process.pid!;
      logger.error({ event: 'worker_died', worker: index, pid, code, signal }, 'worker died: replacing it');
      void removeSessionsOf(store, workerNode(pid), logger);
      setTimeout(() => !stopping && fork(index), Math.max(0, RESTART_DELAY_MS - (Date.now() - started)));
    });
  };
  for (let i = 0; i < workers; i++) fork(i);
  logger.info({ event: 'cluster_started', workers }, `${workers} workers`);

  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ event: 'shutdown', signal }, 'stopping workers');
      // A worker still starting has no handler yet: SIGTERM's default ends it, which is clean too.
      const exits = [...slots.keys()].map(
        (worker) => new Promise<boolean>((done) => worker.once('exit', (code, exitSignal) => done(code === 0 || exitSignal === 'SIGTERM'))),
      );
      for (const worker of slots.keys()) worker.process.kill('SIGTERM');
      void Promise.all(exits).then(async (clean) => {
        await store.close();
        resolve(clean.every(Boolean) ? 0 : 1);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      for (const worker of slots.keys()) worker.process.kill('SIGHUP');
    });
  });
}

async function removeSessionsOf(store: RedisStore, node: string, logger: Logger): Promise<void> {
  try {
    const sessions = (await store.listSessions()).filter((record) => record.node === node);
    await Promise.all(sessions.map((record) => store.removeSession(record.fields.id)));
    logger.info({ event: 'worker_sessions_removed', node, count: sessions.length }, 'sessions of the dead worker removed');
  } catch (err) {
    logger.warn({ event: 'worker_sessions_left', node, err }, 'store unreachable: the dead worker\'s sessions expire by themselves');
  }
}
