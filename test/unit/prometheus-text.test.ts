/** The strict exposition parser the metrics tests rely on: it must refuse what Prometheus would. */
import { describe, expect, it } from 'vitest';
import { parseExposition } from '../helpers/prometheus.js';

const GOOD = [
  '# HELP a_total Things.',
  '# TYPE a_total counter',
  'a_total{kind="x",note="q\\"uote\\\\n"} 3',
  '# TYPE h histogram',
  'h_bucket{le="0.5"} 1',
  'h_bucket{le="+Inf"} 2',
  'h_sum 0.75',
  'h_count 2',
  '',
].join('\n');

describe('parseExposition', () => {
  it('reads values by name and labels', () => {
    const parsed = parseExposition(GOOD);
    expect(parsed.value('a_total', { note: 'q"uote\\n', kind: 'x' })).toBe(3);
    expect(parsed.value('h_bucket', { le: '+Inf' })).toBe(2);
    expect(parsed.value('h_count')).toBe(2);
    expect(parsed.value('a_total', { kind: 'y' })).toBe(0);
  });

  it.each([
    ['no trailing newline', GOOD.trimEnd()],
    ['a sample without TYPE', 'b 1\n'],
    ['a bad value', '# TYPE c gauge\nc one\n'],
    ['an unescaped quote', '# TYPE c gauge\nc{l="a"b"} 1\n'],
    ['a duplicate series', '# TYPE c gauge\nc 1\nc 2\n'],
    ['a repeated label', '# TYPE c gauge\nc{l="a",l="b"} 1\n'],
    ['a bad name', '# TYPE 1c gauge\n'],
    ['an unknown type', '# TYPE c thing\n'],
    ['a stray histogram suffix', '# TYPE c counter\nc_bucket 1\n'],
  ])('refuses %s', (_what, text) => {
    expect(() => parseExposition(text)).toThrow();
  });
});
