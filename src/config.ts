/**
 * The config file (`filegate serve --config FILE`) and the options object `createGateway()` takes.
 * Key names are a public contract: add keys, never rename them. Relative paths are relative to the
 * config file.
 */
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_LOCKOUT, DEFAULT_PASSWORD_CACHE, parseUserRecords, readJsonFile, trustList } from './core/index.js';

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1).default('127.0.0.1');
const seconds = z.number().int().min(1);
/** PROXY protocol on a listener: `optional`/`required` believe headers from `trustedProxies` only. */
const proxyProtocol = z.enum(['off', 'optional', 'required']).default('off');

const sftpSchema = z.strictObject({
  host,
  proxyProtocol,
  port: port.default(2222),
  /** Paths of OpenSSH/PEM private host keys; [] or absent: generated into certsDir on first start. */
  hostKeys: z.array(z.string().min(1)).default([]),
  idleTimeoutSeconds: seconds.default(900),
  maxConnections: z.number().int().min(1).default(500),
  maxConnectionsPerSource: z.number().int().min(1).default(20),
  banner: z.string().optional(),
  /** A connection not logged in this long after accept is closed, whatever it sends. */
  loginTimeoutSeconds: seconds.default(60),
  /** Open SFTP handles (files and directories) per connection, all its channels together. */
  maxHandles: z.number().int().min(1).default(256),
  /** Bytes one connection may hold buffered: unsent replies, request data, directory windows. */
  maxBufferedBytes: z.number().int().min(1024 * 1024).default(32 * 1024 * 1024),
  /** The same for all SFTP connections together (each connection may still run one request). */
  maxBufferedBytesTotal: z.number().int().min(1024 * 1024).default(512 * 1024 * 1024),
});

const ftpSchema = z.strictObject({
  host,
  proxyProtocol,
  port: port.default(2121),
  passivePorts: z
    .tuple([port, port])
    .refine(([lo, hi]) => lo <= hi, 'the first port must not be above the second')
    .default([30000, 30100]),
  /** Address clients are told to connect to for PASV; default: the control connection's local address. */
  pasvUrl: z.string().min(1).optional(),
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  implicitTlsPort: port.optional(),
  requireTls: z.boolean().default(false),
  idleTimeoutSeconds: seconds.default(900),
  maxConnections: z.number().int().min(1).default(500),
  maxConnectionsPerSource: z.number().int().min(1).default(20),
  maxLoginFailuresPerConnection: z.number().int().min(1).default(3),
  /** PORT/EPRT (active mode), to the control connection's own address and a port >= 1024 only. */
  activeMode: z.boolean().default(true),
  /** A control connection not logged in by then gets 421 and is closed, whatever it sends. */
  loginTimeoutSeconds: seconds.default(60),
  /** TLS handshakes (implicit FTPS, AUTH TLS, data connections) longer than this are cut. */
  tlsHandshakeTimeoutSeconds: seconds.default(10),
  /** Finished data connections per control connection left for the client to close; beyond, the oldest is closed. */
  maxLingeringDataConnections: z.number().int().min(1).default(4),
  /** A data connection must resume the control connection's TLS session (stops a local process stealing it). */
  requireTlsSessionReuse: z.boolean().default(false),
});

const httpSchema = z.strictObject({
  host,
  proxyProtocol,
  port: port.default(8080),
  sessionIdleMinutes: z.number().int().min(1).default(360),
  maxBodyBytes: z.number().int().min(256).default(16 * 1024),
  /** A request's headers and body must arrive within this time (slow clients hold sockets otherwise). */
  requestTimeoutSeconds: seconds.default(30),
  maxConnections: z.number().int().min(1).default(512),
  maxConnectionsPerSource: z.number().int().min(1).default(20),
  /** Bearer token of the admin API (`/api/rest/v1/admin/…`); the API is off unless this or the file is set. */
  adminToken: z.string().min(16, 'must be at least 16 characters').optional(),
  /** A file holding the admin token (first line), read at start and on reload. */
  adminTokenFile: z.string().min(1).optional(),
}).refine((http) => !(http.adminToken && http.adminTokenFile), { message: 'give adminToken or adminTokenFile, not both', path: ['adminToken'] });

const metricsSchema = z.strictObject({
  host,
  port: port.default(9464),
});

const lockoutSchema = z.strictObject({
  maxFailures: z.number().int().min(1).default(DEFAULT_LOCKOUT.maxFailures),
  maxFailuresPerSource: z.number().int().min(1).default(DEFAULT_LOCKOUT.maxFailuresPerSource),
  windowMinutes: z.number().min(0.01).default(DEFAULT_LOCKOUT.windowMinutes),
  lockMinutes: z.number().min(0.01).default(DEFAULT_LOCKOUT.lockMinutes),
});

