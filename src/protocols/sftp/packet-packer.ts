/**
 * The outgoing side of one SFTP channel, packed into full-size SSH packets. ssh2 sends every SFTP
 * reply as its own CHANNEL_DATA, split at the client's maximum packet size (OpenSSH: 32 KiB): a
 * 32 KiB READ reply (32 KiB + 13 bytes of header) becomes a full packet and a 13-byte one, so a
 * download costs twice the packets (allocation, encryption, MAC) that OpenSSH's sshd sends for the
 * same bytes. Replies queued in one event-loop turn are joined and cut at the packet size instead.
 * DATA replies are also written straight into the packet being filled, without ssh2's intermediate
 * copy of every READ.
 *
 * This wraps ssh2 internals of the pinned 1.17.0 (`SFTP#_protocol`, `#outgoing`, `#_buffer`); the
 * SFTP integration tests and the benchmark check every byte.
 */
import type { SFTPWrapper } from 'ssh2';

interface ProtocolLike {
  channelData(channel: number, data: Buffer): void;
  channelEOF(channel: number): void;
  channelClose(channel: number): void;
}
interface SftpInternals {
  _protocol: ProtocolLike;
  /** Replies ssh2 holds back while the client's window is exhausted. */
  _buffer: unknown[];
  outgoing: { id: number; packetSize: number; window: number; state: string };
}

const SSH_FXP_DATA = 103;
const DATA_HEADER = 4 + 1 + 4 + 4; // length, type, request id, data length

export class PacketPacker {
  private readonly internals: SftpInternals;
  private readonly protocol: ProtocolLike;
  /** ssh2 copies the data into its own packet synchronously, so one assembly buffer serves forever. */
  private readonly packet: Buffer;
  private used = 0;
  private flushScheduled = false;
  private readonly header = Buffer.allocUnsafe(DATA_HEADER);

  constructor(private readonly sftp: SFTPWrapper) {
    this.internals = sftp as unknown as SftpInternals;
    const protocol = this.internals._protocol;
    const channel = this.internals.outgoing.id;
    this.protocol = protocol;
    this.packet = Buffer.allocUnsafe(this.internals.outgoing.packetSize);
    this.internals._protocol = Object.create(protocol, {
      channelData: { value: (id: number, data: Buffer) => (id === channel ? this.push(data) : protocol.channelData(id, data)) },
      channelEOF: { value: (id: number) => (id === channel && this.flush(), protocol.channelEOF(id)) },
      channelClose: { value: (id: number) => (id === channel && this.flush(), protocol.channelClose(id)) },
    }) as ProtocolLike;
  }

  /** An SSH_FXP_DATA reply. Goes through ssh2 (which copies it) only when the window is short. */
  data(reqid: number, data: Buffer): void {
    const outgoing = this.internals.outgoing;
    const length = DATA_HEADER + data.length;
    // Staying above zero leaves ssh2's own wait-for-window state untouched.
    if (outgoing.state !== 'open' || this.internals._buffer.length > 0 || outgoing.window <= length) {
      this.sftp.data(reqid, data);
      return;
    }
    outgoing.window -= length;
    const header = this.header;
    header.writeUInt32BE(length - 4, 0);
    header[4] = SSH_FXP_DATA;
    header.writeUInt32BE(reqid, 5);
    header.writeUInt32BE(data.length, 9);
    this.push(header);
    this.push(data);
  }

  private push(data: Buffer): void {
    const size = this.packet.length;
    for (let offset = 0; offset < data.length; ) {
      const n = Math.min(size - this.used, data.length - offset);
      data.copy(this.packet, this.used, offset, offset + n);
      this.used += n;
      offset += n;
      if (this.used === size) this.flush();
    }
    if (!this.flushScheduled && this.used > 0) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    if (this.used === 0) return;
    this.protocol.channelData(this.internals.outgoing.id, this.packet.subarray(0, this.used));
    this.used = 0;
  }
}
