/**
 * The FTP/FTPS adapter: our own listeners (plain with AUTH TLS, and implicit FTPS when
 * `implicitTlsPort` is set), one accept path for both, and a control connection per socket that
 * logs in through the core and reaches storage only through the session's GuardedFs.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { FtpConfig, GatewayConfig } from '../../config.js';
import { Admission, type Logger } from '../../core/index.js';
import { loadOrCreateTlsMaterial, type TlsMaterial } from '../../crypto/tls-cert.js';
import type { AdapterContext, RunningServer } from '../context.js';
import { proxyPolicy, readClientAddress } from '../proxy-protocol.js';
import { SocketWire } from './control-socket.js';
import { FtpControl, type FtpServices } from './control.js';
import { PassivePorts } from './passive.js';
import { acceptTls, createFtpTls, type FtpTls } from './tls.js';
import { socketReadBufferSupported } from '../socket-read-buffer.js';

export async function startFtpServer(context: AdapterContext, config: FtpConfig): Promise<RunningServer> {
  const makeTls = (material: TlsMaterial): FtpTls => createFtpTls(material, context.config.insecure.tlsVersions, config.requireTlsSessionReuse);
  const material = await loadOrCreateTlsMaterial(config.tls, context.config.certsDir);
  const logger = context.logger.child({ component: 'ftp' });
  if (!socketReadBufferSupported) {
    logger.warn({ node: process.versions.node }, 'plain FTP uploads read the usual way: the reused read buffer is written for Node 20 (docs/design.md)');
  }
  const services: FtpServices = {
    context,
    config,
    tls: makeTls(material),
    ports: new PassivePorts(config.host, config.passivePorts),
    logger,
  };
  const admission = new Admission(
    {
      maxConnections: config.maxConnections,
      maxConnectionsPerSource: config.maxConnectionsPerSource,
      loginTimeoutMs: config.loginTimeoutSeconds * 1000,
      idleTimeoutMs: config.idleTimeoutSeconds * 1000,
    },
    { logger },
  );
  const sockets = new Set<Socket>();
  const proxy = proxyPolicy(config.proxyProtocol, context.config.trustedProxies);
  const accept = (socket: Socket, implicitTls: boolean): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    readClientAddress(socket, proxy).then(
      (client) => acceptConnection(services, admission, socket, client.remoteAddress, implicitTls, logger),
      (err: Error) => {
        logger.warn({ event: 'proxy_header_refused', peer: socket.remoteAddress, reason: err.message }, 'FTP connection closed: PROXY header');
        socket.destroy();
      },
    );
  };

  const servers: Server[] = [];
  const listen = async (port: number, implicitTls: boolean): Promise<AddressInfo> => {
    const server = createServer({ noDelay: true }, (socket) => accept(socket, implicitTls));
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: config.host }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  };
  const close = async (): Promise<void> => {
    const closing = servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const socket of sockets) socket.destroy();
    await Promise.all(closing);
  };

  try {
    const ftp = await listen(config.port, false);
    const ftps = config.implicitTlsPort === undefined ? undefined : await listen(config.implicitTlsPort, true);
    // New connections take up a reloaded certificate; live ones keep theirs.
    const reload = async (next: GatewayConfig): Promise<void> => {
      const fresh = await loadOrCreateTlsMaterial(next.ftp?.tls, next.certsDir);
      services.tls = makeTls(fresh);
    };
    return { addresses: ftps ? { ftp, ftps } : { ftp }, close, reload };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The one accept path of both listeners: admission (connection caps and the login deadline count
 * from here, before any TLS handshake), the implicit FTPS handshake (bounded in time), then the
 * control connection.
 */
async function acceptConnection(services: FtpServices, admission: Admission, socket: Socket, remote: string, implicitTls: boolean, logger: Logger): Promise<void> {
  socket.on('error', (err) => logger.debug({ err }, 'control connection error'));
  let control: FtpControl | undefined;
  const admitted = admission.admit(remote, {
    loginDeadline: () => (control ? control.loginTimedOut() : socket.destroy()),
    idle: () => (control ? control.idleTimedOut() : socket.destroy()),
    busy: () => control?.transferProgressed() ?? false,
  });
  if (!admitted.ok) {
    if (implicitTls) socket.destroy(); // no TLS yet to say it in
    else socket.end('421 Too many connections; try again later.\r\n', () => socket.destroy());
    return;
  }
  const { ticket } = admitted;
  socket.once('close', () => ticket.release());
  const { config, tls } = services;
  const handshakeMs = config.tlsHandshakeTimeoutSeconds * 1000;
  let transport: Socket = socket;
  let tlsVersion: string | null = null;
  if (implicitTls) {
    try {
      const secure = await acceptTls(socket, tls.control, handshakeMs);
      transport = secure;
      tlsVersion = secure.getProtocol();
      secure.on('error', (err) => logger.debug({ err }, 'control connection TLS error'));
    } catch (err) {
      logger.debug({ err, remote }, 'implicit FTPS handshake failed');
      socket.destroy();
      return;
    }
  }
  const wire = new SocketWire(transport, { tlsVersion, tlsContext: tls.control, tlsHandshakeTimeoutMs: handshakeMs, remoteAddress: remote });
  control = new FtpControl(services, wire, ticket);
  wire.attach(control);
  control.greet();
}
