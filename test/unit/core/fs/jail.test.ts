/**
 * The jail, attacked through GuardedFs on a real temporary tree. Layout (all under one temp dir):
 *   storage/root/         the session's root_path ("root"): what the client sees as "/"
 *   storage/root2/        a sibling whose name shares the root's prefix
 *   outside/              a decoy tree outside the jail; writes are aimed here (never at /etc:
 *                         the tests may run as root, and a broken jail must not damage the host)
 * After every test the outside tree, the sibling and the storage root must be exactly as they were.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, readlink, rename, rm, rmdir, stat, symlink, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { setTimeout } from 'node:timers/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GuardedFs, normalizeVirtualPath, type GuardedFile } from '../../../../src/core/index.js';
import { descriptorPath } from '../../../../src/core/fs/jail.js';
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

describe('the root itself', () => {
  it('refuses a root_path that passes through a symlink (a nested root pointed elsewhere by the outer root\'s user)', async () => {
    const own = await makeTempDir();
    try {
      const storage = own.dir;
      await mkdir(path.join(storage, 'teams', 'alice'), { recursive: true });
      await writeFile(path.join(storage, 'teams', 'alice', 'plans.txt'), 'alice only\n');
      await symlink('alice', path.join(storage, 'teams', 'bob')); // made by a user whose root is "teams"
      await expectGatewayError(GuardedFs.forSession(makeSession({ root_path: 'teams/bob' }), storage), 'PERMISSION_DENIED');
      await expectGatewayError(GuardedFs.forSession(makeSession({ root_path: 'teams/bob/sub' }), storage), 'PERMISSION_DENIED');
      const alice = await GuardedFs.forSession(makeSession({ root_path: 'teams/alice' }), storage);
      expect((await alice.stat('/plans.txt')).isFile()).toBe(true);
    } finally {
      await own.remove();
    }
  });
});

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
    const buffer = Buffer.alloc(1 << 16);
    return buffer.subarray(0, await file.readInto(buffer, 0)).toString();
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

  it('stores a client-made link relative to itself: no host path, and moved, it leads inside or nowhere', async () => {
    await fs.mkdir('deep');
    await fs.mkdir('deep/er');
    await fs.symlink('/inside.txt', 'deep/er/absolute-link');
    await fs.symlink('../../inside.txt', 'deep/er/relative-link');
    await fs.symlink('/sub', 'link-subdir/through-link'); // made through a symlinked directory: stored from /sub
    for (const [link, stored] of [
      ['deep/er/absolute-link', '../../inside.txt'],
      ['deep/er/relative-link', '../../inside.txt'],
      ['sub/through-link', '.'],
    ] as const) {
      const onDisk = path.join(rootReal, link);
      expect(await readlink(onDisk), link).toBe(stored);
      // The link's size is its target's length: nothing about the host's paths.
      expect((await lstat(onDisk)).size, link).toBe(Buffer.byteLength(stored));
    }
    expect(await fs.readlink('deep/er/absolute-link')).toBe('/inside.txt');
    expect(await readAll(await fs.open('deep/er/absolute-link', { read: true }))).toBe('inside\n');
    expect(await fs.readlink('sub/through-link')).toBe('/sub');
    expect(await fs.realpath('sub/through-link/deep.txt')).toBe('/sub/deep.txt');

    // Moved to the same depth, a relative link still leads to its target...
    await fs.mkdir('other');
    await fs.rename('deep/er', 'other/er');
    expect(await readAll(await fs.open('other/er/relative-link', { read: true }))).toBe('inside\n');
    // ...moved up, its "../.." would climb out of the jail: it leads nowhere, never outside.
    await fs.rename('other/er/absolute-link', 'moved-link');
    await fs.rename('other/er', 'er');
    for (const link of ['moved-link', 'er/relative-link']) {
      await expectGatewayError(fs.readlink(link), 'NOT_FOUND');
      await expectGatewayError(fs.stat(link), 'NOT_FOUND');
      await expectGatewayError(fs.open(link, { read: true }), 'NOT_FOUND');
      await expectGatewayError(fs.open(link, { write: true, create: true, truncate: true }), 'NOT_FOUND');
    }
    for (const link of ['moved-link', 'er/relative-link', 'sub/through-link']) await fs.remove(link);
    for (const dir of ['er', 'other', 'deep']) await fs.rmdir(dir);
  });

  it('removes an outside link itself, never its target', async () => {
    await symlink(path.join(base, 'outside', 'secret.txt'), path.join(rootReal, 'doomed-link'));
    await fs.remove('doomed-link');
    await expectGatewayError(fs.lstat('doomed-link'), 'NOT_FOUND');
  });
});

/** Descriptors this process holds now. */
const openDescriptors = (): number => readdirSync('/proc/self/fd').length;

