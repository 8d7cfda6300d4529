/**
 * Names with control characters (CR, LF, TAB, ESC, ...) are refused at creation by every GuardedFs
 * operation that makes a name, so no protocol can create one; existing ones stay reachable.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GuardedFs, hasControlCharacter } from '../../../../src/core/index.js';
import { expectGatewayError, makeSession, makeTempDir } from '../fixtures.js';

let temp: Awaited<ReturnType<typeof makeTempDir>>;
let root: string;
let fs: GuardedFs;

beforeEach(async () => {
  temp = await makeTempDir();
  root = path.join(temp.dir, 'home');
  await mkdir(root, { recursive: true });
  await writeFile(path.join(root, 'plain.txt'), 'x');
  fs = await GuardedFs.forSession(makeSession({ root_path: 'home' }), temp.dir);
});
afterEach(() => temp.remove());

const BAD = ['a\nb', 'a\rb', 'tab\there', 'esc\x1bx', 'bell\x07', 'x\x1f'];

describe('control characters in new names', () => {
  it.each(BAD)('refuses %j for every operation that creates a name', async (name) => {
    await expectGatewayError(fs.mkdir(`/${name}`), 'BAD_PATH');
    await expectGatewayError(fs.openWriteStream(`/${name}`), 'BAD_PATH');
    await expectGatewayError(fs.open(`/${name}`, { write: true, create: true, truncate: true }), 'BAD_PATH');
    await expectGatewayError(fs.rename('/plain.txt', `/${name}`), 'BAD_PATH');
    await expectGatewayError(fs.symlink('/plain.txt', `/${name}`), 'BAD_PATH');
    await expectGatewayError(fs.hardlink('/plain.txt', `/${name}`), 'BAD_PATH');
    expect(await readdir(root)).toEqual(['plain.txt']);
  });

  it('an existing name with a control character can still be renamed away and deleted', async () => {
    await writeFile(path.join(root, 'bad\nname'), 'x');
    await writeFile(path.join(root, 'bad\rtoo'), 'y');
    await fs.rename('/bad\nname', '/fixed');
    await fs.remove('/bad\rtoo');
    expect((await readdir(root)).sort()).toEqual(['fixed', 'plain.txt']);
  });

  it('hasControlCharacter: C0 only; printable and non-ASCII names pass', () => {
    for (const name of BAD) expect(hasControlCharacter(name)).toBe(true);
    for (const name of ['plain', 'with space', 'ümlaut', 'ünï©ødé', 'del\x7fok']) expect(hasControlCharacter(name)).toBe(false);
  });
});
