/**
 * Whether a file's reads and writes may be made synchronously, on the event loop. A call through
 * libuv's thread pool hands the request to another thread and the bytes back, often across cores:
 * on an SFTP download from the page cache that hand-off cost about 7% of the wall time and 6% of the
 * CPU, and written on the event loop an FTP upload's bytes are stored while still warm in the cache.
 * Like nginx without its thread pool, calls on a regular file on a local filesystem are made
 * directly while they stay fast. The first slow one (the disk really read, or writeback throttling
 * the writer; see timed()) sends the rest of that file's calls to the thread pool, and every file
 * of that filesystem for SLOW_DEVICE_PAUSE_MS, so a busy disk holds the event loop once, not once
 * per file.
 * Never for a FIFO, a device or a network filesystem (NFS, SMB, FUSE...), where one call could wait
 * without bound and hold every connection of the process with it.
 */
import { fstatSync, readSync, statfsSync, writeSync } from 'node:fs';
import { descriptorPath } from './jail.js';

/**
 * statfs f_type of the local filesystems (linux/magic.h): tmpfs, ext2/3/4, xfs, btrfs, f2fs, zfs,
 * bcachefs, and overlayfs (a container's own files).
 */
const LOCAL_FILESYSTEMS = new Set([0x01021994, 0xef53, 0x58465342, 0x9123683e, 0xf2f52010, 0x2fc12fc1, 0xca451a4e, 0x794c7630]);
/** A synchronous call slower than this was not served from memory. */
const SLOW_CALL_MS = 2;
/** How long a filesystem that was slow once gets no synchronous calls. */
const SLOW_DEVICE_PAUSE_MS = 60_000;
/** Device number -> until when it gets no synchronous calls (a handful of filesystems at most). */
const slowDevices = new Map<number, number>();

export class SyncIo {
  /** The file's device when synchronous calls are allowed, false when they are not, undefined before the first look. */
  private device: number | false | undefined;

  /** The file's handle: its `fd` is read at each call (-1 once closed: never a number reused since). */
  constructor(private readonly handle: { readonly fd: number }) {}

  /** Whether the next call may be synchronous (a closed handle: no). */
  get allowed(): boolean {
    const fd = this.handle.fd;
    if (fd < 0) return false;
    this.device ??= localRegularFileDevice(fd);
    if (this.device === false) return false;
    const until = slowDevices.get(this.device);
    if (until === undefined) return true;
    if (until > Date.now()) return false;
    slowDevices.delete(this.device);
    return true;
  }

  /**
   * Reads into `buffer` at `position` synchronously and returns the count, or undefined where the
   * read must go through the thread pool.
   */
  tryRead(buffer: Buffer, position: number): number | undefined {
    if (!this.allowed) return undefined;
    return this.timed(() => readSync(this.handle.fd, buffer, 0, buffer.length, position));
  }

  /** Writes all of `data` at `position` synchronously; the caller checked `allowed`. Throws the system error (ENOSPC...). */
  write(data: Buffer, position: number): void {
    this.timed(() => {
      for (let offset = 0; offset < data.length; ) offset += writeSync(this.handle.fd, data, offset, data.length - offset, position + offset);
    });
  }

  /**
   * Runs `call`; a slow one ends synchronous calls for this file and pauses them on its filesystem.
   * Slow means longer than SLOW_CALL_MS and waiting: the process blocked meanwhile (a voluntary
   * context switch: the disk, writeback throttling). A call that only lost the CPU (a busy
   * machine, a virtual machine's host) is not the filesystem's doing.
   */
  private timed<T>(call: () => T): T {
    const switches = process.resourceUsage().voluntaryContextSwitches;
    const started = performance.now();
    const result = call();
    if (performance.now() - started > SLOW_CALL_MS && typeof this.device === 'number' && process.resourceUsage().voluntaryContextSwitches > switches) {
      slowDevices.set(this.device, Date.now() + SLOW_DEVICE_PAUSE_MS);
      this.device = false;
    }
    return result;
  }
}

/** The device of a regular file on a local filesystem, else false. */
function localRegularFileDevice(fd: number): number | false {
  try {
    const stats = fstatSync(fd);
    return stats.isFile() && LOCAL_FILESYSTEMS.has(statfsSync(descriptorPath({ fd })).type) ? stats.dev : false;
  } catch {
    return false;
  }
}
