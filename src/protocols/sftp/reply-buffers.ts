/**
 * Buffers for large READ replies, reused across every SFTP channel of the process. A download
 * otherwise allocates its whole size again in fresh 255 KiB buffers: each one is new memory for
 * the kernel to fault in as the file is read into it, and for V8 to account and collect. A reply
 * buffer comes back once the channel has taken its bytes (ssh2 copies them into its own packets
 * before it reports the write done); a reply that never goes out is simply left to the collector.
 */
import { DATA_HEADER, MAX_IO } from './codec.js';

const SIZE = DATA_HEADER + MAX_IO;
/** Replies smaller than this get a buffer of their own size (a pooled one would waste most of it). */
const POOLED_FROM = SIZE / 4;
/** Buffers kept for reuse, gateway-wide: 8 MiB at most, whatever the number of connections. */
const KEEP = 32;

const free: Buffer[] = [];
/** The full-size buffer of each pooled allocation, by its memory: only those are ever taken back. */
const pooled = new WeakMap<ArrayBufferLike, Buffer>();

/** A buffer of `length` bytes for a reply (its contents are undefined). */
export function takeReplyBuffer(length: number): Buffer {
  if (length < POOLED_FROM || length > SIZE) return Buffer.allocUnsafe(length);
  let buffer = free.pop();
  if (!buffer) {
    buffer = Buffer.allocUnsafeSlow(SIZE);
    pooled.set(buffer.buffer, buffer);
  }
  return buffer.subarray(0, length);
}

/** A reply whose bytes have been taken: if its memory came from takeReplyBuffer(), it is reused. */
export function giveReplyBuffer(packet: Buffer): void {
  const buffer = pooled.get(packet.buffer);
  if (buffer && free.length < KEEP && !free.includes(buffer)) free.push(buffer);
}
