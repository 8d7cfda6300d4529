/**
 * THE table: every core error code -> its SFTP v3 status, FTP reply code, HTTP (Files.com) error and
 * the catalog text a client may read. A `Record<ErrorCode, …>`, so a new code does not compile until
 * it is mapped here. Adapters call `describeError` and nothing else to build an error reply.
 */
import { GatewayError, translate, type ErrorCode, type MessageKey } from '../core/index.js';

/** SFTP v3 status codes (draft-ietf-secsh-filexfer-02). */
export const SFTP_STATUS = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;
export type SftpStatus = (typeof SFTP_STATUS)[keyof typeof SFTP_STATUS];

export interface HttpError {
  status: number;
  type: string;
  title: string;
}

export interface ErrorReply {
  sftp: SftpStatus;
  ftp: number;
  /** The FTP reply when the refused command is a STOR (RFC 959: 553 for a file name not allowed). */
  ftpStore?: number;
  http: HttpError;
  text: MessageKey;
}

const S = SFTP_STATUS;
const http = (status: number, type: string, title: string): HttpError => ({ status, type, title });
const NOT_AUTHENTICATED = (type: string, title: string): HttpError => http(401, `not-authenticated/${type}`, title);

export const ERROR_MAP: Record<ErrorCode, ErrorReply> = {
  NOT_FOUND: { sftp: S.NO_SUCH_FILE, ftp: 550, http: http(404, 'not-found', 'Not Found'), text: 'not_found' },
  PERMISSION_DENIED: { sftp: S.PERMISSION_DENIED, ftp: 550, http: http(403, 'not-authorized/insufficient-permission', 'Insufficient Permission'), text: 'permission_denied' },
  ALREADY_EXISTS: { sftp: S.FAILURE, ftp: 550, http: http(409, 'processing-failure/destination-exists', 'Destination Exists'), text: 'already_exists' },
  NOT_EMPTY: { sftp: S.FAILURE, ftp: 550, http: http(409, 'processing-failure/folder-not-empty', 'Folder Not Empty'), text: 'not_empty' },
  NOT_A_DIRECTORY: { sftp: S.FAILURE, ftp: 550, http: http(400, 'bad-request/not-a-folder', 'Not A Folder'), text: 'not_a_directory' },
  IS_A_DIRECTORY: { sftp: S.FAILURE, ftp: 550, http: http(400, 'bad-request/is-a-folder', 'Is A Folder'), text: 'is_a_directory' },
  BAD_PATH: { sftp: S.BAD_MESSAGE, ftp: 501, ftpStore: 553, http: http(400, 'bad-request/invalid-path', 'Invalid Path'), text: 'bad_path' },
  // Core UNSUPPORTED is a file operation refused for this session/mode (e.g. SIZE in ASCII): FTP 550.
  UNSUPPORTED: { sftp: S.OP_UNSUPPORTED, ftp: 550, http: http(400, 'bad-request/unsupported-operation', 'Unsupported Operation'), text: 'unsupported' },
  NO_SPACE: { sftp: S.FAILURE, ftp: 452, http: http(507, 'processing-failure/insufficient-storage', 'Insufficient Storage'), text: 'no_space' },
  TRANSFER_ABORTED: { sftp: S.CONNECTION_LOST, ftp: 426, http: http(400, 'processing-failure/transfer-aborted', 'Transfer Aborted'), text: 'transfer_aborted' },
  AUTH_FAILED: { sftp: S.PERMISSION_DENIED, ftp: 530, http: NOT_AUTHENTICATED('invalid-username-or-password', 'Invalid Username Or Password'), text: 'auth_failed' },
  CODE_REQUIRED: { sftp: S.PERMISSION_DENIED, ftp: 530, http: NOT_AUTHENTICATED('two-factor-authentication-error', 'Two Factor Authentication Error'), text: 'code_required' },
  CODE_INCORRECT: { sftp: S.PERMISSION_DENIED, ftp: 530, http: NOT_AUTHENTICATED('one-time-password-incorrect', 'One-Time Password Incorrect'), text: 'code_incorrect' },
  PARTIAL_SESSION_INVALID: { sftp: S.PERMISSION_DENIED, ftp: 530, http: NOT_AUTHENTICATED('two-factor-authentication-setup-expired', 'Two Factor Authentication Setup Expired'), text: 'partial_session_invalid' },
  LOCKED_OUT: { sftp: S.PERMISSION_DENIED, ftp: 530, http: NOT_AUTHENTICATED('locked-out', 'Locked Out'), text: 'locked_out' },
  RATE_LIMITED: { sftp: S.PERMISSION_DENIED, ftp: 530, http: http(429, 'rate-limited/too-many-login-attempts', 'Too Many Login Attempts'), text: 'rate_limited' },
  SETUP_2FA_REQUIRED: { sftp: S.PERMISSION_DENIED, ftp: 530, http: http(401, 'not-authorized/two-factor-authentication-required', 'Two Factor Authentication Required'), text: 'setup_2fa_required' },
  TLS_REQUIRED: { sftp: S.PERMISSION_DENIED, ftp: 530, http: http(403, 'not-authorized/ssl-required', 'SSL Required'), text: 'tls_required' },
  PROTECTION_REQUIRED: { sftp: S.PERMISSION_DENIED, ftp: 521, http: http(403, 'not-authorized/ssl-required', 'SSL Required'), text: 'protected_data_required' },
  WEAK_CRYPTO: { sftp: S.PERMISSION_DENIED, ftp: 530, http: http(403, 'not-authorized/insecure-protocol', 'Insecure Protocol'), text: 'permission_denied' },
  SESSION_ENDED: { sftp: S.CONNECTION_LOST, ftp: 421, http: NOT_AUTHENTICATED('invalid-session', 'Invalid Session'), text: 'session_ended' },
  SHUTTING_DOWN: { sftp: S.CONNECTION_LOST, ftp: 421, http: http(503, 'service-unavailable', 'Service Unavailable'), text: 'shutting_down' },
  // The shared session store is unreachable: logins fail closed until it returns.
  UNAVAILABLE: { sftp: S.FAILURE, ftp: 421, http: http(503, 'service-unavailable', 'Service Unavailable'), text: 'unavailable' },
  INTERNAL: { sftp: S.FAILURE, ftp: 451, http: http(500, 'internal-server-error', 'Internal Server Error'), text: 'internal' },
  // A per-connection resource limit (open handles): the client may retry after closing something.
  LIMIT_REACHED: { sftp: S.FAILURE, ftp: 451, http: http(429, 'rate-limited/too-many-requests', 'Too Many Requests'), text: 'limit_reached' },
};

export interface DescribedError extends ErrorReply {
  code: ErrorCode;
  /** Client-safe text in the requested language: never the internal message. */
  message: string;
  /** Client-safe extra data (partial_session_id, allowed methods, retry_at). */
  data: Record<string, unknown>;
}

/**
 * Everything an adapter needs to answer `err` in `language` (else the language the core attached to
 * the error, else English). Unknown errors become INTERNAL.
 */
export function describeError(err: unknown, language?: string): DescribedError {
  const error = err instanceof GatewayError ? err : new GatewayError('INTERNAL', String(err), { cause: err });
  const reply = ERROR_MAP[error.code];
  return {
    ...reply,
    code: error.code,
    message: translate(language ?? error.language, error.text ?? reply.text, error.params),
    data: error.data,
  };
}
