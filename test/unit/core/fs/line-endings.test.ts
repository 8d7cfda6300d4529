/** TYPE A conversions, fed chunk by chunk so every chunk boundary case is exercised. */
import type { Transform } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CrlfDecoder, LfToCrlf } from '../../../../src/core/index.js';

/** Feeds `chunks` through a fresh converter and returns everything it produced. */
async function convert(make: () => Transform, chunks: string[]): Promise<string> {
  const converter = make();
  const out: Buffer[] = [];
  converter.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise((resolve, reject) => converter.on('end', resolve).on('error', reject));
  for (const chunk of chunks) converter.write(Buffer.from(chunk, 'latin1'));
  converter.end();
  await ended;
  return Buffer.concat(out).toString('latin1');
}

/** Feeds `chunks` through a fresh upload decoder, then flushes it. */
function decode(chunks: string[]): string {
  const decoder = new CrlfDecoder();
  const out = chunks.map((chunk) => decoder.push(Buffer.from(chunk, 'latin1')));
  return Buffer.concat([...out, decoder.flush()]).toString('latin1');
}

/** Every way of cutting `text` into two chunks (and the whole, and one byte at a time). */
function splits(text: string): string[][] {
  const ways: string[][] = [[text], [...text]];
  for (let i = 1; i < text.length; i++) ways.push([text.slice(0, i), text.slice(i)]);
  return ways;
}

describe('LfToCrlf (download in ASCII mode)', () => {
  it.each([
    ['a\nb\n', 'a\r\nb\r\n'],
    ['\n\n', '\r\n\r\n'],
    ['a\r\nb', 'a\r\nb'], // an existing CRLF stays as it is
    ['a\rb', 'a\rb'], // a lone CR stays
    ['\r\r\n\n', '\r\r\n\r\n'],
    ['no newline', 'no newline'],
    ['', ''],
  ])('%j -> %j at every chunk boundary', async (input, expected) => {
    for (const chunks of splits(input)) expect(await convert(() => new LfToCrlf(), chunks), JSON.stringify(chunks)).toBe(expected);
  });

  it('keeps binary bytes other than LF untouched', async () => {
    const bytes = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
    expect(await convert(() => new LfToCrlf(), [bytes])).toBe(bytes.replace('\n', '\r\n'));
  });
});

describe('CrlfDecoder (upload in ASCII mode)', () => {
  it.each([
    ['a\r\nb\r\n', 'a\nb\n'],
    ['a\rb', 'a\rb'], // a lone CR stays
    ['a\r', 'a\r'], // a CR at the very end is flushed
    ['\r\r\n', '\r\n'], // the first CR is lone, the second ends a line
    ['\r\n\r\n', '\n\n'],
    ['a\nb', 'a\nb'], // a bare LF stays
    ['\n\r', '\n\r'],
    ['', ''],
  ])('%j -> %j at every chunk boundary', async (input, expected) => {
    for (const chunks of splits(input)) expect(decode(chunks), JSON.stringify(chunks)).toBe(expected);
  });

  it('handles a CR split from its LF across chunks, and a lone CR across chunks', async () => {
    expect(decode(['line one\r', '\nline two\r', 'x'])).toBe('line one\nline two\rx');
    expect(decode(['a\r', '', '\nb'])).toBe('a\nb');
  });

  it('round-trips Unix text through download and upload', async () => {
    const text = 'one\ntwo\r\nthree\rfour\n\n';
    const wire = await convert(() => new LfToCrlf(), [text]);
    expect(wire).toBe('one\r\ntwo\r\nthree\rfour\r\n\r\n');
    expect(decode(splits(wire)[3]!)).toBe('one\ntwo\nthree\rfour\n\n');
  });
});