describe('the walk: descriptors, symlinks resolved inside, no window', () => {
  it('follows a symlink inside the jail wherever it sits in the path, old absolute links included', async () => {
    await symlink(path.join(rootReal, 'sub'), path.join(rootReal, 'abs-inside')); // as older versions stored them
    try {
      expect(await readAll(await fs.open('abs-inside/deep.txt', { read: true }))).toBe('deep\n');
      expect(await fs.readlink('abs-inside')).toBe('/sub');
      expect(await fs.realpath('link-subdir/up/abs-inside/deep.txt')).toBe('/sub/deep.txt');
      expect((await fs.list('link-subdir/up/link-subdir')).map((e) => e.name)).toContain('deep.txt');
    } finally {
      await fs.remove('abs-inside');
    }
  });

  it('gives up after 40 symlinks in one path (ELOOP as NOT_FOUND)', async () => {
    const chain = Array.from({ length: 41 }, (_, i) => `chain${i}`);
    for (const [i, name] of chain.entries()) await symlink(chain[i + 1] ?? 'inside.txt', path.join(rootReal, name));
    try {
      expect(await readAll(await fs.open('chain1', { read: true }))).toBe('inside\n'); // 40 links
      await expectGatewayError(fs.stat('chain0'), 'NOT_FOUND'); // 41
      await expectGatewayError(fs.open('chain0', { write: true, create: true, truncate: true }), 'NOT_FOUND');
    } finally {
      for (const name of chain) await fs.remove(name);
    }
  });

  it('keeps what it opened when the path is swapped for a symlink to the outside afterwards', async () => {
    await fs.mkdir('swap');
    for (let i = 0; i < 3; i++) await writeFile(path.join(rootReal, 'swap', `f${i}`), `${i}`);
    const pages = await fs.openDirectory('swap');
    const upload = await fs.open('swap/new.txt', { write: true, create: true, truncate: true });
    const stream = await fs.openWriteStream('swap/streamed.txt');
    // The directory is renamed away and a link to the outside takes its name.
    await rename(path.join(rootReal, 'swap'), path.join(rootReal, 'swapped'));
    await symlink(path.join(base, 'outside'), path.join(rootReal, 'swap'));
    expect((await pages.page(10, 1 << 16)).map((e) => e.name)).toEqual(['f0', 'f1', 'f2']);
    pages.close();
    await upload.write(Buffer.from('held'), 0);
    await upload.close();
    stream.end('streamed');
    await once(stream, 'finish');
    expect(await readFile(path.join(rootReal, 'swapped', 'new.txt'), 'utf8')).toBe('held');
    expect(await readFile(path.join(rootReal, 'swapped', 'streamed.txt'), 'utf8')).toBe('streamed');
    // New calls walk again and find the link: outside, so absent.
    await expectGatewayError(fs.list('swap'), 'NOT_FOUND');
    await expectGatewayError(fs.open('swap/new.txt', { read: true }), 'NOT_FOUND');
    await fs.remove('swap');
    for (const name of ['f0', 'f1', 'f2', 'new.txt', 'streamed.txt']) await fs.remove(`swapped/${name}`);
    await fs.rmdir('swapped');
  });

  it('refuses a root that was renamed away and replaced', async () => {
    const own = path.join(base, 'storage', 'replaced');
    await mkdir(own);
    await writeFile(path.join(own, 'mine.txt'), 'mine');
    const session = await GuardedFs.forSession(makeSession({ root_path: 'replaced' }), path.join(base, 'storage'));
    await rename(own, `${own}.away`);
    await mkdir(own);
    try {
      await expectGatewayError(session.stat('/'), 'NOT_FOUND');
      await expectGatewayError(session.list('/'), 'NOT_FOUND');
    } finally {
      await rmdir(own);
      await rename(`${own}.away`, own);
    }
    expect((await session.list('/')).map((e) => e.name)).toEqual(['mine.txt']);
    await rm(own, { recursive: true });
  });

  it('closes every descriptor it opens, on success and on every kind of failure', async () => {
    const exercise = async (): Promise<void> => {
      const settle = (p: Promise<unknown>): Promise<unknown> => p.catch(() => undefined);
      for (const input of ['/', 'inside.txt', 'sub/deep.txt', 'link-inside', 'link-subdir/deep.txt', 'sub/up', 'link-etc/passwd', 'rel-escape', 'loop1', 'missing/x', 'inside.txt/x']) {
        await settle(fs.stat(input));
        await settle(fs.lstat(input));
        await settle(fs.realpath(input));
        await settle(fs.readlink(input));
        await settle(fs.list(input));
        await settle(fs.storageStats(input));
        await settle(fs.size(input));
        await settle(fs.open(input, { read: true }).then((f) => f.close()));
        await settle(fs.openReadStream(input).then((s) => s.destroy()));
        await settle(fs.setAttributes(input, { mode: 0o644 }));
        await settle(fs.mkdir(`${input}/nd`).then(() => fs.rmdir(`${input}/nd`)));
        await settle(fs.rename(input, `${input}-renamed`).then(() => fs.rename(`${input}-renamed`, input)));
        await settle(fs.hardlink(input, 'hard').then(() => fs.remove('hard')));
        await settle(fs.symlink(input, 'soft').then(() => fs.remove('soft')));
      }
      const pages = await fs.openDirectory('sub');
      await pages.page(1, 1 << 16);
      pages.close(); // mid-listing
      const aborted = await fs.open('sub/aborted.txt', { write: true, create: true, truncate: true });
      await aborted.abort();
      const destroyed = await fs.openWriteStream('sub/destroyed.txt');
      destroyed.destroy();
      await once(destroyed, 'close');
      await settle(fs.openWriteStream('sub').then((s) => s.destroy()));
    };
    await exercise(); // warm-up: Node opens descriptors of its own the first time some calls run
    await setTimeout(50);
    const baseline = openDescriptors();
    await exercise();
    await setTimeout(50);
    expect(openDescriptors()).toBe(baseline);
    expect(await readdir(path.join(rootReal, 'sub'))).toEqual(['deep.txt', 'up', 'up2']);
  });
});

describe('descriptor paths', () => {
  const probe = (prefix: string[]): string =>
    execFileSync(
      prefix[0] ?? process.execPath,
      [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), '--import', 'tsx', '-e',
        `import('${path.resolve('src/core/fs/jail.ts')}').then((m) => console.log(m.descriptorPath({ fd: 7 })))`],
      { encoding: 'utf8' },
    ).trim();

  it('name this process by its pid (no /proc/self link for the kernel to resolve on every call)', () => {
    expect(descriptorPath({ fd: 7 })).toBe(`/proc/${process.pid}/fd/7`);
    expect(probe([])).toMatch(/^\/proc\/\d+\/fd\/7$/);
  });

  it('fall back to /proc/self where /proc belongs to another PID namespace (the pid there is another process)', () => {
    // A new PID namespace without its own /proc: the process is pid 1 in it, /proc/self names it by its outer pid.
    expect(probe(['unshare', '--pid', '--fork'])).toBe('/proc/self/fd/7');
  });
});
