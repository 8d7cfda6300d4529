/** batchWrites: small chunks reach the sink as large vectored writes, a slow client's bytes still move, a slow sink never stalls it. */
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { batchWrites } from '../../../../src/protocols/ftp/upload-batches.js';

/** A sink recording each write call as the list of chunks it got; `delayMs` makes it a slow disk. */
function recorder(options: { delayMs?: number; highWaterMark?: number } = {}): { writes: Buffer[][]; sink: Writable } {
  const writes: Buffer[][] = [];
  const settle = (done: () => void): void => void (options.delayMs ? setTimeout(done, options.delayMs) : done());
  const sink = new Writable({
    highWaterMark: options.highWaterMark,
    write: (chunk: Buffer, _encoding, done) => (writes.push([chunk]), settle(done)),
    writev: (chunks, done) => (writes.push(chunks.map((c) => c.chunk as Buffer)), settle(done)),
  });
  return { writes, sink };
}

async function upload(source: Readable, sink: Writable, batchBytes: number, maxWaitMs: number): Promise<void> {
  const piped = pipeline(source, sink, { end: false });
  const batches = batchWrites(source, sink, { batchBytes, maxWaitMs });
  await piped;
  batches.stop();
  await new Promise<void>((resolve) => sink.end(resolve));
}

describe('batchWrites', () => {
  it('turns many small chunks into vectored writes of at least the batch size, bytes unchanged and not copied', async () => {
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(300, i));
    const { writes, sink } = recorder();
    await upload(Readable.from(chunks), sink, 1000, 1000);
    const sizes = writes.map((parts) => parts.reduce((sum, part) => sum + part.length, 0));
    expect(sizes.slice(0, -1).every((size) => size >= 1000)).toBe(true);
    expect(writes.length).toBeLessThanOrEqual(12);
    expect(writes.flat().every((part, i) => part === chunks[i])).toBe(true);
  });

  it('passes a partial batch on after maxWaitMs, without waiting for more bytes', async () => {
    const source = new PassThrough();
    const { writes, sink } = recorder();
    const piped = pipeline(source, sink, { end: false });
    const batches = batchWrites(source, sink, { batchBytes: 1_000_000, maxWaitMs: 5 });
    source.write(Buffer.from('slow'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(Buffer.concat(writes.flat()).toString()).toBe('slow');
    source.end();
    await piped;
    batches.stop();
    expect(sink.writableCorked).toBe(0);
  });

  it('a slow sink with a small buffer never stalls the upload (the batch is released while the source waits)', async () => {
    const chunks = Array.from({ length: 200 }, (_, i) => Buffer.alloc(1000, i));
    const { writes, sink } = recorder({ delayMs: 1, highWaterMark: 4000 });
    await upload(Readable.from(chunks), sink, 1_000_000, 3);
    expect(Buffer.concat(writes.flat()).equals(Buffer.concat(chunks))).toBe(true);
  });
});
