/**
 * The one error type the core throws. Adapters turn `code` into a protocol reply through
 * `protocols/error-map.ts`; the text a client sees comes from the message catalog, never from
 * `message` (which is for logs and may hold real paths or causes).
 */
import type { MessageKey, MessageParams } from './messages.js';

export const ERROR_CODES = [
  'NOT_FOUND',
  'PERMISSION_DENIED',
  'ALREADY_EXISTS',
  'NOT_EMPTY',
  'NOT_A_DIRECTORY',
  'IS_A_DIRECTORY',
  'BAD_PATH',
  'UNSUPPORTED',
  'NO_SPACE',
  'TRANSFER_ABORTED',
  'AUTH_FAILED',
  'CODE_REQUIRED',
  'CODE_INCORRECT',
  'PARTIAL_SESSION_INVALID',
  'LOCKED_OUT',
  'RATE_LIMITED',
  'SETUP_2FA_REQUIRED',
  'TLS_REQUIRED',
  'PROTECTION_REQUIRED',
  'WEAK_CRYPTO',
  'SESSION_ENDED',
  'SHUTTING_DOWN',
  'UNAVAILABLE',
  'INTERNAL',
  'LIMIT_REACHED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface GatewayErrorOptions {
  /** Catalog key of the text a client may see; defaults to the code's own key. */
  text?: MessageKey;
  params?: MessageParams;
  /** Extra, client-safe data (e.g. partial_session_id, allowed 2FA methods). */
  data?: Record<string, unknown>;
  cause?: unknown;
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly text: MessageKey | undefined;
  readonly params: MessageParams;
  readonly data: Record<string, unknown>;
  /**
   * The language a client should read this in, when the core knows it: the login request's choice,
   * else (once the credentials checked out) the user's own. Adapters' explicit choice comes first.
   */
  language: string | undefined;

  constructor(code: ErrorCode, message?: string, options: GatewayErrorOptions = {}) {
    super(message ?? code, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.text = options.text;
    this.params = options.params ?? {};
    this.data = options.data ?? {};
  }
}

const ERRNO_CODES: Record<string, ErrorCode> = {
  ENOENT: 'NOT_FOUND',
  EACCES: 'PERMISSION_DENIED',
  EPERM: 'PERMISSION_DENIED',
  EROFS: 'PERMISSION_DENIED',
  EEXIST: 'ALREADY_EXISTS',
  ENOTEMPTY: 'NOT_EMPTY',
  ENOTDIR: 'NOT_A_DIRECTORY',
  EISDIR: 'IS_A_DIRECTORY',
  ELOOP: 'NOT_FOUND',
  ENAMETOOLONG: 'BAD_PATH',
  ENOSPC: 'NO_SPACE',
  EDQUOT: 'NO_SPACE',
  EPIPE: 'TRANSFER_ABORTED',
  ECONNRESET: 'TRANSFER_ABORTED',
  ERR_STREAM_PREMATURE_CLOSE: 'TRANSFER_ABORTED',
};

/** Wraps anything thrown by node:fs (or elsewhere) in a GatewayError, keeping the cause for logs. */
export function fromErrno(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  const code = (errno && ERRNO_CODES[errno]) || 'INTERNAL';
  return new GatewayError(code, (err as Error | undefined)?.message ?? String(err), { cause: err });
}
