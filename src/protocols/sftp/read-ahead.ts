/**
 * Read-ahead for one SFTP file handle. Clients read in small pieces (OpenSSH: 32 KiB, 64 requests
 * outstanding); one filesystem call per piece costs more than the data. Sequential reads are served
 * from aligned blocks, and the block after the one being read is fetched in advance. Random access
 * reads directly. Only handles opened for reading get one (no write through the handle can make a
 * block stale); an attribute change on the handle drops the blocks.
 *
 * Block buffers are recycled: a download would otherwise allocate its whole size again in
 * short-lived Buffers, which sends V8's garbage collector into back-to-back full collections.
 * Either way the bytes land in the caller's buffer (the reply): never a buffer of their own.
 */
import type { GuardedFile } from '../../core/index.js';

export const READ_AHEAD_BLOCK = 256 * 1024;
/** Requests larger than this are read directly, however sequential. */
const DIRECT_FROM = READ_AHEAD_BLOCK / 4;
/** Recycled block buffers kept per handle. */
const SPARE_BUFFERS = 4;

interface Block {
  buffer: Buffer;
  /** The bytes the block holds once read (fewer than READ_AHEAD_BLOCK at the end of the file). */
  data: Promise<Buffer>;
}

export class ReadAhead {
  /** Fetched or fetching blocks by index (position / READ_AHEAD_BLOCK): the current one and the next, no more. */
  private readonly blocks = new Map<number, Block>();
  private readonly spare: Buffer[] = [];
  /** Where the previous request ended: a request starting there continues a sequential run. */
  private runEnd = 0;

  constructor(private readonly file: GuardedFile) {}

  /**
   * Fills `target` (up to its length) with the bytes at `position`; resolves with the count (0 at
   * the end of the file). Small sequential requests are copied out of the blocks; a large one (a
   * client that asks for 255 KiB at a time, as OpenSSH's does once limits@openssh.com tells it it
   * may) is a big enough read by itself, and goes straight into `target`, with no block in between.
   */
  async readInto(target: Buffer, position: number): Promise<number> {
    const length = target.length;
    const index = Math.floor(position / READ_AHEAD_BLOCK);
    const offset = position - index * READ_AHEAD_BLOCK;
    const sequential = position === this.runEnd || this.blocks.has(index);
    this.runEnd = position + length;
    if (!sequential || length > DIRECT_FROM || offset + length > READ_AHEAD_BLOCK) return this.file.readInto(target, position);
    // A handle keeps only this block and the next: blocks behind are done with once their readers
    // have copied, and blocks ahead left by an earlier run (a client reading backwards in runs
    // would otherwise pile up the whole file) are let go the same way.
    for (const [old, block] of this.blocks) if (old !== index && old !== index + 1) this.retire(old, block);
    const data = this.fetch(index).data;
    this.fetch(index + 1);
    const bytes = await data;
    // Past what the block saw (end of file, or the file grew since): the file itself answers.
    if (offset >= bytes.length) return this.file.readInto(target, position);
    // Copied in the continuation that awaited the block: blocks are recycled only in a later turn.
    const copied = bytes.copy(target, 0, offset, Math.min(offset + length, bytes.length));
    this.file.served(copied);
    return copied;
  }

  /** The handle's file was changed (FSETSTAT): cached bytes may be stale. */
  invalidate(): void {
    this.blocks.clear();
  }

  private fetch(index: number): Block {
    let block = this.blocks.get(index);
    if (!block) {
      const buffer = this.spare.pop() ?? Buffer.allocUnsafeSlow(READ_AHEAD_BLOCK);
      const data = this.file.prefetch(buffer, index * READ_AHEAD_BLOCK).then((n) => buffer.subarray(0, n));
      block = { buffer, data };
      this.blocks.set(index, block);
      // The requests waiting on it report the error; later ones read afresh.
      data.catch(() => this.blocks.get(index) === block && this.blocks.delete(index));
    }
    return block;
  }

  /** Forgets a block and, after its readers' synchronous copies (a later turn), keeps its buffer. */
  private retire(index: number, block: Block): void {
    this.blocks.delete(index);
    const recycle = (): void => {
      if (this.spare.length < SPARE_BUFFERS) this.spare.push(block.buffer);
    };
    block.data.then(() => setImmediate(recycle), () => {});
  }
}
