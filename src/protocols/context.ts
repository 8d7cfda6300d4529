/** What the gateway hands every adapter: the core, the storage root and a logger. Types only. */
import type { AddressInfo } from 'node:net';
import type { GatewayConfig } from '../config.js';
import type { GuardedFs, Logger, Session, SessionManager } from '../core/index.js';

export interface AdapterContext {
  sessions: SessionManager;
  config: GatewayConfig;
  logger: Logger;
  /** The guarded filesystem of a session: the only way an adapter touches storage. */
  openFs(session: Session): Promise<GuardedFs>;
}

/** A started listener (or group of listeners) of one protocol. */
export interface RunningServer {
  /** Bound addresses by name: `sftp`, `ftp`, `ftps` (implicit), `http`. */
  readonly addresses: Record<string, AddressInfo>;
  /** Stops listening and ends every connection. */
  close(): Promise<void>;
  /**
   * Takes up what a reload may change for this listener (the FTPS certificate and key) for new
   * connections; throws, changing nothing, when the new material is unusable.
   */
  reload?(config: GatewayConfig): Promise<void>;
}
