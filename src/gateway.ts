/**
 * The composition root: builds the core from a config, starts the configured adapters, and closes
 * everything. The only module that knows every adapter. No module-level state: run as many
 * gateways in one process as you like (tests do, on ephemeral ports).
 */
import { mkdir, realpath } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { parseConfig, type GatewayConfig, type GatewayConfigInput } from './config.js';
import {
  GuardedFs,
  JsonFileUserDirectory,
  RedisStore,
  SessionManager,
  StaticUserDirectory,
  parseUserRecords,
  silentLogger,
  type Clock,
  type Logger,
  type UserDirectory,
} from './core/index.js';
import type { AdapterContext, RunningServer } from './protocols/context.js';
import { startFtpServer } from './protocols/ftp/index.js';
import { AdminToken } from './protocols/http/admin-auth.js';
import { startHttpServer } from './protocols/http/index.js';
import { startSftpServer } from './protocols/sftp/index.js';

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

export interface Gateway {
  readonly config: GatewayConfig;
  readonly sessions: SessionManager;
  /** Bound addresses: `sftp`, `ftp`, `ftps` (implicit FTPS), `http`, for the listeners that run. */
  readonly addresses: Readonly<Record<string, AddressInfo>>;
  /** Ends every session and connection and stops every listener. */
  close(): Promise<void>;
}

export async function createGateway(input: GatewayConfigInput, options: GatewayOptions = {}): Promise<Gateway> {
  const config = parseConfig(input);
  const logger = options.logger ?? silentLogger;
  const users = options.users ?? (await loadUsers(config));
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
    loginTokenDomain: config.loginTokenDomain,
    idleTimeoutMs: (config.http?.sessionIdleMinutes ?? 360) * 60_000,
    logger,
    clock: options.clock,
  });
  const context: AdapterContext = {
    sessions,
    config,
    logger,
    openFs: (session) => GuardedFs.forSession(session, storageRoot, logger),
  };

  const running: RunningServer[] = [];
  const close = async (): Promise<void> => {
    await sessions.close();
    await Promise.allSettled(running.splice(0).map((server) => server.close()));
    await store?.close();
  };
  try {
    if (config.sftp) running.push(await startSftpServer(context, config.sftp));
    if (config.ftp) running.push(await startFtpServer(context, config.ftp));
    if (config.http) running.push(await startHttpServer(context, config.http, { adminToken }));
  } catch (err) {
    await close();
    throw err;
  }
  const addresses: Record<string, AddressInfo> = Object.freeze(Object.assign({}, ...running.map((server) => server.addresses)));
  for (const [name, address] of Object.entries(addresses)) {
    logger.info({ event: 'listening', protocol: name, host: address.address, port: address.port }, `${name} listening`);
  }
  return { config, sessions, addresses, close };
}

async function loadUsers(config: GatewayConfig): Promise<UserDirectory> {
  if (typeof config.users === 'string') return JsonFileUserDirectory.load(config.users);
  return new StaticUserDirectory(parseUserRecords(config.users, 'config: users'));
}
