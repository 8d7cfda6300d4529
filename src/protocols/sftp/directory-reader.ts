/**
 * The READDIR replies of one directory handle. OpenSSH's client, like most, asks for the next page
 * only once it has the previous one, so a long listing is a chain of round trips: while the client
 * takes in one reply, the reader prepares the next, if the connection's pool for directory memory
 * has room for it. What a handle holds between READDIRs, its window of names (see DirectoryPages)
 * and a prepared reply, counts against that pool.
 */
import type { DirectoryPages } from '../../core/index.js';
import { LongNames, toWireAttributes } from './attributes.js';
import { reply } from './codec.js';
import type { Quota } from './handles.js';

/**
 * Entries per READDIR reply, and the bytes of their names: a reply stays under 100 KiB, well inside
 * the 256 KiB packet OpenSSH's and most other clients accept (an entry's long name and attributes
 * take under 128 bytes besides its name, which it holds twice).
 */
const PAGE_ENTRIES = 512;
const PAGE_NAME_BYTES = 16 * 1024;
/** The most a reply can take: what a prepared one reserves until its size is known. */
const PAGE_MAX_BYTES = PAGE_ENTRIES * 128 + 2 * PAGE_NAME_BYTES + 2 * 255;
/** Bytes of names a handle keeps between READDIRs: at most this, at least the floor. */
const WINDOW_MAX = 2 * 1024 * 1024;
const WINDOW_MIN = 32 * 1024;
const noop = (): void => {};

export class DirectoryReader {
  /** Pool bytes held by the window of names, and by the prepared reply. */
  private windowHeld = 0;
  private preparedHeld = 0;
  private prepared: Promise<Buffer | undefined> | undefined;
  /** Pages are read one after another (a client may send READDIRs without waiting). */
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly pages: DirectoryPages,
    private readonly pool: Quota,
  ) {}

  /** The next NAME reply, with its request id still to be written at offset 5; undefined at the end. */
  async next(): Promise<Buffer | undefined> {
    const prepared = this.prepared;
    this.prepared = undefined;
    let page: Buffer | undefined;
    try {
      page = await (prepared ?? this.read());
    } finally {
      if (prepared) this.release('preparedHeld');
    }
    if (page) this.prepareNext();
    return page;
  }

  /** The handle is closed: whatever it holds goes back to the pool. */
  close(): void {
    this.closed = true;
    this.release('windowHeld');
    this.release('preparedHeld');
  }

  private release(field: 'windowHeld' | 'preparedHeld'): void {
    this.pool.used -= this[field];
    this[field] = 0;
  }

  /** Starts reading the page after the ones asked for so far, unless one is prepared already. */
  private prepareNext(): void {
    if (this.closed || this.prepared || this.pool.max - this.pool.used < PAGE_MAX_BYTES) return;
    this.pool.used += PAGE_MAX_BYTES;
    this.preparedHeld = PAGE_MAX_BYTES;
    const prepared = this.read().then((page) => {
      if (this.preparedHeld > 0) {
        // Down from the reservation to what the reply takes.
        const held = page?.length ?? 0;
        this.pool.used += held - this.preparedHeld;
        this.preparedHeld = held;
      }
      return page;
    });
    prepared.catch(noop); // its error is the next READDIR's answer, if one comes
    this.prepared = prepared;
  }

  private read(): Promise<Buffer | undefined> {
    const page = this.queue.then(() => this.readNow());
    this.queue = page.then(noop, noop); // the order only: holding on to the page would keep its buffer
    return page;
  }

  /**
   * One page. The window for later pages comes out of the pool: a refill gets what the pool has
   * left, within a floor and a ceiling, taken before the scan so that handles scanning at once do
   * not all count on the same room.
   */
  private async readNow(): Promise<Buffer | undefined> {
    const pool = this.pool;
    this.release('windowHeld');
    const room = Math.min(WINDOW_MAX, Math.max(WINDOW_MIN, pool.max - pool.used));
    pool.used += room;
    let entries;
    try {
      entries = await this.pages.page(PAGE_ENTRIES, room, PAGE_NAME_BYTES);
    } finally {
      pool.used -= room;
      if (!this.closed) {
        this.windowHeld = this.pages.heldBytes;
        pool.used += this.windowHeld;
      }
    }
    if (entries.length === 0) return undefined;
    const longNames = new LongNames();
    return reply.name(0, entries.map(({ name, stats }) => ({ filename: name, longname: longNames.format(name, stats), attrs: toWireAttributes(stats) })));
  }
}

