/**
 * A Writable that stores an upload. With a temporary path, the file appears under its real name only
 * when the stream ends cleanly (`end()`); destroying it first (client abort, lost socket) removes the
 * temporary file, so nothing that looks complete is left behind. 'finish' means stored.
 */
import { rename, unlink, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { CrlfDecoder } from './line-endings.js';

export interface AtomicUploadOptions {
  handle: FileHandle;
  /** Where the next write goes; undefined = append. */
  position: number | undefined;
  realPath: string;
  tempPath: string | undefined;
  highWaterMark: number;
  /** FTP TYPE A: CRLF -> LF before the bytes are stored. */
  decoder?: CrlfDecoder | undefined;
  onDone: (bytes: number, started: number) => void;
}

export class AtomicUpload extends Writable {
  private position: number | undefined;
  private bytes = 0;
  private readonly started = Date.now();
  private completed = false;

  constructor(private readonly options: AtomicUploadOptions) {
    super({ highWaterMark: options.highWaterMark });
    this.position = options.position;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.store(chunk, done);
  }

  override _writev(chunks: { chunk: Buffer }[], done: (error?: Error | null) => void): void {
    this.store(Buffer.concat(chunks.map((c) => c.chunk)), done);
  }

  override _final(done: (error?: Error | null) => void): void {
    const { handle, tempPath, realPath, decoder } = this.options;
    this.writeAll(decoder?.flush() ?? Buffer.alloc(0))
      .then(() => handle.close())
      .then(() => (tempPath ? rename(tempPath, realPath) : undefined))
      .then(() => {
        this.completed = true;
        this.options.onDone(this.bytes, this.started);
        done();
      }, done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    if (this.completed) return done(error);
    const { handle, tempPath } = this.options;
    handle
      .close()
      .catch(() => {})
      .then(() => (tempPath ? unlink(tempPath).catch(() => {}) : undefined))
      .then(() => done(error));
  }

  private store(chunk: Buffer, done: (error?: Error | null) => void): void {
    this.writeAll(this.options.decoder?.push(chunk) ?? chunk).then(() => done(), done);
  }

  private async writeAll(chunk: Buffer): Promise<void> {
    await writeFully(this.options.handle, chunk, this.position ?? null);
    if (this.position !== undefined) this.position += chunk.length;
    this.bytes += chunk.length;
  }
}

/** Writes all of `data` at `position` (null: at the end of an O_APPEND file), however many calls it takes. */
export async function writeFully(handle: FileHandle, data: Buffer, position: number | null): Promise<void> {
  for (let offset = 0; offset < data.length; ) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, position === null ? null : position + offset);
    offset += bytesWritten;
  }
}
