/**
 * A Writable that stores an upload. Its bytes go to a temporary file, and reach the real name only
 * when the stream ends cleanly (`end()`): a whole upload by a rename over the real name, an upload
 * into an existing file (append, or from an offset) by copying the bytes into place. Destroying it
 * first (client abort, lost socket) removes the temporary file and leaves the real one untouched,
 * so nothing half-written ever appears. 'finish' means stored.
 */
import { constants } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { CrlfDecoder } from './line-endings.js';
import { SyncIo } from './sync-io.js';

/** Where the stored bytes go into an existing (or new) file at the end: at `start`, or appended. */
export interface InPlaceTarget {
  /** undefined = appended at the file's end as it is at commit time. */
  start: number | undefined;
  /** open(2) flags for the real file (no-follow, write, create). */
  flags: number;
}

export interface AtomicUploadOptions {
  /** The temporary file, open for reading and writing. */
  handle: FileHandle;
  /** The final and the temporary name, as paths relative to a directory held open (see HeldDir). */
  finalPath: string;
  tempPath: string;
  /** Called once, after the last use of either path: the directory may be let go. */
  release: () => void;
  /** Set: the bytes are copied into the real file at commit; unset: the temporary file replaces it. */
  inPlace?: InPlaceTarget | undefined;
  highWaterMark: number;
  /** FTP TYPE A: CRLF -> LF before the bytes are stored. */
  decoder?: CrlfDecoder | undefined;
  onDone: (bytes: number, started: number) => void;
}

/** Chunk size of the copy into place. */
const COPY_CHUNK = 1024 * 1024;

export class AtomicUpload extends Writable {
  private bytes = 0;
  private readonly started = Date.now();
  private completed = false;
  /** The commit is under way: a destroy meanwhile leaves the clean-up to it. */
  private committing = false;
  private released = false;
  private readonly syncIo: SyncIo;

  constructor(private readonly options: AtomicUploadOptions) {
    super({ highWaterMark: options.highWaterMark });
    this.syncIo = new SyncIo(options.handle);
  }

  /**
   * Stores `chunk` now, synchronously (see SyncIo), and returns true; false when it must go through
   * write() instead: the file does not take synchronous writes, or earlier writes are still queued.
   * The caller may reuse `chunk` as soon as this returns true (a socket's one read buffer).
   */
  writeNow(chunk: Buffer): boolean {
    if (this.writableLength > 0 || this.writableCorked > 0 || this.writableEnded || this.destroyed || !this.syncIo.allowed) return false;
    const data = this.options.decoder ? this.options.decoder.push(chunk) : chunk;
    this.syncIo.write(data, this.bytes);
    this.bytes += data.length;
    return true;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.store([chunk], done);
  }

  /** Chunks buffered meanwhile (or corked by the caller) go out in one vectored write, not copied together. */
  override _writev(chunks: { chunk: Buffer }[], done: (error?: Error | null) => void): void {
    this.store(chunks.map((c) => c.chunk), done);
  }

  override _final(done: (error?: Error | null) => void): void {
    const { handle, tempPath, finalPath, decoder, inPlace } = this.options;
    this.committing = true;
    this.writeAll(decoder ? [decoder.flush()] : [])
      .then(() => (inPlace ? this.copyIntoPlace(inPlace) : undefined))
      .then(() => handle.close())
      .then(() => (inPlace ? unlink(tempPath) : rename(tempPath, finalPath)))
      .then(
        () => {
          this.completed = true;
          this.options.onDone(this.bytes, this.started);
        },
        (err: Error) => this.discard().then(() => Promise.reject(err)),
      )
      .finally(() => this.release())
      .then(() => done(), done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    if (this.completed || this.committing) return done(error);
    this.discard()
      .finally(() => this.release())
      .then(() => done(error));
  }

  /** Removes the temporary file (the real one was never touched). */
  private async discard(): Promise<void> {
    await this.options.handle.close().catch(() => {});
    await unlink(this.options.tempPath).catch(() => {});
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.options.release();
  }

  /** Copies the stored bytes into the real file (append or at the offset). */
  private async copyIntoPlace({ start, flags }: InPlaceTarget): Promise<void> {
    const target = await open(this.options.finalPath, flags | (start === undefined ? constants.O_APPEND : 0), 0o644);
    try {
      const buffer = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(this.bytes, 1)));
      for (let offset = 0; offset < this.bytes; ) {
        const { bytesRead } = await this.options.handle.read(buffer, 0, buffer.length, offset);
        if (bytesRead === 0) throw new Error('upload temporary file shorter than written');
        await writeFully(target, buffer.subarray(0, bytesRead), start === undefined ? null : start + offset);
        offset += bytesRead;
      }
    } finally {
      await target.close();
    }
  }

  private store(chunks: Buffer[], done: (error?: Error | null) => void): void {
    const decoder = this.options.decoder;
    this.writeAll(decoder ? chunks.map((chunk) => decoder.push(chunk)) : chunks).then(() => done(), done);
  }

  private async writeAll(chunks: Buffer[]): Promise<void> {
    const size = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    if (size === 0) return;
    if (chunks.length === 1) {
      await writeFully(this.options.handle, chunks[0]!, this.bytes);
    } else {
      const { bytesWritten } = await this.options.handle.writev(chunks, this.bytes);
      // libuv writes the whole vector to a regular file; a short write (disk full midway) is finished or fails here.
      if (bytesWritten < size) await writeFully(this.options.handle, Buffer.concat(chunks).subarray(bytesWritten), this.bytes + bytesWritten);
    }
    this.bytes += size;
  }
}

/** Writes all of `data` at `position` (null: at the end of an O_APPEND file), however many calls it takes. */
export async function writeFully(handle: FileHandle, data: Buffer, position: number | null): Promise<void> {
  for (let offset = 0; offset < data.length; ) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, position === null ? null : position + offset);
    offset += bytesWritten;
  }
}
