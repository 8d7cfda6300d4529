/**
 * Documentation that cannot drift: docs/errors.md against the error table, and no comment or
 * document pointing at a file outside the repository.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_MAP } from '../../src/protocols/error-map.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, dir), { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

describe('docs', () => {
  it('docs/errors.md lists every error code with the answers the error table gives', async () => {
    const text = await readFile(path.join(ROOT, 'docs/errors.md'), 'utf8');
    const rows = [...text.matchAll(/^\| `([A-Z_0-9]+)` \| [^|]+ \| (\d+) \| (\d+)(?: \((\d+) on STOR\))? \| (\d+) `([^`]+)` \|$/gm)];
    const documented = Object.fromEntries(
      rows.map(([, code, sftp, ftp, ftpStore, status, type]) => [code, { sftp: Number(sftp), ftp: Number(ftp), ftpStore: ftpStore && Number(ftpStore), status: Number(status), type }]),
    );
    const actual = Object.fromEntries(
      Object.entries(ERROR_MAP).map(([code, e]) => [code, { sftp: e.sftp, ftp: e.ftp, ftpStore: e.ftpStore, status: e.http.status, type: e.http.type }]),
    );
    expect(documented).toEqual(actual);
  });

  it('no comment or document points at a file outside the repository', async () => {
    const files = [
      'README.md',
      ...(await filesUnder('src')),
      ...(await filesUnder('test')),
      ...(await filesUnder('docs')),
      ...(await filesUnder('examples')),
    ].filter((file) => /\.(ts|md|json|yaml|cfg|service)$|Dockerfile$/.test(file) && file !== 'test/unit/docs.test.ts');
    const outside = /DESIGN\b|\bshared\/|\breference\/[\w-]+\.md|\.\.\/shared|\/work\//;
    const offenders: string[] = [];
    for (const file of files) {
      const lines = (await readFile(path.join(ROOT, file), 'utf8')).split('\n');
      lines.forEach((line, i) => {
        if (outside.test(line)) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});
