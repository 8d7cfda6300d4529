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

/** Network -> storage: CRLF becomes LF; a lone CR stays. A CR at a chunk's end waits for the next. */
export class CrlfToLf extends Transform {
  private pendingCr = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const out = Buffer.allocUnsafe(chunk.length + 1);
    let n = 0;
    for (const byte of chunk) {
      if (this.pendingCr && byte !== LF) out[n++] = CR;
      this.pendingCr = byte === CR;
      if (!this.pendingCr) out[n++] = byte;
    }
    done(null, out.subarray(0, n));
  }

  override _flush(done: TransformCallback): void {
    done(null, this.pendingCr ? Buffer.from([CR]) : undefined);
  }
}