/** Verified passwords remembered per process (an HMAC, never the password): repeated logins skip scrypt. */
const passwordCacheSchema = z.strictObject({
  enabled: z.boolean().default(DEFAULT_PASSWORD_CACHE.enabled),
  ttlSeconds: z.number().int().min(1, 'must be at least 1').max(86_400, 'must be at most 86400 (a day)').default(DEFAULT_PASSWORD_CACHE.ttlSeconds),
  maxEntries: z.number().int().min(1, 'must be at least 1').max(1_000_000, 'must be at most 1000000').default(DEFAULT_PASSWORD_CACHE.maxEntries),
});

const redisSchema = z.strictObject({
  url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL'),
  /** Prepended to every key and channel: several fleets may share one Redis. */
  keyPrefix: z.string().default('filegate:'),
  /** A dead node's sessions leave the store this long after its last heartbeat (every third of it). */
  sessionTtlSeconds: z.number().int().min(3).default(30),
});

export const configSchema = z.strictObject({
  storage: z.string().min(1).default('./data'),
  /** A users file (JSON array of records) or the records inline. */
  users: z.union([z.string().min(1), z.array(z.unknown())]).default([]),
  sftp: sftpSchema.optional(),
  ftp: ftpSchema.optional(),
  http: httpSchema.optional(),
  /** Prometheus `/metrics`, `/healthz`, `/readyz` on their own listener; absent: off. */
  metrics: metricsSchema.optional(),
  insecure: z.strictObject({ sshCiphers: z.boolean().default(false), tlsVersions: z.boolean().default(false) }).default({ sshCiphers: false, tlsVersions: false }),
  lockout: lockoutSchema.default(DEFAULT_LOCKOUT),
  passwordCache: passwordCacheSchema.default(DEFAULT_PASSWORD_CACHE),
  /** Where generated host keys and certificates go. */
  certsDir: z.string().min(1).default('./certs'),
  loginTokenDomain: z.string().default(''),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** The shared store of a fleet of gateways; absent: everything stays in this process. */
  redis: redisSchema.optional(),
  /** Load balancers (addresses or CIDR blocks) whose PROXY protocol header names the client. */
  trustedProxies: z.array(z.string().refine(isAddressBlock, 'not an IP address or CIDR block')).default([]),
}).refine(
  (config) => config.trustedProxies.length > 0 || [config.sftp, config.ftp, config.http].every((block) => (block?.proxyProtocol ?? 'off') === 'off'),
  { message: 'proxyProtocol is on for a listener, so trustedProxies must name the load balancers', path: ['trustedProxies'] },
);

function isAddressBlock(entry: string): boolean {
  try {
    trustList([entry]);
    return true;
  } catch {
    return false;
  }
}

export type GatewayConfigInput = z.input<typeof configSchema>;
export type GatewayConfig = z.output<typeof configSchema>;
export type SftpConfig = z.output<typeof sftpSchema>;
export type FtpConfig = z.output<typeof ftpSchema>;
export type HttpConfig = z.output<typeof httpSchema>;
export type MetricsConfig = z.output<typeof metricsSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Validates a config object. `source` names it in errors; `baseDir` anchors relative paths.
 * Inline user records are validated here too.
 */
export function parseConfig(raw: unknown, source = 'config', baseDir = process.cwd()): GatewayConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.join('.');
    const what = issue.code === 'unrecognized_keys' ? `unknown key "${issue.keys.join('", "')}"` : issue.message;
    throw new ConfigError(`${source}: ${where ? `field "${where}": ` : ''}${what}`);
  }
  const config = result.data;
  const abs = (p: string): string => path.resolve(baseDir, p);
  if (Array.isArray(config.users)) parseUserRecords(config.users, `${source}: users`);
  return {
    ...config,
    storage: abs(config.storage),
    users: typeof config.users === 'string' ? abs(config.users) : config.users,
    certsDir: abs(config.certsDir),
    sftp: config.sftp && { ...config.sftp, hostKeys: config.sftp.hostKeys.map(abs) },
    ftp: config.ftp && { ...config.ftp, tls: config.ftp.tls && { cert: abs(config.ftp.tls.cert), key: abs(config.ftp.tls.key) } },
    http: config.http && { ...config.http, adminTokenFile: config.http.adminTokenFile && abs(config.http.adminTokenFile) },
  };
}

/** Reads and validates a JSON config file; errors name the file and the field. */
export async function loadConfigFile(file: string): Promise<GatewayConfig> {
  const raw = await readJsonFile(file, 'config file', (message) => new ConfigError(message));
  return parseConfig(raw, file, path.dirname(path.resolve(file)));
}

