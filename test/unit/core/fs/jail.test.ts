/**
 * The jail, attacked through GuardedFs on a real temporary tree. Layout (all under one temp dir):
 *   storage/root/         the session's root_path ("root"): what the client sees as "/"
 *   storage/root2/        a sibling whose name shares the root's prefix
 *   outside/              a decoy tree outside the jail; writes are aimed here (never at /etc:
 *                         the tests may run as root, and a broken jail must not damage the host)
 * After every test the outside tree, the sibling and the storage root must be exactly as they were.
 */
import { lstat, mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GuardedFs, normalizeVirtualPath, type GuardedFile } from '../../../../src/core/index.js';
import { expectGatewayError, makeSession, makeTempDir } from '../fixtures.js';

let temp: Awaited<ReturnType<typeof makeTempDir>>;
let base: string;
let rootReal: string;
let fs: GuardedFs;

const SECRET = 'outside secret\n';

beforeAll(async () => {
  temp = await makeTempDir();
  base = temp.dir;
  rootReal = path.join(base, 'storage', 'root');
  await mkdir(path.join(rootReal, 'sub'), { recursive: true });
  await mkdir(path.join(base, 'storage', 'root2'), { recursive: true });
  await mkdir(path.join(base, 'outside'), { recursive: true });
  await writeFile(path.join(rootReal, 'inside.txt'), 'inside\n');
  await writeFile(path.join(rootReal, 'sub', 'deep.txt'), 'deep\n');
  await writeFile(path.join(base, 'storage', 'root2', 'secret2.txt'), 'sibling secret\n');
  await writeFile(path.join(base, 'outside', 'secret.txt'), SECRET, { mode: 0o600 });
  const links: [string, string][] = [
    ['link-etc', '/etc'],
    ['link-passwd', '/etc/passwd'],
    ['link-secret', path.join(base, 'outside', 'secret.txt')],
    ['link-outdir', path.join(base, 'outside')],
    ['rel-escape', '../../outside/secret.txt'],
    ['dangling', path.join(base, 'outside', 'created-by-attack.txt')],
    ['dangling-dir', path.join(base, 'outside', 'newdir')],
    ['sibling', '../root2'],
    ['link-inside', 'sub/deep.txt'],
    ['link-subdir', 'sub'],
    ['sub/up', '..'],
    ['sub/up2', '../..'],
    ['loop1', 'loop2'],
    ['loop2', 'loop1'],
  ];
  for (const [name, target] of links) await symlink(target, path.join(rootReal, name));
  fs = await GuardedFs.forSession(makeSession({ root_path: 'root' }), path.join(base, 'storage'));
});
afterAll(() => temp.remove());

/** Names, sizes, modes and mtimes of everything outside the jail that an escape could touch. */
async function outsideState(): Promise<string> {
  // The storage dir's own entries by name only: the jail root's mtime changes with legitimate writes.
  const lines: string[] = [(await readdir(path.join(base, 'storage'))).sort().join(' ')];
  for (const dir of ['outside', 'storage/root2']) {
    for (const name of (await readdir(path.join(base, dir))).sort()) {
      const s = await lstat(path.join(base, dir, name));
      lines.push(`${dir}/${name} ${s.size} ${s.mode.toString(8)} ${s.mtimeMs}`);
    }
  }
  lines.push(await readFile(path.join(base, 'outside', 'secret.txt'), 'utf8'));
  return lines.join('\n');
}

let before: string;
beforeAll(async () => {
  before = await outsideState();
});
afterEach(async () => {
  expect(await outsideState()).toBe(before);
});

const readAll = async (file: GuardedFile): Promise<string> => {
  try {
    return (await file.read(1 << 16, 0)).toString();
  } finally {
    await file.close();
  }
};

