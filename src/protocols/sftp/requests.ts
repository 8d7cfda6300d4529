/**
 * Every SFTP v3 request and OpenSSH extension, translated into GuardedFs calls: the core applies
 * read_only, the jail, the listing cap and the mtime rule; this file only knows the wire. Fields
 * are parsed before the first await, so requests on one handle are ordered as they arrived.
 */
import { posix } from 'node:path';
import { GatewayError, type GuardedFs } from '../../core/index.js';
import { SFTP_STATUS } from '../error-map.js';
import { toAttributeChange, toOpenMode, toWireAttributes } from './attributes.js';
import type { ByteBudget } from './budget.js';
import { FXP, MAX_IO, MAX_PACKET, MalformedPacket, reply, type PacketReader, type PacketWriter } from './codec.js';
import { takeReplyBuffer } from './reply-buffers.js';
import type { HandleTable } from './handles.js';

/** copy-data moves data in pieces of this size. */
const COPY_CHUNK = MAX_IO;
/** statvfs: SSH_FXE_STATVFS_ST_RDONLY, ST_NOSUID; names up to 255 bytes. */
const ST_RDONLY = 0x1;
const ST_NOSUID = 0x2;
const NAME_MAX = 255;

export interface RequestContext {
  fs: GuardedFs;
  handles: HandleTable;
  budget: ByteBudget;
  symlinkTargetFirst: boolean;
  /** The channel has gone: a file that finishes opening now has no handle table to land in. */
  isClosed(): boolean;
}

type Handler = (r: PacketReader, id: number) => Promise<Buffer>;

/** Extensions advertised in VERSION, with the version strings OpenSSH's client checks. */
const EXTENSIONS: readonly (readonly [string, string])[] = [
  ['posix-rename@openssh.com', '1'],
  ['statvfs@openssh.com', '2'],
  ['fstatvfs@openssh.com', '2'],
  ['hardlink@openssh.com', '1'],
  ['fsync@openssh.com', '1'],
  ['lsetstat@openssh.com', '1'],
  ['limits@openssh.com', '1'],
  ['expand-path@openssh.com', '1'],
  ['copy-data', '1'],
  ['home-directory', '1'],
  ['users-groups-by-id@openssh.com', '1'],
];

export class SftpRequests {
  readonly extensions = EXTENSIONS;
  private readonly byType: Map<number, Handler>;
  private readonly byExtension: Map<string, Handler>;

  constructor(private readonly ctx: RequestContext) {
    const { fs } = ctx;
    const ok = (id: number): Buffer => reply.ok(id);
    const path = (r: PacketReader): string => r.string();
    this.byType = new Map<number, Handler>([
      [FXP.OPEN, (r, id) => this.open(r, id)],
      [FXP.CLOSE, (r, id) => this.close(r, id)],
      [FXP.READ, (r, id) => this.read(r, id)],
      [FXP.WRITE, (r, id) => this.write(r, id)],
      [FXP.LSTAT, async (r, id) => reply.attrs(id, toWireAttributes(await fs.lstat(path(r))))],
      [FXP.STAT, async (r, id) => reply.attrs(id, toWireAttributes(await fs.stat(path(r))))],
      [FXP.FSTAT, (r, id) => this.fstat(r, id)],
      [FXP.SETSTAT, async (r, id) => (await fs.setAttributes(path(r), toAttributeChange(r.attributes())), ok(id))],
      [FXP.FSETSTAT, (r, id) => this.fsetstat(r, id)],
      [FXP.OPENDIR, (r, id) => this.opendir(r, id)],
      [FXP.READDIR, (r, id) => this.readdir(r, id)],
      [FXP.REMOVE, async (r, id) => (await fs.remove(path(r)), ok(id))],
      [FXP.MKDIR, async (r, id) => (await fs.mkdir(path(r), r.attributes().mode), ok(id))],
      [FXP.RMDIR, async (r, id) => (await fs.rmdir(path(r)), ok(id))],
      [FXP.REALPATH, async (r, id) => this.pathReply(id, await fs.realpath(path(r)))],
      [FXP.READLINK, async (r, id) => this.pathReply(id, await fs.readlink(path(r)))],
      // The draft's RENAME must not replace an existing target; posix-rename may.
      [FXP.RENAME, async (r, id) => (await fs.rename(path(r), path(r), { overwrite: false }), ok(id))],
      [FXP.SYMLINK, (r, id) => this.symlink(r, id)],
      [FXP.EXTENDED, (r, id) => this.extended(r, id)],
    ]);
    this.byExtension = new Map<string, Handler>([
      ['posix-rename@openssh.com', async (r, id) => (await fs.rename(path(r), path(r), { overwrite: true }), ok(id))],
      ['hardlink@openssh.com', async (r, id) => (await fs.hardlink(path(r), path(r)), ok(id))],
      ['statvfs@openssh.com', async (r, id) => this.statvfs(id, path(r))],
      ['fstatvfs@openssh.com', async (r, id) => this.statvfs(id, this.handlePath(r.bytes()))],
      ['fsync@openssh.com', (r, id) => this.fsync(r, id)],
      ['lsetstat@openssh.com', async (r, id) => (await fs.setLinkAttributes(path(r), toAttributeChange(r.attributes())), ok(id))],
      ['limits@openssh.com', async (_r, id) => this.limits(id)],
      ['expand-path@openssh.com', async (r, id) => this.pathReply(id, await fs.realpath(this.expandHome(path(r))))],
      ['home-directory', async (r, id) => this.pathReply(id, this.expandHome(`~${r.string()}`))],
      ['copy-data', (r, id) => this.copyData(r, id)],
      ['users-groups-by-id@openssh.com', async (r, id) => this.usersGroups(r, id)],
    ]);
  }

