/** UploadBatches: regroups small chunks into large writes, flushes a slow client's bytes, can refuse the end. */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { UploadBatches } from '../../../../src/protocols/ftp/upload-batches.js';

function collector(): { writes: Buffer[]; sink: Writable } {
  const writes: Buffer[] = [];
  return { writes, sink: new Writable({ write: (chunk: Buffer, _e, done) => (writes.push(chunk), done()) }) };
}

describe('UploadBatches', () => {
  it('turns many small chunks into writes of the batch size, the rest at the end, bytes unchanged', async () => {
    const chunks = Array.from({ length: 10 }, (_, i) => Buffer.alloc(300, i));
    const { writes, sink } = collector();
    await pipeline(Readable.from(chunks), new UploadBatches({ batchBytes: 1000, maxWaitMs: 1000, beforeEnd: async () => undefined }), sink);
    expect(writes.map((w) => w.length)).toEqual([1200, 1200, 600]);
    expect(Buffer.concat(writes).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('passes a partial batch on after maxWaitMs, without waiting for more bytes', async () => {
    const batches = new UploadBatches({ batchBytes: 1_000_000, maxWaitMs: 5, beforeEnd: async () => undefined });
    const { writes, sink } = collector();
    batches.pipe(sink);
    batches.write(Buffer.from('slow'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(Buffer.concat(writes).toString()).toBe('slow');
    batches.end();
  });

  it('an error from beforeEnd fails the pipeline and holds back the last batch', async () => {
    const { writes, sink } = collector();
    const refused = new Error('client gone');
    const run = pipeline(Readable.from([Buffer.from('partial')]), new UploadBatches({ batchBytes: 1000, maxWaitMs: 1000, beforeEnd: async () => refused }), sink);
    await expect(run).rejects.toBe(refused);
    expect(writes).toEqual([]);
  });
});
