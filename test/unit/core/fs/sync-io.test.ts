import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { SyncIo } from '../../../../src/core/fs/sync-io.js';
import { GuardedFs } from '../../../../src/core/index.js';
import { makeSession, makeTempDir } from '../fixtures.js';

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
    expect(new SyncIo({ fd }).allowed).toBe(true);
    const buffer = Buffer.alloc(5);
    expect(new SyncIo({ fd }).tryRead(buffer, 7)).toBe(5);
    expect(buffer.toString()).toBe('world');

    // A FIFO read would wait for a writer, holding the event loop: never synchronous.
    const fifo = path.join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const pipeFd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    opened.push(pipeFd);
    expect(new SyncIo({ fd: pipeFd }).allowed).toBe(false);
    expect(new SyncIo({ fd: pipeFd }).tryRead(Buffer.alloc(1), 0)).toBeUndefined();
  });

  it('leaves a closed handle to the thread pool (its number may belong to another file by then)', async () => {
    const dir = await tempDir();
    writeFileSync(path.join(dir, 'f'), 'x');
    const handle = await open(path.join(dir, 'f'));
    const reads = new SyncIo(handle);
    expect(reads.tryRead(Buffer.alloc(1), 0)).toBe(1);
    await handle.close();
    expect(reads.tryRead(Buffer.alloc(1), 0)).toBeUndefined();
  });
});

describe('synchronous upload writes (AtomicUpload.writeNow)', () => {
  it('writes at once on a local filesystem, declines while a queued write is pending, and keeps the order', async () => {
    const temp = await makeTempDir();
    try {
      mkdirSync(path.join(temp.dir, 'home'));
      const fs = await GuardedFs.forSession(makeSession({ root_path: 'home' }), temp.dir);
      const upload = await fs.openWriteStream('up.bin');
      expect(upload.writeNow(Buffer.from('one,'))).toBe(true);
      upload.write(Buffer.from('two,')); // queued: goes through the thread pool
      expect(upload.writeNow(Buffer.from('three'))).toBe(false); // would overtake 'two,'
      await new Promise((resolve) => upload.write(Buffer.from('three'), resolve));
      expect(upload.writeNow(Buffer.from(',four'))).toBe(true);
      upload.end();
      await finished(upload);
      expect(readFileSync(path.join(temp.dir, 'home', 'up.bin'), 'utf8')).toBe('one,two,three,four');
    } finally {
      await temp.remove();
    }
  });
});
