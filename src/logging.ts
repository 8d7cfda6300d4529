/** pino with every secret redacted: passwords, codes, session ids, login tokens, keys. */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

const SECRET_KEYS = [
  'password',
  'password_hash',
  'otp',
  'code',
  'totp_secret',
  'partial_session_id',
  'session_id',
  'sessionId',
  'login_token',
  'authorization',
  'x-filesapi-auth',
  'privateKey',
  'key',
  'cert',
  'passphrase',
  'secure',
];

export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export function createLogger(level = 'info', destination?: DestinationStream): PinoLogger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { name: 'filegate' } }, destination);
}
