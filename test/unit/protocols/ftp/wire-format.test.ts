/** The FTP adapter's wire helpers: line framing, Telnet stripping, reply format, listing formats, time-vals. */
import { describe, expect, it } from 'vitest';
import type { Stats } from 'node:fs';
import { LineReader, stripTelnet } from '../../../../src/protocols/ftp/line-reader.js';
import { formatReply, quotePath } from '../../../../src/protocols/ftp/reply.js';
import { ftpTime, lsLine, mlsxFacts, parseFtpTime } from '../../../../src/protocols/ftp/listing.js';

function reader(maxLength = 16): { lines: string[]; push(text: string): void; clear(): void } {
  const lines: string[] = [];
  const lineReader = new LineReader(maxLength, {
    line: (bytes) => lines.push(bytes.toString('latin1')),
    tooLong: () => lines.push('<too long>'),
  });
  return { lines, push: (text) => lineReader.push(Buffer.from(text, 'latin1')), clear: () => lineReader.clear() };
}

describe('LineReader', () => {
  it('joins a line split across chunks and splits several lines in one chunk; CRLF or LF', () => {
    const r = reader();
    r.push('US');
    r.push('ER a\r');
    r.push('\nNOOP\nPWD\r\nPA');
    expect(r.lines).toEqual(['USER a', 'NOOP', 'PWD']);
    r.push('SS x\r\n');
    expect(r.lines.at(-1)).toBe('PASS x');
  });

  it('reports an over-long line once, skips it to its end, then reads on', () => {
    const r = reader(8);
    r.push('0123456');
    r.push('789abcdef');
    r.push('ghij\r\nNOOP\r\n');
    expect(r.lines).toEqual(['<too long>', 'NOOP']);
    r.push('0123456789\r\nPWD\r\n');
    expect(r.lines).toEqual(['<too long>', 'NOOP', '<too long>', 'PWD']);
  });

  it('clear() drops what is buffered and the rest of the chunk being split', () => {
    const lines: string[] = [];
    const lineReader: LineReader = new LineReader(64, {
      line: (bytes) => {
        lines.push(bytes.toString());
        if (bytes.toString() === 'AUTH TLS') lineReader.clear();
      },
      tooLong: () => {},
    });
    lineReader.push(Buffer.from('AUTH TLS\r\nUSER evil\r\nPA'));
    lineReader.push(Buffer.from('SS x\r\nNOOP\r\n'));
    // "USER evil" and the buffered "PA" are gone; later input is read as new lines.
    expect(lines).toEqual(['AUTH TLS', 'SS x', 'NOOP']);
  });
});

describe('stripTelnet', () => {
  it('removes IAC commands (IP, DM), keeps IAC IAC as one 0xff, drops a lone IAC', () => {
    expect(stripTelnet(Buffer.from([0xff, 0xf4, 0xff, 0xf2, 0x41, 0x42, 0x4f, 0x52]))).toEqual(Buffer.from('ABOR'));
    expect(stripTelnet(Buffer.from([0xff, 0xf4, 0xff, 0x41, 0x42]))).toEqual(Buffer.from('AB'));
    expect(stripTelnet(Buffer.from([0x61, 0xff, 0xff, 0x62]))).toEqual(Buffer.from([0x61, 0xff, 0x62]));
  });
});

describe('formatReply', () => {
  it('formats single and multi-line replies; CR/LF in a text never reach the wire', () => {
    expect(formatReply(200, ['OK'])).toBe('200 OK\r\n');
    expect(formatReply(211, ['Features:', ' EPSV', 'UTF8', 'End'])).toBe('211-Features:\r\n EPSV\r\n UTF8\r\n211 End\r\n');
    expect(formatReply(550, ['bad\r\n226 forged'])).toBe('550 bad  226 forged\r\n');
    expect(quotePath('/a "b"')).toBe('"/a ""b"""');
  });
});

describe('listing formats', () => {
  const stats = (kind: 'file' | 'dir', size: number, mode: number, mtime: Date): Stats =>
    ({ isDirectory: () => kind === 'dir', isFile: () => kind === 'file', isSymbolicLink: () => false, size, mode, mtime, mtimeMs: mtime.getTime() }) as Stats;
  const when = new Date('2024-03-05T07:08:09Z');

  it('ls -l lines: recent times show the clock, old ones the year', () => {
    expect(lsLine('a.txt', stats('file', 12, 0o100644, when), when.getTime())).toBe('-rw-r--r-- 1 ftp ftp           12 Mar  5 07:08 a.txt');
    expect(lsLine('d', stats('dir', 4096, 0o40755, when), when.getTime() + 400 * 86400_000)).toBe('drwxr-xr-x 1 ftp ftp         4096 Mar  5  2024 d');
  });

  it('MLSx facts carry the write permissions only when the session may write', () => {
    expect(mlsxFacts(stats('file', 3, 0o100644, when), true)).toBe('type=file;size=3;modify=20240305070809;perm=radfw;');
    expect(mlsxFacts(stats('file', 3, 0o100644, when), false)).toBe('type=file;size=3;modify=20240305070809;perm=r;');
    expect(mlsxFacts(stats('dir', 0, 0o40755, when), false)).toBe('type=dir;size=0;modify=20240305070809;perm=el;');
  });

  it('time-vals round-trip; malformed or impossible dates are refused', () => {
    expect(ftpTime(when)).toBe('20240305070809');
    expect(parseFtpTime('20240305070809')).toEqual(when);
    expect(parseFtpTime('20240305070809.5')?.getUTCMilliseconds()).toBe(500);
    expect(parseFtpTime('20240230070809')).toBeUndefined();
    expect(parseFtpTime('2024030507080')).toBeUndefined();
  });
});
