/**
 * The FTP/FTPS adapter: ftp-srv listeners (plain with AUTH TLS, and implicit FTPS when
 * `implicitTlsPort` is set) whose connections we drive with our own command handlers, logging in
 * through the core and reaching storage only through the session's GuardedFs.
 */
import type { AddressInfo } from 'node:net';
import type { FtpConfig } from '../../config.js';
import { loadOrCreateTlsMaterial } from '../../crypto/tls-cert.js';
import type { AdapterContext, RunningServer } from '../context.js';
import { FtpControl, type FtpServices } from './control.js';
import { createFtpSrv, ftpSrvLog, type FtpSrvInstance } from './ftp-srv.js';
import { ConnectionLimits } from './limits.js';
import { PassivePorts } from './passive.js';
import { createFtpTls } from './tls.js';

export async function startFtpServer(context: AdapterContext, config: FtpConfig): Promise<RunningServer> {
  const material = await loadOrCreateTlsMaterial(config.tls, context.config.certsDir);
  const logger = context.logger.child({ component: 'ftp' });
  const services: FtpServices = {
    context,
    config,
    tls: createFtpTls(material, context.config.insecure.tlsVersions),
    ports: new PassivePorts(config.host, config.passivePorts),
    logger,
  };
  const limits = new ConnectionLimits(config.maxConnections, config.maxConnectionsPerSource);
  const listeners: FtpSrvInstance[] = [];
  const close = async (): Promise<void> => {
    await Promise.allSettled(listeners.splice(0).map((listener) => listener.close()));
  };

  const listen = async (port: number, implicitTls: boolean): Promise<AddressInfo> => {
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const listener = createFtpSrv({
      url: `${implicitTls ? 'ftps' : 'ftp'}://${host}:${port}`,
      log: ftpSrvLog(logger),
      ...(implicitTls ? { tls: services.tls.serverOptions } : {}),
    });
    listener.on('connect', ({ connection }) => {
      const socket = connection.commandSocket;
      if (limits.admit(socket)) {
        new FtpControl(services, connection, implicitTls);
        return;
      }
      logger.warn({ event: 'ftp-connection-refused', remote: socket.remoteAddress }, 'connection limit reached');
      socket.removeAllListeners('data'); // ftp-srv's own command reader must never run
      socket.end('421 Too many connections; try again later.\r\n', () => socket.destroy());
    });
    listeners.push(listener);
    await listener.listen();
    return listener.server.address() as AddressInfo;
  };

  try {
    const ftp = await listen(config.port, false);
    const ftps = config.implicitTlsPort === undefined ? undefined : await listen(config.implicitTlsPort, true);
    return { addresses: ftps ? { ftp, ftps } : { ftp }, close };
  } catch (err) {
    await close();
    throw err;
  }
}
