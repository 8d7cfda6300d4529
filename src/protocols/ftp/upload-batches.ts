/**
 * An upload's bytes regrouped into large writes. Sockets deliver at most 64 KiB per read, and each
 * write of the upload stream is a round trip through libuv's thread pool; on a small machine those
 * round trips (thread wake-ups), not the copying, held plain uploads to about half the speed.
 */
import { Transform, type TransformCallback } from 'node:stream';

export interface UploadBatchesOptions {
  batchBytes: number;
  /** How long a partial batch waits for more bytes, so a slow client's data still moves on. */
  maxWaitMs: number;
  /** Runs when the client's data has ended; an error abandons the upload. */
  beforeEnd(): Promise<Error | undefined>;
}

export class UploadBatches extends Transform {
  private parts: Buffer[] = [];
  private size = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: UploadBatchesOptions) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.parts.push(chunk);
    this.size += chunk.length;
    if (this.size >= this.options.batchBytes) this.release();
    else this.timer ??= setTimeout(() => this.release(), this.options.maxWaitMs);
    done();
  }

  override _flush(done: TransformCallback): void {
    void this.options.beforeEnd().then((refusal) => {
      if (refusal) return done(refusal);
      this.release();
      done();
    });
  }

  override _destroy(error: Error | null, done: (error: Error | null) => void): void {
    clearTimeout(this.timer);
    done(error);
  }

  private release(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.size === 0) return;
    this.push(this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size));
    this.parts = [];
    this.size = 0;
  }
}
