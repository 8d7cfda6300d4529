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
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';

export interface EntryStats {
  name: string;
  stats: Stats;
}

/** Entries stat'ed per synchronous chunk, and per asynchronous batch. */
const CHUNK = 64;
/**
 * Cached metadata takes a few microseconds per entry; a chunk slower than this (over 60 us per
 * entry) means real disk reads. A few in a row (one alone may be the process being descheduled)
 * switch the rest to asynchronous calls.
 */
const SLOW_CHUNK_MS = 4;
const SLOW_CHUNKS_TO_SWITCH = 3;

/** The entries' lstat results, in the given order; entries that vanished are left out. */
export async function statEntries(dirRealPath: string, names: readonly string[]): Promise<EntryStats[]> {
  const out: EntryStats[] = [];
  let index = 0;
  let slowChunks = 0;
  while (index < names.length) {
    const started = performance.now();
    const end = Math.min(index + CHUNK, names.length);
    for (; index < end; index++) {
      const name = names[index]!;
      const stats = lstatSync(path.join(dirRealPath, name), { throwIfNoEntry: false });
      if (stats) out.push({ name, stats });
    }
    slowChunks = performance.now() - started > SLOW_CHUNK_MS ? slowChunks + 1 : 0;
    if (slowChunks >= SLOW_CHUNKS_TO_SWITCH) break;
    if (index < names.length) await nextTurn();
  }
  for (; index < names.length; index += CHUNK) {
    const batch = names.slice(index, index + CHUNK);
    const stats = await Promise.all(batch.map((name) => lstat(path.join(dirRealPath, name)).catch(() => undefined)));
    batch.forEach((name, i) => stats[i] && out.push({ name, stats: stats[i] }));
  }
  return out;
}
