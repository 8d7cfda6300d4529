/**
 * Whether a file's reads may be made synchronously, on the event loop. A read through libuv's thread
 * pool hands the request to another thread and the bytes back, often across cores: on an SFTP
 * download from the page cache that hand-off cost about 7% of the wall time and 6% of the CPU. Like
 * nginx without its thread pool, reads of a regular file on a local filesystem are made directly,
 * while they stay fast; the first slow one (the disk really read) sends the rest of that file's
 * reads to the thread pool. Never for a FIFO, a device or a network filesystem (NFS, SMB, FUSE...),
 * where one read could wait without bound and hold every connection of the process with it.
 */
import { fstatSync, readSync, statfsSync } from 'node:fs';
import { descriptorPath } from './jail.js';

/**
 * statfs f_type of the local filesystems (linux/magic.h): tmpfs, ext2/3/4, xfs, btrfs, f2fs, zfs,
 * bcachefs, and overlayfs (a container's own files).
 */
const LOCAL_FILESYSTEMS = new Set([0x01021994, 0xef53, 0x58465342, 0x9123683e, 0xf2f52010, 0x2fc12fc1, 0xca451a4e, 0x794c7630]);
/** A synchronous read slower than this was not served from memory. */
const SLOW_READ_MS = 2;

export class SyncReads {
  private allowed: boolean | undefined;

  /** The file's handle: its `fd` is read at each call (-1 once closed: never a number reused since). */
  constructor(private readonly handle: { readonly fd: number }) {}

  /**
   * Reads into `buffer` at `position` synchronously and returns the count, or undefined where the
   * read must go through the thread pool (which also reports a closed handle).
   */
  tryRead(buffer: Buffer, position: number): number | undefined {
    const fd = this.handle.fd;
    if (fd < 0) return undefined;
    this.allowed ??= isLocalRegularFile(fd);
    if (!this.allowed) return undefined;
    const started = performance.now();
    const bytesRead = readSync(fd, buffer, 0, buffer.length, position);
    if (performance.now() - started > SLOW_READ_MS) this.allowed = false;
    return bytesRead;
  }
}

export function isLocalRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile() && LOCAL_FILESYSTEMS.has(statfsSync(descriptorPath({ fd })).type);
  } catch {
    return false;
  }
}
