/**
 * The handles of one SFTP channel. Their number is limited per connection (all its channels
 * together), and so is the number of file handles that get read-ahead buffers.
 */
import { GatewayError, type DirectoryPages, type GuardedFile } from '../../core/index.js';
import { DirectoryReader } from './directory-reader.js';
import { HandleOrder } from './handle-order.js';
import { ReadAhead } from './read-ahead.js';
import type { ByteBudget } from './budget.js';

/** A count with a ceiling, shared by the channels of one connection. */
export interface Quota {
  used: number;
  readonly max: number;
}

/** What one connection may hold, whatever its channels do. */
export interface ConnectionResources {
  handles: Quota;
  readAhead: Quota;
  /** Reply bytes not yet sent and request data not yet written. */
  budget: ByteBudget;
  /** Bytes directory handles keep between READDIRs: windows of names and prepared replies (see DirectoryReader). */
  windows: Quota;
}

export type FileHandle = { kind: 'file'; file: GuardedFile; order: HandleOrder; reader: ReadAhead | undefined };
export type DirHandle = { kind: 'dir'; path: string; reader: DirectoryReader };
export type OpenHandle = FileHandle | DirHandle;

export class HandleTable {
  private readonly open = new Map<number, OpenHandle>();
  private nextId = 0;

  constructor(private readonly resources: ConnectionResources) {}

  get maxHandles(): number {
    return this.resources.handles.max;
  }

  /** Refuses (LIMIT_REACHED) when the connection holds its maximum of handles. */
  assertRoom(): void {
    const { handles } = this.resources;
    if (handles.used >= handles.max) {
      throw new GatewayError('LIMIT_REACHED', `more than ${handles.max} open handles`, { params: { what: `${handles.max} open handles` } });
    }
  }

  addFile(file: GuardedFile): Buffer {
    this.assertRoom();
    const { readAhead } = this.resources;
    let reader: ReadAhead | undefined;
    if (!file.writable && readAhead.used < readAhead.max) {
      readAhead.used++;
      reader = new ReadAhead(file);
    }
    return this.add({ kind: 'file', file, order: new HandleOrder(), reader });
  }

  addDir(path: string, pages: DirectoryPages): Buffer {
    return this.add({ kind: 'dir', path, reader: new DirectoryReader(pages, this.resources.windows) });
  }

  get(handle: Buffer): OpenHandle {
    const open = handle.length === 4 ? this.open.get(handle.readUInt32BE(0)) : undefined;
    if (!open) throw new GatewayError('NOT_FOUND', 'unknown SFTP handle', { text: 'not_found' });
    return open;
  }

  file(handle: Buffer): FileHandle {
    const open = this.get(handle);
    if (open.kind !== 'file') throw new GatewayError('IS_A_DIRECTORY', 'file I/O on a directory handle', { text: 'is_a_directory' });
    return open;
  }

  dir(handle: Buffer): DirHandle {
    const open = this.get(handle);
    if (open.kind !== 'dir') throw new GatewayError('NOT_A_DIRECTORY', 'READDIR on a file handle', { text: 'not_a_directory' });
    return open;
  }

  /** Forgets a handle (CLOSE) and gives back what it counted against the connection. */
  remove(handle: Buffer): OpenHandle {
    const open = this.get(handle);
    this.open.delete(handle.readUInt32BE(0));
    this.release(open);
    return open;
  }

  /** Every handle, forgotten (the channel closed). */
  drain(): OpenHandle[] {
    const all = [...this.open.values()];
    this.open.clear();
    for (const open of all) this.release(open);
    return all;
  }

  private add(open: OpenHandle): Buffer {
    this.assertRoom();
    this.resources.handles.used++;
    const id = this.nextId++ >>> 0;
    this.open.set(id, open);
    const handle = Buffer.allocUnsafe(4);
    handle.writeUInt32BE(id, 0);
    return handle;
  }

  private release(open: OpenHandle): void {
    this.resources.handles.used--;
    if (open.kind === 'file' && open.reader) this.resources.readAhead.used--;
    if (open.kind === 'dir') open.reader.close();
  }
}
