/**
 * FileReadStream (FTP RETR): as a plain stream and through `sendTo`, the bytes from the offset come
 * out intact; `sendTo` moves a whole file through two buffers and never queues more than one chunk in
 * the sink; a sink that dies mid-file fails the transfer, and the file is closed either way.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileReadStream } from '../../../../src/core/fs/file-read-stream.js';

const CHUNK = 64 * 1024;
const DATA = randomBytes(10 * CHUNK + 123);
const START = 1000;

let dir: string;
let file: string;

async function stream(): Promise<{ source: FileReadStream; ended: number[]; handle: Awaited<ReturnType<typeof open>> }> {
  const handle = await open(file, 'r');
  const ended: number[] = [];
  return { source: new FileReadStream(handle, START, CHUNK, (bytes) => ended.push(bytes)), ended, handle };
}

/** A sink that completes each write a little later and records what it was handed. */
function slowSink(failAfter = Infinity): { sink: Writable; received: Buffer[]; arrays: Set<ArrayBufferLike>; maxQueued: () => number } {
  const received: Buffer[] = [];
  const arrays = new Set<ArrayBufferLike>();
  let maxQueued = 0;
  const sink: Writable = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, done) {
      maxQueued = Math.max(maxQueued, sink.writableLength);
      arrays.add(chunk.buffer);
      received.push(Buffer.from(chunk)); // a copy: the original is read into again
      if (received.length >= failAfter) return void setImmediate(() => done(new Error('client went away')));
      setImmediate(done);
    },
  });
  return { sink, received, arrays, maxQueued: () => maxQueued };
}

describe('FileReadStream', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'filegate-read-'));
    file = path.join(dir, 'data.bin');
    await writeFile(file, DATA);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads from the offset as a plain stream', async () => {
    const { source, ended, handle } = await stream();
    const chunks: Buffer[] = [];
    for await (const chunk of source) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(DATA.subarray(START))).toBe(true);
    expect(ended).toEqual([DATA.length - START]);
    await expect.poll(() => handle.fd).toBe(-1);
  });

  it('sendTo: the same bytes through two reused buffers, one chunk queued at most', async () => {
    const { source, ended, handle } = await stream();
    const { sink, received, arrays, maxQueued } = slowSink();
    await source.sendTo(sink);
    expect(Buffer.concat(received).equals(DATA.subarray(START))).toBe(true);
    expect(received.length).toBe(Math.ceil((DATA.length - START) / CHUNK));
    expect(arrays.size).toBe(2);
    expect(maxQueued()).toBeLessThanOrEqual(CHUNK);
    expect(sink.writableFinished).toBe(true);
    expect(ended).toEqual([DATA.length - START]);
    await expect.poll(() => handle.fd).toBe(-1);
  });

  it('sendTo fails when the sink fails mid-file; destroy closes the file', async () => {
    const { source, ended, handle } = await stream();
    const { sink, received } = slowSink(3);
    await expect(source.sendTo(sink)).rejects.toThrow('client went away');
    expect(received.length).toBeLessThan(5);
    expect(ended).toEqual([]);
    source.destroy();
    await expect.poll(() => handle.fd).toBe(-1);
  });
});
