/**
 * Control-connection input as whole command lines. TCP may split a command across segments or
 * bundle several in one; lines end at LF (CRLF or a bare LF). A line longer than the limit is
 * reported once and skipped up to its end, so memory stays bounded.
 */

const LF = 0x0a;
const CR = 0x0d;
const IAC = 0xff;
/** Telnet commands (RFC 854) a client may put before ABOR: IP, DM and friends. */
const TELNET_COMMANDS_FROM = 0xf0;

export interface LineSink {
  line(bytes: Buffer): void;
  tooLong(): void;
}

export class LineReader {
  private parts: Buffer[] = [];
  private buffered = 0;
  private skipping = false;
  /** Bumped by clear(): the rest of the chunk being split is dropped too. */
  private generation = 0;

  constructor(
    private readonly maxLength: number,
    private readonly sink: LineSink,
  ) {}

  push(chunk: Buffer): void {
    const generation = this.generation;
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(LF, start);
      if (end === -1) {
        this.keep(chunk.subarray(start));
        return;
      }
      const tail = chunk.subarray(start, end);
      start = end + 1;
      if (this.skipping) {
        this.skipping = false;
        continue;
      }
      const line = this.parts.length === 0 ? tail : Buffer.concat([...this.parts, tail]);
      this.forget();
      if (line.length > this.maxLength) this.sink.tooLong();
      else this.sink.line(stripLineEnd(line));
      if (this.generation !== generation) return;
    }
  }

  /** Forgets buffered input (after AUTH TLS, plaintext that followed the command must not run). */
  clear(): void {
    this.generation++;
    this.forget();
  }

  private forget(): void {
    this.parts = [];
    this.buffered = 0;
  }

  private keep(rest: Buffer): void {
    if (this.skipping || rest.length === 0) return;
    this.buffered += rest.length;
    if (this.buffered > this.maxLength) {
      this.forget();
      this.skipping = true;
      this.sink.tooLong();
      return;
    }
    this.parts.push(Buffer.from(rest)); // a copy: the socket may reuse its buffer
  }
}

function stripLineEnd(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, -1) : line;
}

/** Removes Telnet IAC sequences (clients send `IAC IP IAC DM` before ABOR); `IAC IAC` is a literal 0xff. */
export function stripTelnet(line: Buffer): Buffer {
  if (!line.includes(IAC)) return line;
  const out: number[] = [];
  for (let i = 0; i < line.length; i++) {
    const byte = line[i]!;
    if (byte !== IAC) {
      out.push(byte);
      continue;
    }
    const next = line[i + 1];
    if (next === IAC) {
      out.push(IAC);
      i++;
    } else if (next !== undefined && next >= TELNET_COMMANDS_FROM) {
      i++;
    }
    // a lone IAC (its command byte went out of band as TCP urgent data) is dropped
  }
  return Buffer.from(out);
}
