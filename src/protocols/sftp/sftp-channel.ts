/**
 * One SFTP channel: every SFTP v3 request is translated into a GuardedFs call and every outcome into
 * exactly one reply. Policy (read_only, jail, listing cap, mtime rule) lives in the core; this file
 * only knows the wire.
 */
import ssh2 from 'ssh2';
import type { Attributes, SFTPWrapper } from 'ssh2';
import { GatewayError, type FileInfo, type GuardedFile, type GuardedFs, type Logger } from '../../core/index.js';
import { describeError } from '../error-map.js';
import { longName, toAttributeChange, toOpenMode, toWireAttributes, type WireAttributes } from './attributes.js';
import { HandleOrder } from './handle-order.js';
import { PacketPacker } from './packet-packer.js';
import { ReadAhead } from './read-ahead.js';
import { RequestGate } from './request-gate.js';

const { STATUS_CODE } = ssh2.utils.sftp;

/** Largest READ answered in one DATA packet: OpenSSH clients accept packets up to 256 KiB. */
const MAX_READ = 255 * 1024;
/** Entries per READDIR reply. */
const READDIR_BATCH = 128;
/** Open handles per channel (bounded resources). */
const MAX_HANDLES = 256;
/** Handles per channel that get read-ahead (up to six 256 KiB buffers each: blocks in use and spares). */
const MAX_READ_AHEAD_HANDLES = 16;
/** REALPATH and READLINK replies carry no attributes (ATTRS flags 0). */
const NO_ATTRIBUTES = {} as Attributes;

type OpenHandle =
  | { kind: 'file'; file: GuardedFile; order: HandleOrder; reader: ReadAhead | undefined }
  | { kind: 'dir'; path: string; entries: FileInfo[]; next: number };

