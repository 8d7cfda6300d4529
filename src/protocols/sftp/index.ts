/**
 * The SFTP listener: ssh2 for the SSH transport and authentication, our own TCP server in front of
 * it for connection limits (total and per source address), the login deadline (counted from accept,
 * whatever the client sends) and the idle timeout (SFTP requests are activity; SSH keepalives are
 * not), all kept by the core's Admission; our own engine speaks SFTP. Host keys come from the config or are
 * generated into certsDir once; the legacy algorithms are offered (last) only when
 * `insecure.sshCiphers` is on, and the core decides per user whether a login may use them.
 */
import net, { type AddressInfo, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { Algorithms } from 'ssh2';
import type { SftpConfig } from '../../config.js';
import { Admission, INSECURE_SSH_OFFER, type AdmissionTicket, type Logger } from '../../core/index.js';
import { loadOrCreateHostKeys } from '../../crypto/host-keys.js';
import type { AdapterContext, RunningServer } from '../context.js';
import { proxyPolicy, readClientAddress } from '../proxy-protocol.js';
import { checkAuthBannerSupport } from './auth-banner.js';
import { ByteBudget } from './budget.js';
import { SshConnection } from './connection.js';

/** How long close() waits for connections to end before destroying their sockets. */
const CLOSE_WAIT_MS = 2000;

export async function startSftpServer(context: AdapterContext, config: SftpConfig): Promise<RunningServer> {
  checkAuthBannerSupport();
  const hostKeys = await loadOrCreateHostKeys(config.hostKeys, context.config.certsDir);
  const logger = context.logger.child({ component: 'sftp' });
  const ssh = new ssh2.Server({
    hostKeys,
    ident: 'filegate',
    algorithms: context.config.insecure.sshCiphers ? INSECURE_OFFER : undefined,
    ...(config.banner === undefined ? {} : { banner: config.banner }),
  });

  const sockets = new Set<Socket>();
  /** Accepted sockets whose SSH client ssh2 has not announced yet, by "address|port". */
  const awaitingClient = new Map<string, { socket: Socket; ticket: AdmissionTicket }>();
  const connections = new Map<Socket, SshConnection>();
  const key = (address: string | undefined, port: number | undefined): string => `${address}|${port}`;
  const admission = new Admission(
    {
      maxConnections: config.maxConnections,
      maxConnectionsPerSource: config.maxConnectionsPerSource,
      loginTimeoutMs: config.loginTimeoutSeconds * 1000,
      idleTimeoutMs: config.idleTimeoutSeconds * 1000,
    },
    { logger },
  );
  const buffered = new ByteBudget(config.maxBufferedBytesTotal);

  /**
   * The one place a connection is accepted: the client address (a PROXY header's, when one is
   * allowed), then the connection caps and the login deadline (which holds whatever the client
   * sends, handshake included), then ssh2 takes the socket.
   */
  const proxy = proxyPolicy(config.proxyProtocol, context.config.trustedProxies);
  const accept = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    readClientAddress(socket, proxy).then(
      (client) => admit(socket, client.remoteAddress),
      (err: Error) => {
        logger.warn({ event: 'proxy_header_refused', peer: socket.remoteAddress, reason: err.message }, 'SFTP connection closed: PROXY header');
        socket.destroy();
      },
    );
  };
  const admit = (socket: Socket, remote: string): void => {
    const admitted = admission.admit(remote, {
      loginDeadline: () => socket.destroy(),
      idle: () => {
        const connection = connections.get(socket);
        if (connection) connection.end();
        else socket.destroy();
      },
    });
    if (!admitted.ok) {
      socket.destroy();
      return;
    }
    const { ticket } = admitted;
    const id = key(socket.remoteAddress, socket.remotePort);
    awaitingClient.set(id, { socket, ticket });
    socket.once('close', () => {
      ticket.release();
      awaitingClient.delete(id);
      connections.delete(socket);
    });
    ssh.injectSocket(socket);
  };
  const listener = net.createServer(accept);

  ssh.on('connection', (client, info) => {
    const id = key(info.ip, info.port);
    const accepted = awaitingClient.get(id);
    if (!accepted) return void client.end();
    awaitingClient.delete(id);
    const { socket, ticket } = accepted;
    const connectionLogger = logger.child({ remote: ticket.source, port: info.port });
    connectionLogger.info({ event: 'connection_open', client: info.header.versions.software }, 'SFTP connection opened');
    connections.set(
      socket,
      new SshConnection(client, socket, context, connectionLogger, {
        remoteAddress: ticket.source,
        resources: { handles: { used: 0, max: config.maxHandles }, budget: buffered.child(config.maxBufferedBytes) },
        clientSoftware: info.header.versions.software,
        ticket,
      }),
    );
  });

  await listen(listener, config.port, config.host);
  // After start-up (e.g. EMFILE on accept): keep serving the connections we have.
  listener.on('error', (err) => logger.error({ event: 'listener_error', err }, 'SFTP listener error'));
  const address = listener.address() as AddressInfo;

  return {
    addresses: { sftp: address },
    close: () => closeAll(listener, sockets, connections, logger),
  };
}

/** Legacy algorithms, appended after ssh2's defaults so that no modern client ever picks them. */
const appended = <T>(names: readonly T[]): { append: T[]; prepend: T[]; remove: T[] } => ({ append: [...names], prepend: [], remove: [] });
const INSECURE_OFFER: Algorithms = {
  cipher: appended(INSECURE_SSH_OFFER.cipher),
  hmac: appended(INSECURE_SSH_OFFER.mac),
  kex: appended(INSECURE_SSH_OFFER.kex),
};

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stops listening, ends every connection with a DISCONNECT and waits (bounded) for the sockets. */
async function closeAll(listener: net.Server, sockets: Set<Socket>, connections: Map<Socket, SshConnection>, logger: Logger): Promise<void> {
  const stopped = new Promise<void>((resolve) => listener.close(() => resolve()));
  for (const socket of sockets) {
    const connection = connections.get(socket);
    if (connection) connection.end();
    else socket.destroy();
  }
  const deadline = Date.now() + CLOSE_WAIT_MS;
  while (sockets.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  if (sockets.size > 0) logger.warn({ event: 'close_forced', sockets: sockets.size }, 'destroying lingering SFTP sockets');
  for (const socket of sockets) socket.destroy();
  await stopped;
}