  /** The reply to a request of `type`, or undefined when the type is unknown. */
  handle(type: number, r: PacketReader, id: number): Promise<Buffer> | undefined {
    return this.byType.get(type)?.(r, id);
  }

  private async open(r: PacketReader, id: number): Promise<Buffer> {
    const filename = r.string();
    const mode = toOpenMode(r.u32());
    const attrs = toAttributeChange(r.attributes());
    this.ctx.handles.assertRoom();
    const file = await this.ctx.fs.open(filename, mode, attrs);
    // Closed meanwhile, or the last handle went to another channel: nothing may leak.
    if (this.ctx.isClosed()) {
      await file.abort();
      return reply.ok(id);
    }
    try {
      return reply.handle(id, this.ctx.handles.addFile(file));
    } catch (err) {
      await file.abort();
      throw err;
    }
  }

  private async close(r: PacketReader, id: number): Promise<Buffer> {
    const open = this.ctx.handles.remove(r.bytes());
    if (open.kind === 'file') await open.order.run('barrier', 0, Infinity, () => open.file.close());
    return reply.ok(id);
  }

  private async read(r: PacketReader, id: number): Promise<Buffer> {
    const handle = r.bytes();
    const offset = r.u64();
    const want = Math.min(r.u32(), MAX_IO);
    const { file, order, reader } = this.ctx.handles.file(handle);
    const data = reply.data(id, want, takeReplyBuffer);
    const n = await order.run('read', offset, want, () => (reader ?? file).readInto(data.payload, offset));
    return n === 0 ? reply.status(id, SFTP_STATUS.EOF, 'End of file') : data.finish(n);
  }

  private async write(r: PacketReader, id: number): Promise<Buffer> {
    const handle = r.bytes();
    const offset = r.u64();
    const data = r.bytes();
    const { file, order } = this.ctx.handles.file(handle);
    await order.run('write', offset, data.length, () => file.write(data, offset));
    return reply.ok(id);
  }

  private async fstat(r: PacketReader, id: number): Promise<Buffer> {
    const open = this.ctx.handles.get(r.bytes());
    const stats = open.kind === 'file' ? await open.order.run('read', 0, Infinity, () => open.file.stat()) : await this.ctx.fs.stat(open.path);
    return reply.attrs(id, toWireAttributes(stats));
  }

  private async fsetstat(r: PacketReader, id: number): Promise<Buffer> {
    const open = this.ctx.handles.get(r.bytes());
    const change = toAttributeChange(r.attributes());
    if (open.kind === 'dir') {
      await this.ctx.fs.setAttributes(open.path, change);
    } else {
      open.reader?.invalidate();
      await open.order.run('barrier', 0, Infinity, () => open.file.setAttributes(change));
    }
    return reply.ok(id);
  }

  private async opendir(r: PacketReader, id: number): Promise<Buffer> {
    const path = this.ctx.fs.resolvePath(r.string());
    this.ctx.handles.assertRoom();
    const pages = await this.ctx.fs.openDirectory(path);
    if (this.ctx.isClosed()) return reply.ok(id);
    return reply.handle(id, this.ctx.handles.addDir(path, pages));
  }

  private async readdir(r: PacketReader, id: number): Promise<Buffer> {
    const page = await this.ctx.handles.dir(r.bytes()).reader.next();
    if (!page) return reply.status(id, SFTP_STATUS.EOF, 'End of file');
    page.writeUInt32BE(id, 5);
    return page;
  }

  private async symlink(r: PacketReader, id: number): Promise<Buffer> {
    const first = r.string();
    const second = r.string();
    const [target, link] = this.ctx.symlinkTargetFirst ? [first, second] : [second, first];
    await this.ctx.fs.symlink(target, link);
    return reply.ok(id);
  }

