/** filegate's public surface: re-exports only. */
export { createGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { loadConfigFile, parseConfig, ConfigError, type GatewayConfig, type GatewayConfigInput } from './config.js';
export { createLogger } from './logging.js';
export * from './core/index.js';
