/**
 * lstat for the entries of one directory listing, fast. Node's asynchronous lstat costs a trip
 * through the thread pool per entry, about three times the system call itself; for a listing of
 * thousands of entries that trip, not the disk, was most of the time. While the metadata is cached
 * (the common case, and each call then takes microseconds) entries are stat'ed synchronously in
 * small chunks, yielding to the event loop between chunks; as soon as a chunk is slow (the disk is
 * really being read), the rest goes through the asynchronous calls, in bounded parallel batches, so
 * the event loop is never held for long.
 */
import { lstatSync, type Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';

export interface EntryStats {
  name: string;
  stats: Stats;
}

/** Entries stat'ed per synchronous chunk, and per asynchronous batch. */
const CHUNK = 128;
/** Parsed once: lstatSync reads its options on every call. */
const NO_THROW = { throwIfNoEntry: false } as const;

/**
 * Whether synchronous file system calls are still cheap: cached metadata takes a few microseconds
 * per call; a chunk of calls slower than SLOW_CHUNK_MS means real disk reads. A few slow chunks in
 * a row (one alone may be the process being descheduled) say: go asynchronous for the rest.
 */
export class SyncWhileFast {
  private static readonly SLOW_CHUNK_MS = 4;
  private static readonly SLOW_CHUNKS_TO_SWITCH = 3;
  private slowChunks = 0;
  private started = performance.now();

  /** Ends a chunk of synchronous calls; false once they have been slow too often. */
  chunkDone(): boolean {
    const now = performance.now();
    this.slowChunks = now - this.started > SyncWhileFast.SLOW_CHUNK_MS ? this.slowChunks + 1 : 0;
    this.started = now;
    return this.slowChunks < SyncWhileFast.SLOW_CHUNKS_TO_SWITCH;
  }

  /** Lets the event loop run between chunks. */
  async yield(): Promise<void> {
    await nextTurn();
    this.started = performance.now();
  }
}

/** The entries' lstat results, in the given order; entries that vanished are left out. */
export async function statEntries(dirRealPath: string, names: readonly string[]): Promise<EntryStats[]> {
  const out: EntryStats[] = [];
  const prefix = dirRealPath.endsWith('/') ? dirRealPath : `${dirRealPath}/`;
  const pace = new SyncWhileFast();
  let index = 0;
  while (index < names.length) {
    const end = Math.min(index + CHUNK, names.length);
    for (; index < end; index++) {
      const name = names[index]!;
      const stats = lstatSync(prefix + name, NO_THROW);
      if (stats) out.push({ name, stats });
    }
    if (!pace.chunkDone()) break;
    if (index < names.length) await pace.yield();
  }
  for (; index < names.length; index += CHUNK) {
    const batch = names.slice(index, index + CHUNK);
    const stats = await Promise.all(batch.map((name) => lstat(prefix + name).catch(() => undefined)));
    batch.forEach((name, i) => stats[i] && out.push({ name, stats: stats[i] }));
  }
  return out;
}
