/**
 * Our typed view of ftp-srv 4.6.3 (pinned; its own .d.ts is wrong in places): the listener, its
 * per-connection object, and the stock command handlers we keep. Every other command is ours
 * (commands/*), because the stock ones have the defects listed in shared/reference/libraries.md.
 */
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Server, Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import type { Logger } from '../../core/index.js';

/** The bunyan-shaped logger ftp-srv calls (`log.error(msg, obj)` in bunyan order at some call sites). */
export interface FtpSrvLog {
  child(bindings: Record<string, unknown>): FtpSrvLog;
  trace(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  fatal(...args: unknown[]): void;
}

/** ftp-srv's per-connection object (src/connection.js): the fields we read or write. */
export interface FtpConnection extends EventEmitter {
  readonly id: string;
  /** The socket replies go to; we swap in the TLS socket after AUTH TLS. */
  commandSocket: Socket;
  /** Set by the stock TYPE handler. */
  transferType: 'ascii' | 'binary';
  /** Set by the stock REST handler; undefined when 0. */
  restByteCount: number | undefined;
  readonly log: FtpSrvLog;
  // `secure` exists too: never read or log it; on the implicit server it is the TLS options object, private key included.
}

export interface FtpSrvOptions {
  url: string;
  log: FtpSrvLog;
  /** Only for the implicit listener (`ftps://` url): options of `tls.createServer`. */
  tls?: TlsOptions;
}

export interface FtpSrvInstance extends EventEmitter {
  readonly server: Server;
  listen(): Promise<unknown>;
  close(): Promise<unknown>;
  on(event: 'connect', listener: (event: { connection: FtpConnection }) => void): this;
}

export interface StockCommandArgs {
  log: FtpSrvLog;
  command: { directive: string; arg: string | null; flags: string[]; raw: string };
}

/** A stock handler from ftp-srv's registry: runs with the connection as `this`. */
export interface StockCommand {
  handler(this: FtpConnection, args: StockCommandArgs): unknown;
}

const require = createRequire(import.meta.url);
const { FtpSrv } = require('ftp-srv') as { FtpSrv: new (options: FtpSrvOptions) => FtpSrvInstance };
const stockRegistry = require('ftp-srv/src/commands/registry') as Record<string, StockCommand>;

/**
 * The stock handlers that have no defect we know of and touch neither the filesystem, the data
 * connection nor TLS: they only set connection fields (TYPE, REST) or answer with a fixed reply.
 */
export const STOCK_COMMANDS = ['ALLO', 'MODE', 'NOOP', 'REST', 'STRU', 'SYST', 'TYPE'] as const;
export type StockVerb = (typeof STOCK_COMMANDS)[number];

export function stockCommand(verb: StockVerb): StockCommand {
  return stockRegistry[verb]!;
}

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;

/**
 * An ftp-srv listener without its process signal handlers: its constructor makes SIGTERM, SIGINT
 * and SIGQUIT call `process.exit(0)`, which a library must never do. The constructor is
 * synchronous, so the listeners it added are exactly the new ones.
 */
export function createFtpSrv(options: FtpSrvOptions): FtpSrvInstance {
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const server = new FtpSrv(options);
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return server;
}

/**
 * ftp-srv's chatter routed to our logger at debug level (everything that matters we log ourselves),
 * with its bunyan-order calls (`error('text', {obj})`, `info('text:', n)`) put in pino order.
 */
export function ftpSrvLog(logger: Logger): FtpSrvLog {
  const write = (...args: unknown[]): void => {
    const [first, second] = args;
    if (first instanceof Error) logger.debug({ err: first }, typeof second === 'string' ? second : undefined);
    else if (typeof first === 'string') logger.debug(typeof second === 'object' && second !== null ? second : second === undefined ? {} : { detail: second }, first);
    else logger.debug(typeof first === 'object' && first !== null ? first : {}, typeof second === 'string' ? second : undefined);
  };
  return {
    child: (bindings) => ftpSrvLog(logger.child(bindings)),
    trace: () => {}, // per command and per reply, PASS included: never logged
    debug: write,
    info: write,
    warn: write,
    error: write,
    fatal: write,
  };
}
