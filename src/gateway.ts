/**
 * The composition root: builds the core from a config, starts the configured adapters, and closes
 * everything. The only module that knows every adapter. No module-level state: run as many
 * gateways in one process as you like (tests do, on ephemeral ports).
 */
import { mkdir, realpath } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { parseConfig, type GatewayConfig, type GatewayConfigInput } from './config.js';
import {
  GuardedFs,
  assertJailSupported,
  RedisStore,
  SessionManager,
  StaticUserDirectory,
  diffUsers,
  parseUserRecords,
  readUserRecords,
  silentLogger,
  type Clock,
  type Logger,
  type UserChanges,
  type UserDirectory,
  type UserRecord,
} from './core/index.js';
import type { AdapterContext, RunningServer } from './protocols/context.js';
import { startFtpServer } from './protocols/ftp/index.js';
import { AdminToken, readAdminToken } from './protocols/http/admin-auth.js';
import { startHttpServer } from './protocols/http/index.js';
import { startSftpServer } from './protocols/sftp/index.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import { startMetricsServer, type ReadinessCheck } from './metrics/metrics-server.js';

export interface GatewayOptions {
  /** Your own user source; default: the config's `users` (file or inline records). */
  users?: UserDirectory;
  /** A pino logger (or anything with its shape); default: silent. */
  logger?: Logger;
  /** Time source for TOTP and throttling (tests). */
  clock?: Clock;
  /** This process's id among the nodes sharing a Redis store (default: host, pid and a nonce). */
  node?: string;
}

/** What a reload changed. */
export interface ReloadResult extends UserChanges {
  /** Sessions ended because their user was removed or changed. */
  endedSessions: number;
  /** Top-level config keys that differ but only take effect at the next start (listeners, storage…). */
  restartNeeded: string[];
}

export interface Gateway {
  /** The config in force (a reload updates the parts it applies). */
  readonly config: GatewayConfig;
  readonly sessions: SessionManager;
  /** Bound addresses: `sftp`, `ftp`, `ftps` (implicit FTPS), `http`, `metrics`, for the listeners that run. */
  readonly addresses: Readonly<Record<string, AddressInfo>>;
  /**
   * Re-reads the users file (or takes `config`'s users) and applies what can change without a restart:
   * users, lockout numbers, the FTPS certificate and key, the admin token, the log level. Sessions of
   * removed or changed users end; other connections carry on. A bad config or users file rejects with
   * the error start-up would give, and nothing changes. With `config`, it replaces the one in force.
   */
  reload(config?: GatewayConfigInput): Promise<ReloadResult>;
  /** Ends every session and connection and stops every listener. */
  close(): Promise<void>;
}

