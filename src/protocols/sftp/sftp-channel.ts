/**
 * The `sftp` subsystem over ssh2's plain session channel (no SFTP wrapper): the channel's bytes go
 * to our engine, its replies come back through the channel's public stream API. Holding the client
 * back is pausing the stream (ssh2 then stops opening the SSH window); a reply counts as sent once
 * the channel has taken it (the window had room) and the socket under it is not backed up.
 */
import type { Socket } from 'node:net';
import type { ServerChannel } from 'ssh2';
import type { GuardedFs, Logger } from '../../core/index.js';
import { SftpEngine } from './engine.js';
import type { ConnectionResources } from './handles.js';

/**
 * Input a paused channel may hold before the client counts as ignoring its window: ssh2 accepts
 * up to its 2 MiB window past the 2 MiB the paused stream buffers.
 */
const MAX_HELD_INPUT = 6 * 1024 * 1024;
/** How often a paused channel checks for such a client (no event tells). */
const OVERRUN_CHECK_MS = 20;
/** Encrypted bytes the socket may queue before replies stop counting as sent. */
const SOCKET_BACKLOG = 1024 * 1024;

export interface SftpChannelOptions {
  fs: GuardedFs;
  socket: Socket;
  resources: ConnectionResources;
  logger: Logger;
  symlinkTargetFirst: boolean;
  /** Called per chunk of SFTP input: the session's activity (SSH keepalives do not count). */
  onInput(): void;
}

export function serveSftpChannel(channel: ServerChannel, options: SftpChannelOptions): void {
  const { socket, logger } = options;
  let overrunCheck: NodeJS.Timeout | undefined;
  const waitingForSocket: (() => void)[] = [];
  const socketDrained = (): void => {
    for (const sent of waitingForSocket.splice(0)) sent();
  };
  const afterSocket = (sent: () => void): void => {
    if (socket.writableLength <= SOCKET_BACKLOG) return sent();
    if (waitingForSocket.length === 0) socket.once('drain', socketDrained);
    waitingForSocket.push(sent);
  };
  const stopOverrunCheck = (): void => {
    clearInterval(overrunCheck);
    overrunCheck = undefined;
  };

  const engine: SftpEngine = new SftpEngine({
    fs: options.fs,
    resources: options.resources,
    logger,
    symlinkTargetFirst: options.symlinkTargetFirst,
    sink: {
      write(packet, sent) {
        if (!channel.writable) return;
        channel.write(packet, () => afterSocket(sent));
      },
      pauseInput() {
        channel.pause();
        overrunCheck ??= setInterval(() => {
          if (channel.readableLength + engine.bufferedInput <= MAX_HELD_INPUT) return;
          logger.warn({ event: 'sftp_window_overrun' }, 'SFTP client sent past its window: channel closed');
          stopOverrunCheck();
          engine.close();
          channel.destroy();
        }, OVERRUN_CHECK_MS).unref();
      },
      resumeInput() {
        stopOverrunCheck();
        channel.resume();
      },
      end() {
        if (!channel.writable) return;
        channel.exit(0); // like sftp-server exiting: scp reports failure without an exit status
        channel.end();
      },
      close() {
        stopOverrunCheck();
        channel.destroy();
      },
    },
  });
  channel.on('data', (chunk: Buffer) => {
    options.onInput();
    engine.receive(chunk);
  });
  // OpenSSH's client waits for our side to close before it exits.
  channel.on('end', () => engine.inputEnded());
  channel.on('close', () => {
    stopOverrunCheck();
    socket.off('drain', socketDrained);
    engine.close();
  });
}
