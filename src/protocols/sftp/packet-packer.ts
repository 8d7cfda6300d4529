/**
 * Packs an SFTP channel's outgoing messages into full-size SSH packets. ssh2 sends every SFTP reply
 * as its own CHANNEL_DATA, split at the client's maximum packet size (OpenSSH: 32 KiB): a 32 KiB
 * READ reply (32 KiB + 13 bytes of header) becomes a full packet and a 13-byte one, so a download
 * costs twice the packets (allocation, encryption, MAC) that OpenSSH's sshd sends for the same
 * bytes. Replies queued in one event-loop turn are joined and cut at the packet size instead.
 * The SSH window is unaffected: ssh2 has already charged every byte before handing it over.
 *
 * This wraps ssh2 internals of the pinned 1.17.0 (`SFTP#_protocol`, `SFTP#outgoing`); the SFTP
 * integration tests and the benchmark check every byte.
 */
import type { SFTPWrapper } from 'ssh2';

interface ProtocolLike {
  channelData(channel: number, data: Buffer): void;
  channelEOF(channel: number): void;
  channelClose(channel: number): void;
}
interface SftpInternals {
  _protocol: ProtocolLike;
  outgoing: { id: number; packetSize: number };
}

export function packChannelData(sftp: SFTPWrapper): void {
  const internals = sftp as unknown as SftpInternals;
  const protocol = internals._protocol;
  const channel = internals.outgoing.id;
  const packetSize = internals.outgoing.packetSize;
  // ssh2 copies the data into its own packet synchronously, so one assembly buffer serves forever.
  let packet: Buffer | undefined;
  let used = 0;
  let scheduled = false;

  const flush = (): void => {
    if (used === 0) return;
    protocol.channelData(channel, packet!.subarray(0, used));
    used = 0;
  };
  const push = (data: Buffer): void => {
    packet ??= Buffer.allocUnsafe(packetSize);
    for (let offset = 0; offset < data.length; ) {
      const n = Math.min(packetSize - used, data.length - offset);
      data.copy(packet, used, offset, offset + n);
      used += n;
      offset += n;
      if (used === packetSize) flush();
    }
    if (!scheduled && used > 0) {
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        flush();
      });
    }
  };

  internals._protocol = Object.create(protocol, {
    channelData: { value: (id: number, data: Buffer) => (id === channel ? push(data) : protocol.channelData(id, data)) },
    channelEOF: { value: (id: number) => (id === channel && flush(), protocol.channelEOF(id)) },
    channelClose: { value: (id: number) => (id === channel && flush(), protocol.channelClose(id)) },
  }) as ProtocolLike;
}
