/**
 * A directory listed page by page in bounded memory (SFTP OPENDIR/READDIR). The order is the one
 * every listing has, sorted by name, and the listing cap counts across pages, yet no handle keeps
 * the whole directory: each refill scans the directory with `opendir` and keeps only the smallest
 * names after the last one handed out, in a window bounded in bytes. A directory that fits in one
 * window is scanned once; a bigger one costs one scan per window. Entries added or removed while a
 * client pages through appear or not, but nothing is listed twice and the order never goes back.
 * The directory is held open by descriptor from the open to close(), like an opendir(3) handle:
 * renaming it, or anything on its path, changes nothing about what is listed.
 */
import type { Dirent } from 'node:fs';
import { opendir } from 'node:fs/promises';
import { SyncWhileFast, statEntries } from './entry-stats.js';
import type { FileInfo } from './guarded-fs.js';
import type { HeldDir } from './jail.js';
import { GatewayError } from '../errors.js';

/** Memory a name costs in the window, as measured on V8 (string, its header, the array slot), rounded up. */
export function nameCost(name: string): number {
  return 3 * name.length + 64;
}

/** Entries read from the kernel per `opendir` batch. */
const SCAN_BATCH = 256;
/** Entries scanned synchronously between turns of the event loop. */
const SCAN_CHUNK = 1024;

export class DirectoryPages {
  /** Sorted names not yet handed out, and where it starts. */
  private window: string[] = [];
  private next = 0;
  private windowBytes = 0;
  /** The last name taken into a window: later scans keep only names after it. */
  private after: string | undefined;
  private scannedAll = false;
  private handedOut = 0;
  /**
   * Pages are read one after the other, and close() comes after the last one begun: the
   * descriptor's number must not be reused while a read still names it.
   */
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private reportedTruncation = false;

  constructor(
    private readonly dir: HeldDir,
    /** max_dir_listing_size (0 = no cap). */
    private readonly cap: number,
    private readonly shown: (name: string) => boolean,
    /** Told once, when the cap cuts the listing short. */
    private readonly onTruncated: () => void = () => {},
  ) {}

  /** Bytes the window holds now (the caller counts them against its memory budget). */
  get heldBytes(): number {
    return this.windowBytes;
  }

  /**
   * Up to `maxEntries` entries whose names take at most `maxNameBytes` bytes of UTF-8 together (at
   * least one entry), lstat'ed (a symlink is listed as itself); [] once the listing is done. A
   * refill keeps at most `windowLimit` bytes of names.
   */
  page(maxEntries: number, windowLimit: number, maxNameBytes = Infinity): Promise<FileInfo[]> {
    const page = this.tail.then(() => {
      if (this.closed) throw new GatewayError('NOT_FOUND', 'directory listing closed', { text: 'not_found' });
      return this.nextPage(maxEntries, windowLimit, maxNameBytes);
    });
    this.tail = page.then(ignore, ignore); // not the page itself: a handle must not keep its last page alive
    return page;
  }

  /** Lets the directory go, once the page being read (if any) is done. Pages asked for later fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tail = this.tail.then(() => {
      this.dropWindow();
      this.dir.close();
    });
  }

  private async nextPage(maxEntries: number, windowLimit: number, maxNameBytes: number): Promise<FileInfo[]> {
    const names: string[] = [];
    let nameBytes = 0;
    while (names.length < maxEntries && (this.cap === 0 || this.handedOut < this.cap)) {
      if (this.next >= this.window.length) {
        if (this.scannedAll) break;
        await this.refill(windowLimit);
        if (this.window.length === 0) break;
      }
      const name = this.window[this.next]!;
      nameBytes += Buffer.byteLength(name);
      if (names.length > 0 && nameBytes > maxNameBytes) break;
      this.next++;
      this.windowBytes -= nameCost(name);
      this.handedOut++;
      names.push(name);
    }
    if (this.next >= this.window.length) this.dropWindow();
    if (this.truncated && !this.reportedTruncation) {
      this.reportedTruncation = true;
      this.onTruncated();
    }
    return statEntries(this.dir.path, names); // an entry that vanished since the scan is left out
  }

  /** Whether the listing stopped at the cap with names left over (worth a log line). */
  get truncated(): boolean {
    return this.cap > 0 && this.handedOut >= this.cap && !(this.scannedAll && this.next >= this.window.length);
  }

  private dropWindow(): void {
    this.window = [];
    this.next = 0;
    this.windowBytes = 0;
  }

  /**
   * One scan of the directory. Entries are read synchronously, a chunk at a time with a turn of the
   * event loop in between, while that is fast: the asynchronous iterator costs a promise per entry,
   * many times the scan itself. A slow file system gets the asynchronous reads.
   */
  private async refill(windowLimit: number): Promise<void> {
    const heap = new BoundedMaxHeap(windowLimit);
    const dir = await opendir(this.dir.path, { bufferSize: SCAN_BATCH });
    const after = this.after;
    const offer = (name: string): void => {
      if ((after === undefined || name > after) && this.shown(name)) heap.offer(name);
    };
    try {
      const pace = new SyncWhileFast();
      let fast = true;
      let inChunk = 0;
      let entry: Dirent | null;
      while ((entry = fast ? dir.readSync() : await dir.read()) !== null) {
        offer(entry.name);
        if (fast && ++inChunk === SCAN_CHUNK) {
          inChunk = 0;
          fast = pace.chunkDone();
          await pace.yield();
        }
      }
    } finally {
      await dir.close();
    }
    this.window = heap.sorted();
    this.next = 0;
    this.windowBytes = heap.bytes;
    this.scannedAll = !heap.evicted;
    if (this.window.length > 0) this.after = this.window[this.window.length - 1];
  }
}

/** The smallest names seen, within a byte limit (always at least one name). */
class BoundedMaxHeap {
  private readonly items: string[] = [];
  bytes = 0;
  /** Whether some name was left out for lack of room. */
  evicted = false;

  constructor(private readonly limit: number) {}

  offer(name: string): void {
    const cost = nameCost(name);
    if (this.items.length > 0 && this.bytes + cost > this.limit) {
      this.evicted = true;
      if (name >= this.items[0]!) return;
      // Bigger names make room; if the rest still leaves none, `name` itself stays out.
      while (this.items.length > 0 && this.bytes + cost > this.limit && this.items[0]! > name) this.bytes -= nameCost(this.pop());
      if (this.items.length > 0 && this.bytes + cost > this.limit) return;
    }
    this.push(name);
    this.bytes += cost;
  }

  sorted(): string[] {
    return this.items.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  private push(name: string): void {
    const items = this.items;
    items.push(name);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]! >= items[i]!) break;
      [items[parent], items[i]] = [items[i]!, items[parent]!];
      i = parent;
    }
  }

  private pop(): string {
    const items = this.items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let largest = i;
        if (left < items.length && items[left]! > items[largest]!) largest = left;
        if (right < items.length && items[right]! > items[largest]!) largest = right;
        if (largest === i) break;
        [items[largest], items[i]] = [items[i]!, items[largest]!];
        i = largest;
      }
    }
    return top;
  }
}

function ignore(): void {}
