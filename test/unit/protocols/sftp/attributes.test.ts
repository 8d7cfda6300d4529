import type { Stats } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LongNames } from '../../../../src/protocols/sftp/attributes.js';

const NOW = Date.UTC(2026, 5, 15, 12, 0);
const entry = (mode: number, mtimeMs = NOW - 60_000): Stats => ({ mode, nlink: 2, uid: 1000, gid: 100, size: 4096, mtimeMs }) as Stats;

describe('LongNames (READDIR long names, as OpenSSH sftp-server writes them)', () => {
  it('gives the type letter and permission bits of every kind of mode, from one cache per reply', () => {
    const names = new LongNames(NOW);
    const mode = (m: number): string => names.format('x', entry(m)).slice(0, 10);
    const expected: [number, string][] = [
      [0o100644, '-rw-r--r--'], [0o040755, 'drwxr-xr-x'], [0o120777, 'lrwxrwxrwx'], [0o010600, 'prw-------'],
      [0o140700, 'srwx------'], [0o020620, 'crw--w----'], [0o060660, 'brw-rw----'], [0o104755, '-rwsr-xr-x'],
      [0o102644, '-rw-r-Sr--'], [0o041777, 'drwxrwxrwt'], [0o041776, 'drwxrwxrwT'],
    ];
    for (const [m, text] of expected) expect(mode(m), m.toString(8)).toBe(text);
    // The same mode again comes from the cache, unchanged.
    expect(mode(0o100644)).toBe('-rw-r--r--');
  });

  it('writes link count, numeric owner and group, size, time and name in ls -l columns', () => {
    const line = new LongNames(NOW).format('report.txt', entry(0o100640));
    expect(line).toMatch(/^-rw-r----- {3}2 1000 {5}100 {6} {4}4096 Jun 15 \d\d:59 report\.txt$/);
    const old = new LongNames(NOW).format('old', entry(0o100640, Date.UTC(2020, 0, 2, 12)));
    expect(old).toMatch(/ Jan {2}2 {2}2020 old$/);
  });
});
