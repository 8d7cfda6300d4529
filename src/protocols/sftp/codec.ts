/**
 * The SFTP v3 wire format (draft-ietf-secsh-filexfer-02, plus the layouts of OpenSSH's extensions):
 * packet framing, a bounds-checked field reader and the reply encoders. No sockets, no filesystem.
 */
import { SFTP_STATUS } from '../error-map.js';

export const FXP = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

export const ATTR = { SIZE: 0x1, UIDGID: 0x2, PERMISSIONS: 0x4, ACMODTIME: 0x8, EXTENDED: 0x80000000 } as const;
export const OPEN_FLAG = { READ: 0x1, WRITE: 0x2, APPEND: 0x4, CREAT: 0x8, TRUNC: 0x10, EXCL: 0x20 } as const;

/** Largest packet (length field value) accepted or sent: OpenSSH's SFTP_MAX_MSG_LENGTH. */
export const MAX_PACKET = 256 * 1024;
/** Largest READ served and WRITE accepted (advertised by limits@openssh.com), as OpenSSH's server. */
export const MAX_IO = MAX_PACKET - 1024;
/** Bytes in front of a DATA reply's payload: length, type, id, data length. */
export const DATA_HEADER = 13;

/** ATTRS as the client sent them: only the fields its flags announced are present. */
export interface WireAttributes {
  size?: number;
  uid?: number;
  gid?: number;
  mode?: number;
  atime?: number;
  mtime?: number;
}

/** A packet whose fields do not fit its length: answered with SSH_FX_BAD_MESSAGE. */
export class MalformedPacket extends Error {}
/** A length prefix past MAX_PACKET: the stream can no longer be split into packets. */
export class FramingLost extends Error {}

/**
 * Splits the channel's byte stream into packets. A packet inside one received chunk is returned as a
 * view of it (no copy); one spanning chunks is joined once.
 */
export class Framer {
  private chunks: Buffer[] = [];
  private head = 0;
  private bytes = 0;

  /** Bytes received and not yet returned as packets. */
  get buffered(): number {
    return this.bytes;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  /** The next whole packet's payload (type byte onwards), or undefined until it has arrived. */
  next(): Buffer | undefined {
    if (this.bytes < 4) return undefined;
    const length = this.peekLength();
    if (length > MAX_PACKET) throw new FramingLost(`packet length ${length} over ${MAX_PACKET}`);
    if (this.bytes < 4 + length) return undefined;
    this.skip(4);
    return this.take(length);
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.bytes = 0;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length - this.head >= 4) return first.readUInt32BE(this.head);
    const header = Buffer.allocUnsafe(4);
    this.copyOut(header, 4);
    return header.readUInt32BE(0);
  }

  private skip(n: number): void {
    while (n > 0) {
      const first = this.chunks[0]!;
      const available = first.length - this.head;
      if (available > n) {
        this.head += n;
        this.bytes -= n;
        return;
      }
      n -= available;
      this.bytes -= available;
      this.chunks.shift();
      this.head = 0;
    }
  }

  private take(length: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length - this.head >= length) {
      const view = first.subarray(this.head, this.head + length);
      this.skip(length);
      return view;
    }
    const out = Buffer.allocUnsafe(length);
    this.copyOut(out, length);
    this.skip(length);
    return out;
  }

  /** Copies the next `length` buffered bytes into `target` without consuming them. */
  private copyOut(target: Buffer, length: number): void {
    let copied = 0;
    let start = this.head;
    for (const chunk of this.chunks) {
      if (copied >= length) break;
      const n = Math.min(chunk.length - start, length - copied);
      chunk.copy(target, copied, start, start + n);
      copied += n;
      start = 0;
    }
  }
}

/** Reads the fields of one packet; reading past its end throws MalformedPacket. */
export class PacketReader {
  private offset = 0;

  constructor(private readonly packet: Buffer) {}

  get remaining(): number {
    return this.packet.length - this.offset;
  }

  u8(): number {
    this.need(1);
    return this.packet[this.offset++]!;
  }