export class SftpChannel {
  private readonly handles = new Map<number, OpenHandle>();
  private nextHandleId = 0;
  private readonly packer: PacketPacker;
  private readonly gate: RequestGate;
  /** The channel has gone: a file that finishes opening now has no handle table to land in. */
  private closed = false;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly fs: GuardedFs,
    private readonly logger: Logger,
  ) {
    this.packer = new PacketPacker(sftp);
    this.gate = new RequestGate(sftp, () => {
      this.logger.warn({ event: 'sftp-window-overrun' }, 'SFTP client sent past its window: channel closed');
      sftp.destroy();
    });
    this.listen();
    // OpenSSH's client waits for our side of the channel to close before it exits.
    sftp.on('end', () => sftp.end());
    sftp.on('close', () => this.abortAll());
  }

  private listen(): void {
    const { sftp, fs } = this;
    sftp.on('OPEN', (id, filename, pflags, attrs: WireAttributes) =>
      this.serve(id, 'open', async () => {
        this.assertHandleRoom();
        const file = await fs.open(filename, toOpenMode(pflags), toAttributeChange(attrs));
        if (this.closed) return file.abort(); // else its descriptor (and an upload's temporary file) would leak
        const reader = file.writable || this.readAheadHandles() >= MAX_READ_AHEAD_HANDLES ? undefined : new ReadAhead(file);
        sftp.handle(id, this.addHandle({ kind: 'file', file, order: new HandleOrder(), reader }));
      }),
    );
    sftp.on('READ', (id, handle, offset, length) =>
      this.serve(id, 'read', async () => {
        const { file, order, reader } = this.file(handle);
        const want = Math.min(length, MAX_READ);
        const data = await order.run('read', offset, want, () => (reader ? reader.read(want, offset) : file.read(want, offset)));
        if (data.length === 0) sftp.status(id, STATUS_CODE.EOF);
        else this.packer.data(id, data);
      }),
    );
    sftp.on('WRITE', (id, handle, offset, data) =>
      this.serve(id, 'write', async () => {
        const { file, order } = this.file(handle);
        await order.run('write', offset, data.length, () => file.write(data, offset));
        sftp.status(id, STATUS_CODE.OK);
      }),
    );
    sftp.on('FSTAT', (id, handle) =>
      this.serve(id, 'fstat', async () => {
        const open = this.lookup(handle);
        const stats = open.kind === 'file' ? await open.order.run('read', 0, Infinity, () => open.file.stat()) : await fs.stat(open.path);
        sftp.attrs(id, toWireAttributes(stats));
      }),
    );
    sftp.on('FSETSTAT', (id, handle, attrs: WireAttributes) =>
      this.serve(id, 'fsetstat', async () => {
        const open = this.lookup(handle);
        const change = toAttributeChange(attrs);
        if (open.kind === 'dir') {
          await fs.setAttributes(open.path, change);
        } else {
          open.reader?.invalidate();
          await open.order.run('barrier', 0, Infinity, () => open.file.setAttributes(change));
        }
        sftp.status(id, STATUS_CODE.OK);
      }),
    );
    sftp.on('CLOSE', (id, handle) =>
      this.serve(id, 'close', async () => {
        const open = this.lookup(handle);
        this.handles.delete(handle.readUInt32BE(0));
        if (open.kind === 'file') await open.order.run('barrier', 0, Infinity, () => open.file.close());
        sftp.status(id, STATUS_CODE.OK);
      }),
    );
    sftp.on('OPENDIR', (id, path) =>
      this.serve(id, 'opendir', async () => {
        this.assertHandleRoom();
        // The core lists in a stable order and applies max_dir_listing_size; READDIR pages through it.
        const entries = await fs.list(path);
        sftp.handle(id, this.addHandle({ kind: 'dir', path: fs.resolvePath(path), entries, next: 0 }));
      }),
    );
    sftp.on('READDIR', (id, handle) =>
      this.serve(id, 'readdir', async () => {
        const dir = this.lookup(handle);
        if (dir.kind !== 'dir') throw new GatewayError('NOT_A_DIRECTORY', 'READDIR on a file handle', { text: 'not_a_directory' });
        if (dir.next >= dir.entries.length) return sftp.status(id, STATUS_CODE.EOF);
        const batch = dir.entries.slice(dir.next, dir.next + READDIR_BATCH);
        dir.next += batch.length;
        const now = Date.now();
        sftp.name(id, batch.map(({ name, stats }) => ({ filename: name, longname: longName(name, stats, now), attrs: toWireAttributes(stats) })));
      }),
    );
    sftp.on('LSTAT', (id, path) => this.serve(id, 'lstat', async () => sftp.attrs(id, toWireAttributes(await fs.lstat(path)))));
    sftp.on('STAT', (id, path) => this.serve(id, 'stat', async () => sftp.attrs(id, toWireAttributes(await fs.stat(path)))));
    sftp.on('SETSTAT', (id, path, attrs: WireAttributes) => this.serveOk(id, 'setstat', () => fs.setAttributes(path, toAttributeChange(attrs))));
    sftp.on('REMOVE', (id, path) => this.serveOk(id, 'remove', () => fs.remove(path)));
    sftp.on('RMDIR', (id, path) => this.serveOk(id, 'rmdir', () => fs.rmdir(path)));
    sftp.on('MKDIR', (id, path, attrs: WireAttributes) => this.serveOk(id, 'mkdir', () => fs.mkdir(path, attrs.mode)));
    // SFTP v3 RENAME must not replace an existing target; posix-rename (below) may.
    sftp.on('RENAME', (id, from, to) => this.serveOk(id, 'rename', () => fs.rename(from, to, { overwrite: false })));
    sftp.on('SYMLINK', (id, linkPath, targetPath) => this.serveOk(id, 'symlink', () => fs.symlink(targetPath, linkPath)));
    sftp.on('REALPATH', (id, path) => this.serve(id, 'realpath', async () => this.replyPath(id, await fs.realpath(path))));
    sftp.on('READLINK', (id, path) => this.serve(id, 'readlink', async () => this.replyPath(id, await fs.readlink(path))));
    sftp.on('EXTENDED', (id, name: string, data: Buffer | undefined) => this.serveOk(id, name, () => this.extended(name, data)));
  }

  /** OpenSSH extensions a client may send even though ssh2 advertises none. */
  private async extended(name: string, data: Buffer | undefined): Promise<void> {
    if (name === 'posix-rename@openssh.com') {
      const [from, to] = readStrings(data, 2);
      return this.fs.rename(from, to, { overwrite: true });
    }
    if (name === 'hardlink@openssh.com') {
      // Not offered; a read-only session still hears "permission denied", as for every other write.
      readStrings(data, 2);
      this.fs.assertWritable();
    }
    throw new GatewayError('UNSUPPORTED', `SFTP extension ${name}`, { text: 'unsupported' });
  }

  private replyPath(id: number, virtualPath: string): void {
    this.sftp.name(id, [{ filename: virtualPath, longname: virtualPath, attrs: NO_ATTRIBUTES }]);
  }

  /**
   * Runs a request when the gate lets it (bounded work and unsent replies per channel); any failure
   * becomes the error table's status and text in the session's language.
   */
  private serve(id: number, op: string, work: () => Promise<unknown>): void {
    this.gate.run(() =>
      work().then(
        () => {},
        (err: unknown) => {
          const described = describeError(err, this.fs.session.language);
          if (described.code === 'INTERNAL') this.logger.error({ event: 'sftp-error', op, err }, 'SFTP request failed');
          else this.logger.debug({ event: 'sftp-refused', op, reason: described.code }, 'SFTP request refused');
          this.sftp.status(id, described.sftp, described.message);
        },
      ),
    );
  }

  private serveOk(id: number, op: string, work: () => Promise<unknown>): void {
    this.serve(id, op, async () => {
      await work();
      this.sftp.status(id, STATUS_CODE.OK);
    });
  }

  private addHandle(open: OpenHandle): Buffer {
    const handleId = this.nextHandleId++ >>> 0;
    this.handles.set(handleId, open);
    const handle = Buffer.allocUnsafe(4);
    handle.writeUInt32BE(handleId, 0);
    return handle;
  }

  private readAheadHandles(): number {
    let count = 0;
    for (const open of this.handles.values()) if (open.kind === 'file' && open.reader) count++;
    return count;
  }

  private assertHandleRoom(): void {
    if (this.handles.size >= MAX_HANDLES) throw new GatewayError('INTERNAL', `more than ${MAX_HANDLES} open handles`);
  }

  private lookup(handle: Buffer): OpenHandle {
    const open = handle.length === 4 ? this.handles.get(handle.readUInt32BE(0)) : undefined;
    if (!open) throw new GatewayError('NOT_FOUND', 'unknown SFTP handle', { text: 'not_found' });
    return open;
  }

  private file(handle: Buffer): Extract<OpenHandle, { kind: 'file' }> {
    const open = this.lookup(handle);
    if (open.kind !== 'file') throw new GatewayError('IS_A_DIRECTORY', 'file I/O on a directory handle', { text: 'is_a_directory' });
    return open;
  }

  /** The channel is gone: unfinished uploads are discarded, open files closed. */
  private abortAll(): void {
    this.closed = true;
    this.gate.close();
    for (const open of this.handles.values()) {
      if (open.kind === 'file') void open.order.idle().then(() => open.file.abort());
    }
    this.handles.clear();
  }
}

/** Reads `count` SSH strings (uint32 length + UTF-8 bytes) from an EXTENDED request's data. */
function readStrings(data: Buffer | undefined, count: number): string[] {
  const out: string[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (!data || offset + 4 > data.length) throw new GatewayError('BAD_PATH', 'malformed EXTENDED request', { text: 'bad_path' });
    const length = data.readUInt32BE(offset);
    if (offset + 4 + length > data.length) throw new GatewayError('BAD_PATH', 'malformed EXTENDED request', { text: 'bad_path' });
    out.push(data.toString('utf8', offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return out;
}
