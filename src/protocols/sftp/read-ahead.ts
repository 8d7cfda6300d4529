/**
 * Read-ahead for one SFTP file handle. Clients read in small pieces (OpenSSH: 32 KiB, 64 requests
 * outstanding); one filesystem call per piece costs more than the data. Sequential reads are served
 * from aligned blocks, and the block after the one being read is fetched in advance. Random access
 * reads directly. Only handles opened for reading get one (no write through the handle can make a
 * block stale); an attribute change on the handle drops the blocks.
 */
import type { GuardedFile } from '../../core/index.js';

export const READ_AHEAD_BLOCK = 256 * 1024;

export class ReadAhead {
  /** Fetched or fetching blocks by index (position / READ_AHEAD_BLOCK): the current one and the next. */
  private readonly blocks = new Map<number, Promise<Buffer>>();
  /** Where the previous request ended: a request starting there continues a sequential run. */
  private runEnd = 0;

  constructor(private readonly file: GuardedFile) {}

  async read(length: number, position: number): Promise<Buffer> {
    const index = Math.floor(position / READ_AHEAD_BLOCK);
    const offset = position - index * READ_AHEAD_BLOCK;
    const sequential = position === this.runEnd || this.blocks.has(index);
    this.runEnd = position + length;
    if (!sequential || offset + length > READ_AHEAD_BLOCK) return this.file.read(length, position);
    // Requests arrive in order: blocks behind this one are held only by the requests still using them.
    for (const old of this.blocks.keys()) if (old < index) this.blocks.delete(old);
    const block = this.fetch(index);
    void this.fetch(index + 1);
    const data = await block;
    // Past what the block saw (end of file, or the file grew since): the file itself answers.
    if (offset >= data.length) return this.file.read(length, position);
    return data.subarray(offset, Math.min(offset + length, data.length));
  }

  /** The handle's file was changed (FSETSTAT): cached bytes may be stale. */
  invalidate(): void {
    this.blocks.clear();
  }

  private fetch(index: number): Promise<Buffer> {
    let block = this.blocks.get(index);
    if (!block) {
      block = this.file.read(READ_AHEAD_BLOCK, index * READ_AHEAD_BLOCK);
      this.blocks.set(index, block);
      // The requests waiting on it report the error; later ones read afresh.
      block.catch(() => this.blocks.get(index) === block && this.blocks.delete(index));
    }
    return block;
  }
}
