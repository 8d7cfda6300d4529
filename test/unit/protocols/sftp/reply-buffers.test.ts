import { describe, expect, it } from 'vitest';
import { DATA_HEADER, MAX_IO } from '../../../../src/protocols/sftp/codec.js';
import { giveReplyBuffer, takeReplyBuffer } from '../../../../src/protocols/sftp/reply-buffers.js';

const FULL = DATA_HEADER + MAX_IO;

describe('reply buffers (large READ replies reuse memory across channels)', () => {
  it('hands a returned buffer out again, and never one that is still out', () => {
    const first = takeReplyBuffer(FULL);
    const second = takeReplyBuffer(FULL - 100);
    expect(second.buffer).not.toBe(first.buffer);
    giveReplyBuffer(first.subarray(0, 5000)); // what was sent: a view of the start
    const third = takeReplyBuffer(FULL);
    expect(third.buffer).toBe(first.buffer);
    expect(third.length).toBe(FULL);
    expect(takeReplyBuffer(FULL).buffer).not.toBe(second.buffer);
  });

  it('takes back a buffer once however often it is given', () => {
    const buffer = takeReplyBuffer(FULL);
    giveReplyBuffer(buffer);
    giveReplyBuffer(buffer);
    expect(takeReplyBuffer(FULL).buffer).toBe(buffer.buffer);
    expect(takeReplyBuffer(FULL).buffer).not.toBe(buffer.buffer);
  });

  it('gives small replies memory of their own and ignores buffers it did not hand out', () => {
    const small = takeReplyBuffer(1000);
    expect(small.length).toBe(1000);
    giveReplyBuffer(small);
    const foreign = Buffer.allocUnsafeSlow(FULL);
    giveReplyBuffer(foreign);
    const next = takeReplyBuffer(FULL);
    expect(next.buffer).not.toBe(foreign.buffer);
    expect(next.buffer).not.toBe(small.buffer);
  });

  it('keeps at most 32 buffers (8 MiB) for reuse', () => {
    const out = Array.from({ length: 40 }, () => takeReplyBuffer(FULL));
    for (const buffer of out) giveReplyBuffer(buffer);
    const again = Array.from({ length: 40 }, () => takeReplyBuffer(FULL));
    const reused = again.filter((buffer) => out.some((old) => old.buffer === buffer.buffer));
    expect(reused).toHaveLength(32);
  });
});