  u32(): number {
    this.need(4);
    const value = this.packet.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  /** A uint64 as a number; values past 2^53 lose precision and the core refuses them as offsets. */
  u64(): number {
    this.need(8);
    const value = this.packet.readBigUInt64BE(this.offset);
    this.offset += 8;
    return Number(value);
  }

  bytes(): Buffer {
    const length = this.u32();
    this.need(length);
    const value = this.packet.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  string(): string {
    return this.bytes().toString('utf8');
  }

  attributes(): WireAttributes {
    const flags = this.u32();
    const attrs: WireAttributes = {};
    if (flags & ATTR.SIZE) attrs.size = this.u64();
    if (flags & ATTR.UIDGID) {
      attrs.uid = this.u32();
      attrs.gid = this.u32();
    }
    if (flags & ATTR.PERMISSIONS) attrs.mode = this.u32();
    if (flags & ATTR.ACMODTIME) {
      attrs.atime = this.u32();
      attrs.mtime = this.u32();
    }
    if (flags & ATTR.EXTENDED) {
      const count = this.u32();
      // Each pair takes at least 8 bytes: a count past that is malformed, not a long loop.
      if (count * 8 > this.remaining) throw new MalformedPacket('extended attribute count past the packet');
      for (let i = 0; i < count; i++) {
        this.bytes();
        this.bytes();
      }
    }
    return attrs;
  }

  private need(n: number): void {
    if (this.offset + n > this.packet.length) throw new MalformedPacket('field past the end of the packet');
  }
}

/** Builds one outgoing packet; the length prefix is filled in by finish(). */
export class PacketWriter {
  private buffer: Buffer;
  private offset = 4;

  constructor(type: number, sizeHint = 64) {
    this.buffer = Buffer.allocUnsafe(Math.max(sizeHint, 16));
    this.u8(type);
  }

  u8(value: number): this {
    this.ensure(1);
    this.buffer[this.offset++] = value;
    return this;
  }

  u32(value: number): this {
    this.ensure(4);
    this.buffer.writeUInt32BE(value >>> 0, this.offset);
    this.offset += 4;
    return this;
  }

  u64(value: number): this {
    this.ensure(8);
    const v = Math.max(0, Math.floor(value)); // halves: no BigInt per field (READDIR writes thousands)
    this.buffer.writeUInt32BE(Math.floor(v / 0x1_0000_0000) >>> 0, this.offset);
    this.buffer.writeUInt32BE(v >>> 0, this.offset + 4);
    this.offset += 8;
    return this;
  }

  string(value: string | Buffer): this {
    if (typeof value !== 'string') {
      this.u32(value.length);
      this.ensure(value.length);
      value.copy(this.buffer, this.offset);
      this.offset += value.length;
      return this;
    }
    // Room for the worst case (3 UTF-8 bytes per UTF-16 unit), then one pass that says how many it took.
    this.ensure(4 + 3 * value.length);
    const length = this.buffer.write(value, this.offset + 4, 'utf8');
    this.buffer.writeUInt32BE(length, this.offset);
    this.offset += 4 + length;
    return this;
  }

  attributes(attrs: WireAttributes): this {
    const flags =
      (attrs.size !== undefined ? ATTR.SIZE : 0) |
      (attrs.uid !== undefined && attrs.gid !== undefined ? ATTR.UIDGID : 0) |
      (attrs.mode !== undefined ? ATTR.PERMISSIONS : 0) |
      (attrs.atime !== undefined && attrs.mtime !== undefined ? ATTR.ACMODTIME : 0);
    this.u32(flags);
    if (flags & ATTR.SIZE) this.u64(attrs.size!);
    if (flags & ATTR.UIDGID) this.u32(attrs.uid!).u32(attrs.gid!);
    if (flags & ATTR.PERMISSIONS) this.u32(attrs.mode!);
    if (flags & ATTR.ACMODTIME) this.u32(attrs.atime!).u32(attrs.mtime!);
    return this;
  }

  get length(): number {
    return this.offset;
  }

  finish(): Buffer {
    this.buffer.writeUInt32BE(this.offset - 4, 0);
    return this.buffer.subarray(0, this.offset);
  }

  private ensure(n: number): void {
    if (this.offset + n <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.offset + n));
    this.buffer.copy(grown, 0, 0, this.offset);
    this.buffer = grown;
  }
}

export interface NameEntry {
  filename: string;
  longname: string;
  attrs: WireAttributes;
}

export const reply = {
  version(extensions: readonly (readonly [string, string])[]): Buffer {
    const writer = new PacketWriter(FXP.VERSION, 512).u32(3);
    for (const [name, version] of extensions) writer.string(name).string(version);
    return writer.finish();
  },
  status(id: number, code: number, message = '', language = 'en'): Buffer {
    return new PacketWriter(FXP.STATUS, 32 + message.length * 3).u32(id).u32(code).string(message).string(language).finish();
  },
  ok(id: number): Buffer {
    return reply.status(id, SFTP_STATUS.OK);
  },
  handle(id: number, handle: Buffer): Buffer {
    return new PacketWriter(FXP.HANDLE, 16 + handle.length).u32(id).string(handle).finish();
  },
  attrs(id: number, attrs: WireAttributes): Buffer {
    return new PacketWriter(FXP.ATTRS, 48).u32(id).attributes(attrs).finish();
  },
  name(id: number, entries: readonly NameEntry[]): Buffer {
    const writer = new PacketWriter(FXP.NAME, 16 + entries.length * 160).u32(id).u32(entries.length);
    for (const entry of entries) writer.string(entry.filename).string(entry.longname).attributes(entry.attrs);
    return writer.finish();
  },
  /** An EXTENDED_REPLY; `body` writes the extension's fields after the id. */
  extended(id: number, body: (writer: PacketWriter) => void): Buffer {
    const writer = new PacketWriter(FXP.EXTENDED_REPLY, 128).u32(id);
    body(writer);
    return writer.finish();
  },
  /**
   * A DATA reply with room for `length` bytes after its header, in a buffer from `allocate`: the
   * caller reads straight into `payload`, then `finish(n)` fixes the lengths for the n bytes it got.
   */
  data(id: number, length: number, allocate: (size: number) => Buffer): { payload: Buffer; finish(n: number): Buffer } {
    const packet = allocate(DATA_HEADER + length);
    packet[4] = FXP.DATA;
    packet.writeUInt32BE(id, 5);
    return {
      payload: packet.subarray(DATA_HEADER),
      finish(n: number): Buffer {
        packet.writeUInt32BE(DATA_HEADER - 4 + n, 0);
        packet.writeUInt32BE(n, 9);
        return packet.subarray(0, DATA_HEADER + n);
      },
    };
  },
};
