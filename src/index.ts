/**
 * filegate's public surface for embedders: the gateway, its config, and the core types a daemon
 * touches. The whole protocol-neutral core (for writing another adapter) is `filegate/core`.
 */
export { createGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { loadConfigFile, parseConfig, ConfigError, type GatewayConfig, type GatewayConfigInput } from './config.js';
export { createLogger } from './logging.js';
export {
  GatewayError,
  ERROR_CODES,
  type ErrorCode,
  Session,
  SESSION_FIELD_NAMES,
  type SessionFields,
  type Protocol,
  type SessionSummary,
  MemoryStore,
  RedisStore,
  type RedisStoreOptions,
  type GatewayStore,
  JsonFileUserDirectory,
  StaticUserDirectory,
  UserConfigError,
  userRecordSchema,
  type UserDirectory,
  type UserRecord,
  type UserRecordInput,
  hashPassword,
  verifyPassword,
  type Logger,
} from './core/index.js';