describe('normalizeVirtualPath', () => {
  it.each([
    ['..', '/'],
    ['../../..', '/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['a/../../b', '/b'],
    ['a/./b//c/', '/a/b/c'],
    ['..\\..\\etc', '/etc'],
    ['\\..\\x', '/x'],
    ['....//x', '/..../x'],
    ['', '/'],
  ])('%j -> %j', (input, expected) => {
    expect(normalizeVirtualPath(input)).toBe(expected);
  });

  it('resolves relative paths against the cwd, never above the root', () => {
    expect(normalizeVirtualPath('../x', '/a/b')).toBe('/a/x');
    expect(normalizeVirtualPath('../../../../x', '/a/b')).toBe('/x');
    expect(normalizeVirtualPath('/abs', '/a/b')).toBe('/abs');
  });

  it('refuses NUL bytes and over-long paths as BAD_PATH', () => {
    expect(() => normalizeVirtualPath('a\0b')).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
    expect(() => normalizeVirtualPath('a/'.repeat(3000))).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
  });
});

describe('the jail under attack', () => {
  it('clamps ".." of every kind at the root', async () => {
    for (const input of ['..', '../..', '/..', '/../../..', 'sub/../..', './../', '..\\..', 'sub/..\\..\\..']) {
      expect(await fs.realpath(input), input).toBe('/');
      expect((await fs.list(input)).map((e) => e.name), input).toContain('inside.txt');
    }
    for (const input of ['../root2/secret2.txt', '/../../outside/secret.txt', 'sub/../../root2', '../../storage/root2/secret2.txt']) {
      await expectGatewayError(fs.stat(input), 'NOT_FOUND');
      await expectGatewayError(fs.open(input, { read: true }), 'NOT_FOUND');
    }
  });

  it('treats absolute paths as virtual paths under the root', async () => {
    for (const input of ['/etc/passwd', path.join(base, 'outside', 'secret.txt'), path.join(rootReal, 'inside.txt')]) {
      await expectGatewayError(fs.stat(input), 'NOT_FOUND');
      await expectGatewayError(fs.openReadStream(input), 'NOT_FOUND');
    }
    expect((await fs.stat('/inside.txt')).isFile()).toBe(true);
  });

  it('takes backslashes as separators, never as a way out', async () => {
    await expectGatewayError(fs.stat('..\\..\\outside\\secret.txt'), 'NOT_FOUND');
    await expectGatewayError(fs.stat('\\..\\root2\\secret2.txt'), 'NOT_FOUND');
    await expectGatewayError(fs.open('..\\..\\outside\\secret.txt', { write: true }), 'NOT_FOUND');
    expect(await readAll(await fs.open('sub\\deep.txt', { read: true }))).toBe('deep\n');
  });

  it('refuses NUL bytes in every operation as BAD_PATH', async () => {
    const bad = 'inside.txt\0../../outside/secret.txt';
    await expectGatewayError(fs.stat(bad), 'BAD_PATH');
    await expectGatewayError(fs.lstat(bad), 'BAD_PATH');
    await expectGatewayError(fs.realpath(bad), 'BAD_PATH');
    await expectGatewayError(fs.list(bad), 'BAD_PATH');
    await expectGatewayError(fs.open(bad, { read: true }), 'BAD_PATH');
    await expectGatewayError(fs.open(bad, { write: true, create: true, truncate: true }), 'BAD_PATH');
    await expectGatewayError(fs.openReadStream(bad), 'BAD_PATH');
    await expectGatewayError(fs.openWriteStream(bad), 'BAD_PATH');
    await expectGatewayError(fs.mkdir(bad), 'BAD_PATH');
    await expectGatewayError(fs.remove(bad), 'BAD_PATH');
    await expectGatewayError(fs.rename('inside.txt', bad), 'BAD_PATH');
    await expectGatewayError(fs.symlink(bad, 'newlink'), 'BAD_PATH');
    await expectGatewayError(fs.setAttributes(bad, { mode: 0o777 }), 'BAD_PATH');
    expect(() => fs.resolvePath(bad)).toThrow(expect.objectContaining({ code: 'BAD_PATH' }));
  });

  it('refuses over-long paths and names as BAD_PATH', async () => {
    await expectGatewayError(fs.stat('a/'.repeat(3000)), 'BAD_PATH');
    await expectGatewayError(fs.stat('x'.repeat(300)), 'BAD_PATH');
  });

  it('takes encoded-looking names literally (inside the root)', async () => {
    for (const input of ['%2e%2e/%2e%2e/outside/secret.txt', '..%2f..%2foutside%2fsecret.txt', '%252e%252e/root2', '．．/．．/outside', 'file:///etc/passwd', '..;/root2']) {
      await expectGatewayError(fs.stat(input), 'NOT_FOUND');
    }
    await fs.mkdir('%2e%2e');
    expect((await stat(path.join(rootReal, '%2e%2e'))).isDirectory()).toBe(true);
    await fs.rmdir('%2e%2e');
  });

  it('does not follow a directory symlink that points out (link-etc -> /etc)', async () => {
    await expectGatewayError(fs.stat('link-etc'), 'NOT_FOUND');
    await expectGatewayError(fs.stat('link-etc/passwd'), 'NOT_FOUND');
    await expectGatewayError(fs.list('link-etc'), 'NOT_FOUND');
    await expectGatewayError(fs.openReadStream('link-etc/passwd'), 'NOT_FOUND');
    await expectGatewayError(fs.size('link-etc/hostname'), 'NOT_FOUND');
    // The link itself lives inside the jail: it may be seen as a link, never followed.
    expect((await fs.lstat('link-etc')).isSymbolicLink()).toBe(true);
  });

  it('refuses every write through a directory symlink that points out', async () => {
    await expectGatewayError(fs.open('link-outdir/new.txt', { write: true, create: true, truncate: true }), 'NOT_FOUND');
    await expectGatewayError(fs.open('link-outdir/secret.txt', { write: true, append: true }), 'NOT_FOUND');
    await expectGatewayError(fs.openWriteStream('link-outdir/new.txt'), 'NOT_FOUND');
    await expectGatewayError(fs.mkdir('link-outdir/newdir'), 'NOT_FOUND');
    await expectGatewayError(fs.remove('link-outdir/secret.txt'), 'NOT_FOUND');
    await expectGatewayError(fs.rmdir('link-outdir'), 'NOT_A_DIRECTORY');
    await expectGatewayError(fs.rename('link-outdir/secret.txt', 'stolen.txt'), 'NOT_FOUND');
    await expectGatewayError(fs.rename('inside.txt', 'link-outdir/planted.txt'), 'NOT_FOUND');
    await expectGatewayError(fs.symlink('inside.txt', 'link-outdir/evil'), 'NOT_FOUND');
    await expectGatewayError(fs.setAttributes('link-outdir/secret.txt', { mode: 0o666 }), 'NOT_FOUND');
  });

  it('refuses to read through a file symlink that points out (link-passwd -> /etc/passwd)', async () => {
    for (const name of ['link-passwd', 'link-secret', 'rel-escape']) {
      await expectGatewayError(fs.stat(name), 'NOT_FOUND');
      await expectGatewayError(fs.size(name), 'NOT_FOUND');
      await expectGatewayError(fs.open(name, { read: true }), 'NOT_FOUND');
      await expectGatewayError(fs.openReadStream(name), 'NOT_FOUND');
    }
  });

  it('refuses to write through a file symlink that points out, leaving the target intact', async () => {
    for (const name of ['link-secret', 'rel-escape']) {
      await expectGatewayError(fs.open(name, { write: true, create: true, truncate: true }), 'NOT_FOUND');
      await expectGatewayError(fs.open(name, { write: true }), 'NOT_FOUND');
      await expectGatewayError(fs.open(name, { read: true, write: true }), 'NOT_FOUND');
      await expectGatewayError(fs.open(name, { append: true, create: true }), 'NOT_FOUND');
      await expectGatewayError(fs.openWriteStream(name), 'NOT_FOUND');
      await expectGatewayError(fs.openWriteStream(name, { append: true }), 'NOT_FOUND');
      await expectGatewayError(fs.openWriteStream(name, { start: 3 }), 'NOT_FOUND');
      await expectGatewayError(fs.setAttributes(name, { mode: 0o666, size: 0, mtime: new Date(0) }), 'NOT_FOUND');
    }
  });

  it('never creates the target of a dangling symlink that points out', async () => {
    await expectGatewayError(fs.open('dangling', { write: true, create: true, truncate: true }), 'NOT_FOUND');
    await expectGatewayError(fs.open('dangling', { write: true, create: true }), 'NOT_FOUND');
    await expectGatewayError(fs.open('dangling', { write: true, create: true, exclusive: true }), 'NOT_FOUND');
    await expectGatewayError(fs.openWriteStream('dangling'), 'NOT_FOUND');
    await expectGatewayError(fs.openWriteStream('dangling', { append: true }), 'NOT_FOUND');
    await expectGatewayError(fs.mkdir('dangling-dir'), 'NOT_FOUND');
    await expectGatewayError(fs.mkdir('dangling-dir/child'), 'NOT_FOUND');
    await expectGatewayError(fs.openWriteStream('dangling-dir/file.txt'), 'NOT_FOUND');
    await expectGatewayError(fs.symlink('inside.txt', 'dangling-dir/x'), 'NOT_FOUND');
  });

  it('keeps a jail at .../root out of its sibling .../root2', async () => {
    await expectGatewayError(fs.stat('sibling'), 'NOT_FOUND');
    await expectGatewayError(fs.stat('sibling/secret2.txt'), 'NOT_FOUND');
    await expectGatewayError(fs.list('sibling'), 'NOT_FOUND');
    await expectGatewayError(fs.openWriteStream('sibling/planted.txt'), 'NOT_FOUND');
    await expectGatewayError(fs.readlink('sibling'), 'NOT_FOUND');
    await expectGatewayError(fs.symlink('sibling', 'another-way'), 'NOT_FOUND');
  });

  it('refuses to make a new link to anything outside', async () => {
    for (const target of ['link-etc', 'link-secret', 'sub/up2', 'sub/up2/root2']) {
      await expectGatewayError(fs.symlink(target, 'escape'), 'NOT_FOUND');
    }
    await expectGatewayError(fs.lstat('escape'), 'NOT_FOUND');
  });

  it('answers a symlink loop with NOT_FOUND instead of hanging', async () => {
    await expectGatewayError(fs.stat('loop1'), 'NOT_FOUND');
    await expectGatewayError(fs.open('loop1/x', { write: true, create: true, truncate: true }), 'NOT_FOUND');
  });

  it('hides where outside links point', async () => {
    for (const name of ['link-etc', 'link-passwd', 'link-secret', 'rel-escape', 'dangling', 'sub/up2']) {
      await expectGatewayError(fs.readlink(name), 'NOT_FOUND');
    }
  });

  it('never returns a real path from realpath', async () => {
    const inputs = ['/', '.', '..', 'link-etc', 'link-etc/passwd', 'link-secret', 'sibling', 'sub/up2', 'dangling', 'missing/x', 'link-outdir/secret.txt'];
    for (const input of inputs) {
      const answer = await fs.realpath(input);
      expect(answer, input).toMatch(/^\//);
      expect(answer, input).not.toContain(base);
      expect(answer, input).not.toMatch(/^\/(etc|tmp)(\/|$)/);
    }
    expect(await fs.realpath('link-etc')).toBe('/link-etc');
    // A client's own absolute path comes back as the (absent) virtual path it names, nothing more.
    expect(await fs.realpath(path.join(base, 'outside'))).toBe(path.join(base, 'outside'));
  });

  it('lets symlinks that stay inside work', async () => {
    expect(await readAll(await fs.open('link-inside', { read: true }))).toBe('deep\n');
    expect((await fs.list('link-subdir')).map((e) => e.name)).toContain('deep.txt');
    expect(await fs.realpath('link-inside')).toBe('/sub/deep.txt');
    expect(await fs.realpath('sub/up')).toBe('/');
    expect(await fs.realpath('link-subdir/up/sub')).toBe('/sub');
    expect(await fs.readlink('link-inside')).toBe('/sub/deep.txt');
    expect(await fs.readlink('sub/up')).toBe('/');
    expect((await fs.stat('sub/up/inside.txt')).isFile()).toBe(true);

    await fs.symlink('/sub/deep.txt', 'sub/sibling-link');
    expect(await fs.readlink('sub/sibling-link')).toBe('/sub/deep.txt');
    expect(await readAll(await fs.open('sub/sibling-link', { read: true }))).toBe('deep\n');
    await fs.remove('sub/sibling-link');
    expect(await readFile(path.join(rootReal, 'sub', 'deep.txt'), 'utf8')).toBe('deep\n');
  });

  it('writes through an inside symlink to its inside target', async () => {
    const file = await fs.open('link-inside', { write: true, create: true, truncate: true });
    await file.write(Buffer.from('rewritten\n'), 0);
    await file.close();
    expect(await readFile(path.join(rootReal, 'sub', 'deep.txt'), 'utf8')).toBe('rewritten\n');
    expect((await lstat(path.join(rootReal, 'link-inside'))).isSymbolicLink()).toBe(true);
    await writeFile(path.join(rootReal, 'sub', 'deep.txt'), 'deep\n');
  });

  it('keeps a client-made link on its target, inside the jail, when the link or its directory moves', async () => {
    await fs.mkdir('deep');
    await fs.mkdir('deep/er');
    await fs.symlink('/inside.txt', 'deep/er/moving-link');
    await fs.symlink('../../inside.txt', 'deep/er/staying-link');
    await fs.rename('deep/er/moving-link', 'moving-link'); // two levels up
    await fs.rename('deep/er', 'er'); // a directory holding a link, one level up
    for (const link of ['moving-link', 'er/staying-link']) {
      expect(await fs.readlink(link), link).toBe('/inside.txt');
      expect(await readAll(await fs.open(link, { read: true })), link).toBe('inside\n');
      // What the storage holds must point inside: a link aimed out would hand a racing client a way out.
      const target = path.resolve(path.dirname(path.join(rootReal, link)), await readlink(path.join(rootReal, link)));
      expect(target.startsWith(rootReal + path.sep), `${link} -> ${target}`).toBe(true);
    }
    await fs.remove('moving-link');
    await fs.remove('er/staying-link');
    await fs.rmdir('er');
    await fs.rmdir('deep');
  });

  it('removes an outside link itself, never its target', async () => {
    await symlink(path.join(base, 'outside', 'secret.txt'), path.join(rootReal, 'doomed-link'));
    await fs.remove('doomed-link');
    await expectGatewayError(fs.lstat('doomed-link'), 'NOT_FOUND');
  });
});
