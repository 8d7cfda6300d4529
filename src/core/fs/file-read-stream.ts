/**
 * A file's bytes from an offset, as a Readable (FTP RETR). As an ordinary stream every chunk is a
 * new buffer; `sendTo` instead moves the bytes through two buffers it reuses for the whole file.
 * With many parallel downloads the fresh 1 MiB chunks cost more than the copying: every one is
 * page-faulted in anew, and their external memory keeps triggering full garbage collections.
 * `sendTo` reads synchronously where SyncIo allows it.
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { SyncIo } from './sync-io.js';

export class FileReadStream extends Readable {
  private position: number;
  private sending = false;
  private readonly syncIo: SyncIo;

  constructor(
    private readonly handle: FileHandle,
    private readonly start: number,
    private readonly chunkBytes: number,
    /** Called once at the end of the file with the bytes read. */
    private readonly onEnd: (bytes: number) => void,
  ) {
    super({ highWaterMark: chunkBytes });
    this.position = start;
    this.syncIo = new SyncIo(handle);
  }

  get bytesRead(): number {
    return this.position - this.start;
  }

  override _read(): void {
    const buffer = Buffer.allocUnsafe(this.chunkBytes);
    this.handle.read(buffer, 0, buffer.length, this.position).then(
      ({ bytesRead }) => {
        this.position += bytesRead;
        if (bytesRead > 0) return void this.push(buffer.subarray(0, bytesRead));
        this.onEnd(this.bytesRead);
        this.push(null);
      },
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.handle.close().then(() => done(err), (closeErr: Error) => done(err ?? closeErr));
  }

  /**
   * Writes the rest of the file to `sink` and ends it; resolves once `sink` has finished. The next
   * buffer is read while the previous one is being written, and a buffer is read into again only
   * after its write completed (the sink holds it until then), so at most one chunk waits in `sink`.
   * Not to be mixed with reading this stream otherwise.
   */
  async sendTo(sink: Writable): Promise<void> {
    if (this.sending || this.readableFlowing !== null) throw new Error('FileReadStream: already being read');
    this.sending = true;
    const done = finished(sink, { readable: false });
    done.catch(() => {}); // raced below, awaited at the end
    const buffers = [Buffer.allocUnsafe(this.chunkBytes), Buffer.allocUnsafe(this.chunkBytes)];
    // Settles with the write's error rather than rejecting: the error to report is the sink's own
    // (an abort's reason), which `done` carries.
    let writing: Promise<Error | null | undefined> = Promise.resolve(undefined);
    for (let turn = 0; ; turn++) {
      if (this.destroyed) throw new Error('FileReadStream: destroyed during the transfer');
      const buffer = buffers[turn % 2]!;
      const bytesRead = this.syncIo.tryRead(buffer, this.position) ?? (await this.handle.read(buffer, 0, buffer.length, this.position)).bytesRead;
      const failed = await Promise.race([writing, done.then(() => undefined)]);
      if (failed) {
        await done;
        throw failed;
      }
      if (bytesRead === 0) break;
      this.position += bytesRead;
      writing = new Promise((resolve) => sink.write(buffer.subarray(0, bytesRead), resolve));
    }
    this.onEnd(this.bytesRead);
    sink.end();
    await done;
    this.destroy();
  }
}

/** `pipeline(source, sink)`, but a FileReadStream sends through its reused buffers. */
export function sendStream(source: Readable, sink: Writable): Promise<void> {
  return source instanceof FileReadStream ? source.sendTo(sink) : pipeline(source, sink);
}
