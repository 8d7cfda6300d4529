/**
 * One SSH connection: tracks the negotiated algorithms (re-checked after every re-key), logs in
 * through the core, attaches to the session so that logging out ends the connection, and serves
 * only the `sftp` subsystem.
 */
import type { Socket } from 'node:net';
import type { Connection, NegotiatedAlgorithms, ServerChannel, Session as SshSession } from 'ssh2';
import { translate, type AdmissionTicket, type GatewayError, type GuardedFs, type Logger, type Session, type SshAlgorithms, type Transport } from '../../core/index.js';
import type { AdapterContext } from '../context.js';
import { sendAuthBanner } from './auth-banner.js';
import { SshAuthenticator } from './auth.js';
import type { ConnectionResources } from './handles.js';
import { serveSftpChannel } from './sftp-channel.js';

/** After a DISCONNECT the peer should close; a socket still open this much later is destroyed. */
const CLOSE_GRACE_MS = 500;
/** Session channels per connection (each may hold an SFTP channel with its open handles). */
const MAX_CHANNELS = 8;
/** File handles per connection that get read-ahead buffers (see ReadAhead). */
const READ_AHEAD_HANDLES = 4;
/** Directory handles keep names for later pages within this fraction of the connection's buffer budget. */
const DIRECTORY_WINDOW_SHARE = 4;

export interface SshConnectionOptions {
  /** The client's address (normalized; the one a PROXY header gave, if any). */
  remoteAddress: string;
  /** What the connection's SFTP channels may hold together. */
  resources: Omit<ConnectionResources, 'readAhead' | 'windows'>;
  /** The client's SSH software, e.g. "OpenSSH_9.2p1". */
  clientSoftware: string;
  /** The connection's admission ticket: told of the login (the deadline stops) and of SFTP activity. */
  ticket: Pick<AdmissionTicket, 'authenticated' | 'active' | 'lastActive'>;
}

export class SshConnection {
  private algorithms: SshAlgorithms | undefined;
  private session: Session | undefined;
  private detach: (() => void) | undefined;
  /** The session's storage, shared by the connection's SFTP channels. */
  private fs: GuardedFs | undefined;
  private closed = false;
  private channels = 0;
  private logger: Logger;
  private readonly opened = Date.now();
  private readonly resources: ConnectionResources;

  constructor(
    private readonly client: Connection,
    private readonly socket: Socket,
    private readonly context: AdapterContext,
    logger: Logger,
    private readonly options: SshConnectionOptions,
  ) {
    this.logger = logger;
    this.resources = {
      ...options.resources,
      readAhead: { used: 0, max: READ_AHEAD_HANDLES },
      windows: { used: 0, max: options.resources.budget.limit / DIRECTORY_WINDOW_SHARE },
    };
    // Without it Nagle delays the small STATUS replies and uploads crawl (libraries.md).
    // (ssh2 has the method; @types/ssh2 lacks it.)
    (client as Connection & { setNoDelay(noDelay: boolean): void }).setNoDelay(true);
    const remoteAddress = options.remoteAddress;
    const auth = new SshAuthenticator({
      sessions: context.sessions,
      remoteAddress,
      transport: () => this.transport(),
      showRefusal: (text) => sendAuthBanner(client, text),
      loggedIn: (session, abandoned) => this.loggedIn(session, abandoned),
      giveUp: () => this.end(),
    });
    client.on('handshake', (negotiated) => this.onHandshake(negotiated));
    client.on('authentication', (ctx) => auth.handle(ctx));
    client.on('session', (accept, reject) => {
      if (this.channels >= MAX_CHANNELS) return reject();
      this.channels++;
      const channel = accept();
      channel.once('close', () => this.channels--);
      this.onSession(channel);
    });
    client.on('error', (err: Error & { level?: string }) => {
      this.logger.info({ event: 'connection_error', level: err.level, error: err.message }, 'SSH connection error');
    });
    client.on('close', () => this.onClose());
  }

  /** Ends the connection: a DISCONNECT, then the socket is destroyed if the peer lingers. */
  end(reason?: GatewayError): void {
    if (this.closed) return;
    if (reason) this.logger.info({ event: 'connection_end', reason: reason.code }, 'ending SSH connection');
    this.client.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private transport(): Transport {
    if (!this.algorithms) throw new Error('authentication before key exchange'); // ssh2 never allows it
    return { kind: 'ssh', algorithms: this.algorithms };
  }

  private onHandshake(negotiated: NegotiatedAlgorithms): void {
    this.algorithms = negotiated;
    if (!this.session) return;
    try {
      this.context.sessions.recheckTransport(this.session, this.transport());
    } catch (err) {
      this.logger.warn({ event: 'rekey_refused', ssh: negotiated, reason: (err as GatewayError).code }, 'algorithms after re-key not allowed');
      this.end();
    }
  }

  /**
   * Hands a new session to the connection, which holds at most one: only to the attempt the client
   * still waits for, on a live connection, with the algorithms of the latest key exchange (a re-key
   * may have completed during the login). Any other session is deleted at once. Opens the session's
   * storage before the client hears "success": OpenSSH sends its SFTP INIT unasked.
   */
  private async loggedIn(session: Session, abandoned: () => boolean): Promise<boolean> {
    let fs: GuardedFs;
    try {
      fs = await this.context.openFs(session);
    } catch (err) {
      void this.context.sessions.delete(session.id);
      this.logger.error({ event: 'storage_failed', session: session.ref, err }, 'cannot open the session storage');
      throw err;
    }
    if (this.closed || this.session || abandoned()) {
      this.logger.info({ event: 'login_abandoned', session: session.ref }, 'login no longer awaited: session deleted');
      void this.context.sessions.delete(session.id);
      return false;
    }
    try {
      this.context.sessions.recheckTransport(session, this.transport());
    } catch (err) {
      void this.context.sessions.delete(session.id);
      throw err;
    }
    this.fs = fs;
    this.session = session;
    this.options.ticket.authenticated();
    this.logger = this.logger.child({ session: session.ref, username: session.username });
    this.detach = this.context.sessions.attach(session.id, { end: (reason) => this.end(reason), lastActivity: () => this.options.ticket.lastActive });
    return true;
  }

  private onSession(channel: SshSession): void {
    // Accepted at once: the client's first SFTP packet follows its subsystem request unasked.
    // The plain channel (no 'sftp' listener, so ssh2 builds no SFTP wrapper): our engine speaks SFTP.
    channel.on('subsystem', (accept, reject, info) => {
      if (info.name !== 'sftp') return reject();
      serveSftpChannel(accept(), {
        fs: this.fs!,
        socket: this.socket,
        resources: this.resources,
        logger: this.logger,
        // OpenSSH's client sends SYMLINK's arguments in the reverse of the draft's order.
        symlinkTargetFirst: /^OpenSSH/.test(this.options.clientSoftware),
        onInput: () => this.options.ticket.active(),
      });
    });
    const refuse = (accept: () => ServerChannel): void => {
      const stream = accept();
      stream.stderr.write(`${translate(this.session?.language, 'sftp_only')}\r\n`);
      stream.exit(1);
      stream.end();
    };
    channel.on('exec', (accept) => refuse(accept));
    channel.on('shell', (accept) => refuse(accept));
  }

  private onClose(): void {
    this.closed = true;
    this.detach?.();
    this.resources.budget.dispose();
    this.logger.info({ event: 'connection_close', duration_ms: Date.now() - this.opened }, 'SSH connection closed');
  }
}