export async function createGateway(input: GatewayConfigInput, options: GatewayOptions = {}): Promise<Gateway> {
  const config = parseConfig(input);
  assertJailSupported(); // fail closed before anything listens
  const logger = options.logger ?? silentLogger;
  // Our own directory only: a daemon's UserDirectory reloads itself.
  const directory = options.users ? undefined : new StaticUserDirectory(await readUsers(config));
  const users = options.users ?? directory!;
  const adminToken = await AdminToken.fromConfig(config.http);
  await mkdir(config.storage, { recursive: true });
  const storageRoot = await realpath(config.storage);
  const store = config.redis && RedisStore.create({ url: config.redis.url, keyPrefix: config.redis.keyPrefix, logger });
  const sessions = new SessionManager({
    store,
    node: options.node,
    storeTtlMs: config.redis && config.redis.sessionTtlSeconds * 1000,
    users,
    lockout: config.lockout,
    passwordCache: config.passwordCache,
    loginTokenDomain: config.loginTokenDomain,
    idleTimeoutMs: (config.http?.sessionIdleMinutes ?? 360) * 60_000,
    logger,
    clock: options.clock,
  });
  const metrics = config.metrics ? new GatewayMetrics(sessions) : undefined;
  const context: AdapterContext = {
    sessions,
    config,
    logger,
    openFs: (session) => GuardedFs.forSession(session, storageRoot, logger, metrics),
  };

  const running: RunningServer[] = [];
  let closing = false;
  const close = async (): Promise<void> => {
    closing = true;
    await sessions.close();
    await Promise.allSettled(running.splice(0).map((server) => server.close()));
    metrics?.close();
    await store?.close();
  };
  /** What /readyz asks; a shared store adds its own check here (a Redis PING). */
  const readiness: Record<string, ReadinessCheck> = {
    listeners: async () => (closing ? 'shutting down' : undefined),
  };
  if (store) readiness.redis = () => store.ping().then(() => undefined, () => 'redis unreachable: logins fail closed');
  try {
    if (config.sftp) running.push(await startSftpServer(context, config.sftp));
    if (config.ftp) running.push(await startFtpServer(context, config.ftp));
    if (config.http) running.push(await startHttpServer(context, config.http, { adminToken }));
    // Last: ready means every listener above is up.
    if (config.metrics && metrics) running.push(await startMetricsServer(config.metrics, metrics, readiness));
  } catch (err) {
    await close();
    throw err;
  }
  const addresses: Record<string, AddressInfo> = Object.freeze(Object.assign({}, ...running.map((server) => server.addresses)));
  for (const [name, address] of Object.entries(addresses)) {
    logger.info({ event: 'listening', protocol: name, host: address.address, port: address.port }, `${name} listening`);
  }

  let current = config;
  let queue: Promise<unknown> = Promise.resolve();
  const apply = async (input: GatewayConfigInput | undefined): Promise<ReloadResult> => {
    const next = input === undefined ? current : parseConfig(input);
    // Everything that can fail first: a refused reload changes nothing.
    const records = directory ? await readUsers(next) : undefined;
    const token = current.http ? await readAdminToken(next.http) : undefined;
    for (const server of running) await server.reload?.(next);

    const changes = directory && records ? diffUsers(directory.records(), records) : { added: [], removed: [], changed: [] };
    if (directory && records) directory.replace(records);
    adminToken.replace(token);
    sessions.throttle.reconfigure(next.lockout);
    if (isLeveled(logger)) logger.level = next.logLevel;
    const affected = new Set([...changes.removed, ...changes.changed.map((c) => c.username)]);
    let endedSessions = 0;
    for (const session of await sessions.list()) {
      if (affected.has(session.username) && (await sessions.delete(session.id, 'SESSION_ENDED'))) endedSessions++;
    }
    const restartNeeded = restartOnlyChanges(current, next);
    current = { ...next, ...Object.fromEntries(restartNeeded.map((key) => [key, current[key as keyof GatewayConfig]])) };
    const result = { ...changes, endedSessions, restartNeeded };
    logger.info(
      { event: 'reload', outcome: 'applied', ...changes, changed: changes.changed.map((c) => c.username), ended_sessions: endedSessions, restart_needed: restartNeeded },
      'configuration reloaded',
    );
    return result;
  };
  const reload = (input?: GatewayConfigInput): Promise<ReloadResult> => {
    // One at a time: two SIGHUPs in a row must not interleave their swaps.
    const result = queue.then(() => apply(input));
    queue = result.catch(() => {});
    return result;
  };
  return {
    get config() {
      return current;
    },
    sessions,
    addresses,
    reload,
    close,
  };
}

/** The config's users: the file (errors name it, the user and the field) or the inline records. */
async function readUsers(config: GatewayConfig): Promise<UserRecord[]> {
  return typeof config.users === 'string' ? readUserRecords(config.users) : parseUserRecords(config.users, 'config: users');
}

/** Parts a reload applies; everything else needs a restart. */
const RELOADABLE: Record<string, true> = { users: true, lockout: true, logLevel: true };

function restartOnlyChanges(before: GatewayConfig, after: GatewayConfig): string[] {
  const fixed = (config: GatewayConfig, key: string): unknown => {
    const value = config[key as keyof GatewayConfig];
    if (key === 'http' && value) return { ...(value as object), adminToken: undefined, adminTokenFile: undefined };
    if (key === 'ftp' && value) return { ...(value as object), tls: undefined };
    return value;
  };
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((key) => !RELOADABLE[key] && !isDeepStrictEqual(fixed(before, key), fixed(after, key)));
}

function isLeveled(logger: Logger): logger is Logger & { level: string } {
  return typeof (logger as { level?: unknown }).level === 'string';
}
