import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { GuardedFile } from '../../../../src/core/index.js';
import { READ_AHEAD_BLOCK, ReadAhead } from '../../../../src/protocols/sftp/read-ahead.js';

/** A file in memory that counts how it is read: block prefetches vs direct reads. */
function memoryFile(content: Buffer) {
  const calls = { prefetch: 0, direct: 0, served: 0, buffers: new Set<Buffer>() };
  const fill = (buffer: Buffer, position: number): number => content.copy(buffer, 0, Math.min(position, content.length), Math.min(position + buffer.length, content.length));
  const file = {
    prefetch: async (buffer: Buffer, position: number) => (calls.prefetch++, calls.buffers.add(buffer), fill(buffer, position)),
    readInto: async (buffer: Buffer, position: number) => (calls.direct++, fill(buffer, position)),
    served: (bytes: number) => void (calls.served += bytes),
  };
  return { file: file as unknown as GuardedFile, calls };
}

async function readSequentially(reader: ReadAhead, size: number, request: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let position = 0; position < size; position += request) {
    const target = Buffer.alloc(request);
    parts.push(target.subarray(0, await reader.readInto(target, position)));
  }
  return Buffer.concat(parts);
}

describe('SFTP read-ahead', () => {
  const content = randomBytes(4 * READ_AHEAD_BLOCK + 1000);

  it('serves small sequential reads from blocks read ahead, bytes intact', async () => {
    const { file, calls } = memoryFile(content);
    expect((await readSequentially(new ReadAhead(file), content.length, 32 * 1024)).equals(content)).toBe(true);
    expect(calls.prefetch).toBeGreaterThanOrEqual(5);
    expect(calls.prefetch).toBeLessThanOrEqual(6);
    expect(calls.served).toBe(content.length);
  });

  it('reads large requests (OpenSSH: 255 KiB) straight into the reply, never through a block', async () => {
    const { file, calls } = memoryFile(content);
    expect((await readSequentially(new ReadAhead(file), content.length, 255 * 1024)).equals(content)).toBe(true);
    expect(calls.prefetch).toBe(0);
    expect(calls.direct).toBe(Math.ceil(content.length / (255 * 1024)));
  });

  it('holds two blocks at most, whatever the order of the runs (backwards runs once piled up the whole file)', async () => {
    const blocks = 64;
    const { file, calls } = memoryFile(randomBytes(blocks * READ_AHEAD_BLOCK));
    const reader = new ReadAhead(file);
    const small = 32 * 1024;
    for (let k = blocks - 2; k >= 0; k -= 2) {
      // A read that starts a run (direct), then its continuation (from blocks k and k + 1).
      await reader.readInto(Buffer.alloc(small), k * READ_AHEAD_BLOCK);
      await reader.readInto(Buffer.alloc(small), k * READ_AHEAD_BLOCK + small);
      await new Promise((resolve) => setImmediate(resolve)); // retired blocks' buffers come back a turn later
    }
    expect(calls.prefetch).toBe(blocks);
    // Every block buffer ever used: the two held plus the spares kept for reuse, not one per block.
    expect(calls.buffers.size).toBeLessThanOrEqual(2 + 4);
  });
});
