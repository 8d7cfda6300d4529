/** The protocol-neutral core: adapters import it from here and nowhere else. */
export { GatewayError, ERROR_CODES, fromErrno, type ErrorCode, type GatewayErrorOptions } from './errors.js';
export { LANGUAGES, matchLanguage, translate, type Language, type MessageKey, type MessageParams } from './messages.js';
export { Session, SESSION_FIELD_NAMES, sessionRef, type SessionFields, type SessionOrigin, type Protocol } from './session.js';
export {
  SessionManager,
  type ConnectionHandle,
  type LoginRequest,
  type SessionManagerOptions,
  type SessionManagerEvents,
  type SessionSummary,
  DEFAULT_SESSION_TTL_MS,
  type LoginOutcome,
} from './sessions.js';
export { MemoryStore } from './store/memory-store.js';
export { RedisStore, type RedisStoreOptions } from './store/redis-store.js';
export type { GatewayStore, SessionRecord } from './store/store.js';
export type { LockoutCounters, CounterRule, Reservation } from './store/counters.js';
export {
  JsonFileUserDirectory,
  StaticUserDirectory,
  UserConfigError,
  parseAuthorizedKey,
  parseUserRecords,
  readUserRecords,
  userRecordSchema,
  type AuthorizedKey,
  type UserDirectory,
  type UserRecord,
  type UserRecordInput,
} from './users.js';
export { diffUsers, type UserChanges } from './user-changes.js';
export { hashPassword, verifyPassword } from './passwords.js';
export { PasswordCache, DEFAULT_PASSWORD_CACHE, type PasswordCacheConfig, type PasswordVerifier } from './password-cache.js';
export { readJsonFile } from './json-file.js';
export { TotpVerifier, type Clock } from './totp.js';
export { LoginThrottle, DEFAULT_LOCKOUT, type LockoutConfig, type Lock, type LoginAttempt } from './throttle.js';
export { normalizeSource, sourceKey } from './source-address.js';
export { trustList } from './trusted-proxies.js';
export { Admission, type AdmissionEvents, type AdmissionLimits, type AdmissionTicket, type Admitted } from './admission.js';
export {
  INSECURE_SSH_OFFER,
  allowed2faMethods,
  checkDataProtection,
  checkTransport,
  firstInsecureSshAlgorithm,
  isInsecureSshAlgorithm,
  isWeakTlsVersion,
  type SshAlgorithms,
  type Transport,
} from './policy.js';
export { silentLogger, type Logger } from './logger.js';
export { GuardedFs, GuardedFile, type FsObserver, type AttributeChange, type FileInfo, type OpenMode, type ReadOptions, type StorageStats, type WriteOptions } from './fs/guarded-fs.js';
export type { DirectoryPages } from './fs/directory-pages.js';
export type { AtomicUpload } from './fs/atomic-upload.js';
export { assertJailSupported, hasControlCharacter, normalizeVirtualPath } from './fs/jail.js';
export { LfToCrlf, CrlfDecoder } from './fs/line-endings.js';
export { sendStream } from './fs/file-read-stream.js';
