import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SyncReads, isLocalRegularFile } from '../../../../src/core/fs/sync-reads.js';
import { makeTempDir } from '../fixtures.js';

describe('synchronous reads (regular files on local filesystems only)', () => {
  const opened: number[] = [];
  const temps: { remove: () => Promise<void> }[] = [];
  afterAll(async () => {
    opened.forEach((fd) => closeSync(fd));
    await Promise.all(temps.map((temp) => temp.remove()));
  });
  const tempDir = async (): Promise<string> => {
    const temp = await makeTempDir();
    temps.push(temp);
    return temp.dir;
  };

  it('allows a regular file on a local filesystem, reads it right, and refuses a FIFO', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'data.bin');
    writeFileSync(file, 'hello, world');
    const fd = openSync(file, 'r');
    opened.push(fd);
    expect(isLocalRegularFile(fd)).toBe(true);
    const buffer = Buffer.alloc(5);
    expect(new SyncReads({ fd }).tryRead(buffer, 7)).toBe(5);
    expect(buffer.toString()).toBe('world');

    // A FIFO read would wait for a writer, holding the event loop: never synchronous.
    const fifo = path.join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const pipeFd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    opened.push(pipeFd);
    expect(isLocalRegularFile(pipeFd)).toBe(false);
    expect(new SyncReads({ fd: pipeFd }).tryRead(Buffer.alloc(1), 0)).toBeUndefined();
  });

  it('leaves a closed handle to the thread pool (its number may belong to another file by then)', async () => {
    const dir = await tempDir();
    writeFileSync(path.join(dir, 'f'), 'x');
    const handle = await open(path.join(dir, 'f'));
    const reads = new SyncReads(handle);
    expect(reads.tryRead(Buffer.alloc(1), 0)).toBe(1);
    await handle.close();
    expect(reads.tryRead(Buffer.alloc(1), 0)).toBeUndefined();
  });
});
