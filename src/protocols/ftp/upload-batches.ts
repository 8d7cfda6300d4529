/**
 * An upload's bytes grouped into large writes. Sockets deliver at most 64 KiB per read, and each
 * write of the upload stream is a round trip through libuv's thread pool; on a small machine those
 * round trips (thread wake-ups) held plain uploads to about half the speed. The sink is corked
 * while a batch gathers, so the whole batch reaches it as one list of chunks (one vectored write,
 * nothing copied together).
 */
import type { Readable, Writable } from 'node:stream';

export interface UploadBatchesOptions {
  batchBytes: number;
  /** How long a partial batch waits for more bytes, so a slow client's data still moves on. */
  maxWaitMs: number;
}

/**
 * Batches what `source` writes into `sink`: the first chunk of a batch corks the sink, and the batch
 * is released (uncorked) once it holds `batchBytes` or `maxWaitMs` after its first chunk, so the
 * sink is never left corked while the source waits for it to drain. `stop()` releases the rest.
 */
export function batchWrites(source: Readable, sink: Writable, { batchBytes, maxWaitMs }: UploadBatchesOptions): { stop(): void } {
  let gathered = 0;
  let timer: NodeJS.Timeout | undefined;
  const release = (): void => {
    if (timer === undefined) return;
    clearTimeout(timer);
    timer = undefined;
    gathered = 0;
    sink.uncork();
  };
  // Runs before the pipe's own listener writes the chunk, so the chunk joins the corked batch.
  const count = (chunk: Buffer): void => {
    if (timer === undefined) {
      sink.cork();
      timer = setTimeout(release, maxWaitMs);
    }
    gathered += chunk.length;
    if (gathered >= batchBytes) queueMicrotask(release); // after the pipe has written this chunk
  };
  source.prependListener('data', count);
  return {
    stop() {
      source.removeListener('data', count);
      release();
    },
  };
}
