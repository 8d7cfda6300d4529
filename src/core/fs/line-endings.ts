/**
 * RFC 959 ASCII (TYPE A) conversion for FTP, as stateful chunk converters so a CR or CRLF split
 * across chunk boundaries is handled. Storage keeps Unix line endings (LF).
 */
import { Transform, type TransformCallback } from 'node:stream';

const CR = 0x0d;
const LF = 0x0a;

/** Storage -> network: a bare LF becomes CRLF; an existing CRLF stays as it is. */
export class LfToCrlf extends Transform {
  private lastWasCr = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const out = Buffer.allocUnsafe(chunk.length * 2);
    let n = 0;
    for (const byte of chunk) {
      if (byte === LF && !this.lastWasCr) out[n++] = CR;
      out[n++] = byte;
      this.lastWasCr = byte === CR;
    }
    done(null, out.subarray(0, n));
  }
}

/**
 * Network -> storage: CRLF becomes LF; a lone CR stays. A CR at a chunk's end is held back until the
 * next chunk (or the end) shows whether an LF follows. A plain state machine, so an upload stream
 * can convert inside itself.
 */
export class CrlfDecoder {
  private pendingCr = false;

  push(chunk: Buffer): Buffer {
    const out = Buffer.allocUnsafe(chunk.length + 1);
    let n = 0;
    for (const byte of chunk) {
      if (this.pendingCr && byte !== LF) out[n++] = CR;
      this.pendingCr = byte === CR;
      if (!this.pendingCr) out[n++] = byte;
    }
    return out.subarray(0, n);
  }

  /** What is still held back at the end of the input. */
  flush(): Buffer {
    const rest = this.pendingCr ? Buffer.from([CR]) : Buffer.alloc(0);
    this.pendingCr = false;
    return rest;
  }
}
