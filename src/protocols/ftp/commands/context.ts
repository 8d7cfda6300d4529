/**
 * What a command handler sees of its control connection: the connection's state and the few
 * effects a command may have. Handlers never see the socket or the control connection's internals,
 * and this module imports nothing of the control connection (no import circle).
 */
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { FtpConfig } from '../../../config.js';
import type { GuardedFs, Language, Session } from '../../../core/index.js';
import type { DataChannel, DirectReceiver } from '../data-channel.js';

export interface FtpCommandContext {
  readonly config: FtpConfig;
  /** Set by USER, consumed by PASS. */
  username: string | undefined;
  readonly session: Session | undefined;
  /** The session's guarded filesystem (commands that need a login run only after one). */
  readonly files: GuardedFs;
  /** Virtual path of the working directory. */
  cwd: string;
  /** Chosen with LANG (RFC 2640). */
  language: Language | undefined;
  /** The language of replies a person reads. */
  readonly lang: string | undefined;
  /** TYPE A. */
  ascii: boolean;
  /** PROT P: data connections run TLS. */
  dataProtected: boolean;
  /** Negotiated TLS version of the control connection; null while it is plain. */
  readonly tlsVersion: string | null;
  /** Whether this session may write (MLSx `perm` facts say so); the core decides. */
  readonly mayWrite: boolean;
  readonly data: DataChannel;
  /** The address the client reached us on (PASV names it). */
  readonly localAddress: string;

  reply(code: number, ...lines: string[]): void;
  /** A client path as a virtual path against the working directory. */
  path(arg: string): string;
  /** REST: the offset of the next transfer. */
  setRestOffset(offset: number): void;
  /** The REST offset for this transfer; it applies to one transfer only, and only if no other command came between (the data-connection set-up aside). */
  takeRestOffset(): number;
  rememberRename(virtualPath: string): void;
  /** The RNFR path, only if RNFR was the command right before this one. */
  takeRename(): string | undefined;
  login(username: string, password: string): Promise<void>;
  /** AUTH TLS: answers 234 and upgrades the control connection. */
  startTls(): Promise<void>;
  /** Runs one transfer on the data channel, then answers 226. */
  transferData(resource: Readable | Writable, opening: string, move: (data: Socket) => Promise<void>, receiver?: DirectReceiver): Promise<void>;
  /** Resolves true if the control connection is still open after `ms`, false as soon as it closes. */
  survives(ms: number): Promise<boolean>;
  /** Ends the control connection after the replies already written. */
  close(): void;
}

export interface FtpCommand {
  run(context: FtpCommandContext, arg: string): Promise<void> | void;
  /** Allowed before login (USER, PASS, AUTH, FEAT, ...). */
  beforeLogin?: boolean;
  /** Leaves a REST offset for the transfer that follows (REST itself and the data-connection set-up). */
  keepsRestOffset?: boolean;
}

export type CommandTable = Readonly<Record<string, FtpCommand>>;