  private extended(r: PacketReader, id: number): Promise<Buffer> {
    const name = r.string();
    const handler = this.byExtension.get(name);
    if (!handler) return Promise.resolve(reply.status(id, SFTP_STATUS.OP_UNSUPPORTED, 'Operation not supported'));
    return handler(r, id);
  }

  private pathReply(id: number, virtualPath: string): Buffer {
    return reply.name(id, [{ filename: virtualPath, longname: virtualPath, attrs: {} }]);
  }

  /** A path on the filesystem a handle's file lives on (its directory: an upload's name is not there yet). */
  private handlePath(handle: Buffer): string {
    const open = this.ctx.handles.get(handle);
    return open.kind === 'file' ? posix.dirname(open.file.virtualPath) : open.path;
  }

  private async statvfs(id: number, path: string): Promise<Buffer> {
    const s = await this.ctx.fs.storageStats(path);
    return reply.extended(id, (w) =>
      w
        .u64(s.blockSize) // f_bsize
        .u64(s.blockSize) // f_frsize
        .u64(s.blocks)
        .u64(s.freeBlocks)
        .u64(s.availableBlocks)
        .u64(s.files)
        .u64(s.freeFiles)
        .u64(s.freeFiles) // f_favail
        .u64(0) // f_fsid: nothing about the host
        .u64(ST_NOSUID | (s.readOnly ? ST_RDONLY : 0))
        .u64(NAME_MAX),
    );
  }

  private async fsync(r: PacketReader, id: number): Promise<Buffer> {
    const { file, order } = this.ctx.handles.file(r.bytes());
    await order.run('barrier', 0, Infinity, () => file.sync());
    return reply.ok(id);
  }

  private limits(id: number): Buffer {
    return reply.extended(id, (w) => w.u64(MAX_PACKET).u64(MAX_IO).u64(MAX_IO).u64(this.ctx.handles.maxHandles));
  }

  /** "~" and "~/…" are the user's root; "~name" only for the user's own name. */
  private expandHome(input: string): string {
    if (!input.startsWith('~')) return input;
    const slash = input.indexOf('/');
    const user = slash === -1 ? input.slice(1) : input.slice(1, slash);
    if (user !== '' && user !== this.ctx.fs.session.username) throw new GatewayError('NOT_FOUND', 'home of another user', { text: 'not_found' });
    return slash === -1 ? '/' : `/${input.slice(slash + 1)}`;
  }

  /** copy-data: read-from handle, offset, length (0 = to the end), write-to handle, offset. */
  private async copyData(r: PacketReader, id: number): Promise<Buffer> {
    const fromHandle = r.bytes();
    let readOffset = r.u64();
    const length = r.u64();
    const toHandle = r.bytes();
    let writeOffset = r.u64();
    const from = this.ctx.handles.file(fromHandle);
    const to = this.ctx.handles.file(toHandle);
    if (from === to) throw new MalformedPacket('copy-data onto its own handle');
    const end = length === 0 ? Infinity : readOffset + length;
    const buffer = Buffer.allocUnsafe(Math.min(COPY_CHUNK, end - readOffset));
    this.ctx.budget.force(buffer.length);
    try {
      while (readOffset < end) {
        const want = Math.min(buffer.length, end - readOffset);
        const piece = buffer.subarray(0, want);
        const n = await from.order.run('read', readOffset, want, () => from.file.readInto(piece, readOffset));
        if (n === 0) break;
        await to.order.run('write', writeOffset, n, () => to.file.write(piece.subarray(0, n), writeOffset));
        readOffset += n;
        writeOffset += n;
      }
    } finally {
      this.ctx.budget.release(buffer.length);
    }
    return reply.ok(id);
  }

  /**
   * No host account names are given out: the gateway's own account (which owns every stored file)
   * is named after the user, any other id gets the empty name ("unknown").
   */
  private usersGroups(r: PacketReader, id: number): Buffer {
    const uids = r.bytes();
    const gids = r.bytes();
    if (uids.length % 4 !== 0 || gids.length % 4 !== 0) throw new MalformedPacket('id list not a multiple of 4 bytes');
    const own = this.ctx.fs.session.username;
    const names = (ids: Buffer, ownId: number | undefined): Buffer => {
      const list = new StringList();
      for (let i = 0; i < ids.length; i += 4) list.add(ids.readUInt32BE(i) === ownId ? own : '');
      return list.bytes();
    };
    return reply.extended(id, (w: PacketWriter) => w.string(names(uids, process.getuid?.())).string(names(gids, process.getgid?.())));
  }

}

/** A run of SSH strings, as one field (users-groups-by-id replies). */
class StringList {
  private readonly parts: Buffer[] = [];

  add(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(bytes.length, 0);
    this.parts.push(length, bytes);
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}
