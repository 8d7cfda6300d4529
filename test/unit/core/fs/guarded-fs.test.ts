/**
 * Every session flag against every GuardedFs operation, on a real temporary tree: read_only,
 * max_dir_listing_size, use_provided_modified_at, windows_mode_ftp (TYPE A), and atomic uploads.
 */
import { chmod, mkdir, readFile, readdir, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GuardedFs, type Logger, type SessionFields } from '../../../../src/core/index.js';
import { expectGatewayError, makeSession, makeTempDir } from '../fixtures.js';

let temp: Awaited<ReturnType<typeof makeTempDir>>;
/** Real path of the session root ("/" for the client). */
let root: string;
const OLD = new Date('2001-02-03T04:05:06Z');
const NEW = new Date('2011-12-13T14:15:16Z');

beforeEach(async () => {
  temp = await makeTempDir();
  root = path.join(temp.dir, 'home');
  await mkdir(path.join(root, 'dir'), { recursive: true });
  await mkdir(path.join(root, 'emptydir'));
  await writeFile(path.join(root, 'file.txt'), 'hello\n');
  await writeFile(path.join(root, 'dir', 'inner.txt'), 'inner\n');
  await symlink('file.txt', path.join(root, 'link'));
  await chmod(path.join(root, 'file.txt'), 0o644);
  await utimes(path.join(root, 'file.txt'), OLD, OLD);
});
afterEach(() => temp.remove());

function open(flags: Partial<SessionFields> = {}, logger?: Logger): Promise<GuardedFs> {
  return GuardedFs.forSession(makeSession({ root_path: 'home', ...flags }), temp.dir, logger);
}

/** Everything in the root, recursively, with sizes and mtimes: "nothing changed" is a string compare. */
async function tree(dir = root, prefix = ''): Promise<string[]> {
  const lines: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(dir, entry.name);
    const s = await stat(full).catch(() => undefined);
    lines.push(`${prefix}${entry.name} ${s?.size} ${s?.mode.toString(8)} ${s?.mtimeMs}`);
    if (entry.isDirectory()) lines.push(...(await tree(full, `${prefix}${entry.name}/`)));
  }
  return lines;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Writes `chunks` to `stream` and waits for it to finish (the moment an FTP server answers 226). */
async function upload(stream: Writable, chunks: (string | Buffer)[]): Promise<void> {
  await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), stream);
}

describe('read_only', () => {
  it('refuses every state change with PERMISSION_DENIED and changes nothing', async () => {
    const fs = await open({ read_only: true });
    const before = await tree();
    const modes = [
      { write: true },
      { write: true, create: true },
      { write: true, create: true, truncate: true },
      { write: true, truncate: true },
      { append: true },
      { read: true, write: true },
      { create: true },
      { truncate: true },
      { write: true, create: true, exclusive: true },
    ];
    for (const mode of modes) {
      await expectGatewayError(fs.open('file.txt', mode), 'PERMISSION_DENIED');
      await expectGatewayError(fs.open('new.txt', mode), 'PERMISSION_DENIED');
    }
    // Decided before the storage is touched: even a path that could not exist says PERMISSION_DENIED.
    await expectGatewayError(fs.open('no/such/dir/new.txt', { write: true, create: true }), 'PERMISSION_DENIED');
    await expectGatewayError(fs.openWriteStream('new.txt'), 'PERMISSION_DENIED');
    await expectGatewayError(fs.openWriteStream('file.txt', { append: true }), 'PERMISSION_DENIED');
    await expectGatewayError(fs.openWriteStream('file.txt', { start: 2 }), 'PERMISSION_DENIED');
    await expectGatewayError(fs.openWriteStream('file.txt', { ascii: true }), 'PERMISSION_DENIED');
    await expectGatewayError(fs.mkdir('newdir'), 'PERMISSION_DENIED');
    await expectGatewayError(fs.rmdir('emptydir'), 'PERMISSION_DENIED');
    await expectGatewayError(fs.remove('file.txt'), 'PERMISSION_DENIED');
    await expectGatewayError(fs.remove('link'), 'PERMISSION_DENIED');
    await expectGatewayError(fs.rename('file.txt', 'moved.txt'), 'PERMISSION_DENIED');
    await expectGatewayError(fs.rename('dir', 'emptydir/dir', { overwrite: true }), 'PERMISSION_DENIED');
    await expectGatewayError(fs.symlink('file.txt', 'newlink'), 'PERMISSION_DENIED');
    await expectGatewayError(fs.setAttributes('file.txt', { mode: 0o600 }), 'PERMISSION_DENIED');
    await expectGatewayError(fs.setAttributes('file.txt', { size: 0 }), 'PERMISSION_DENIED');
    await expectGatewayError(fs.setAttributes('file.txt', { mtime: NEW, atime: NEW }), 'PERMISSION_DENIED');
    const handle = await fs.open('file.txt', { read: true });
    await expectGatewayError(handle.setAttributes({ mode: 0o600 }), 'PERMISSION_DENIED');
    await expectGatewayError(handle.setAttributes({ mtime: NEW }), 'PERMISSION_DENIED');
    await expectGatewayError(handle.write(Buffer.from('x'), 0), 'PERMISSION_DENIED');
    await handle.close();
    expect(await tree()).toEqual(before);
  });

  it('accepts an attribute change that changes nothing', async () => {
    const fs = await open({ read_only: true });
    const before = await tree();
    await fs.setAttributes('file.txt', {});
    await fs.setAttributes('file.txt', { mode: 0o644, size: 6 });
    await fs.setAttributes('file.txt', { mtime: new Date(OLD.getTime() + 400), atime: NEW }); // same second
    await fs.setAttributes('file.txt', { uid: 0, gid: 0 }); // never applied, so nothing changes
    const handle = await fs.open('file.txt', { read: true });
    await handle.setAttributes({ mode: 0o100644, mtime: OLD });
    await handle.close();
    expect(await tree()).toEqual(before);
  });

  it('applies permission bits only: setuid, setgid and sticky are never set', async () => {
    const fs = await open({});
    expect(((await fs.setAttributes('file.txt', { mode: 0o7755 })).mode & 0o7777).toString(8)).toBe('755');
    const handle = await fs.open('file.txt', { read: true, write: true });
    await handle.setAttributes({ mode: 0o4700 });
    expect(((await handle.stat()).mode & 0o7777).toString(8)).toBe('700');
    await handle.close();
  });

  it('accepts an mtime it would ignore anyway (use_provided_modified_at false)', async () => {
    const fs = await open({ read_only: true, use_provided_modified_at: false });
    const stats = await fs.setAttributes('file.txt', { mtime: NEW });
    expect(stats.mtime).toEqual(OLD);
  });

  it('allows every read', async () => {
    const fs = await open({ read_only: true });
    expect((await fs.stat('file.txt')).size).toBe(6);
    expect((await fs.lstat('link')).isSymbolicLink()).toBe(true);
    expect(await fs.realpath('link')).toBe('/file.txt');
    expect(await fs.readlink('link')).toBe('/file.txt');
    expect(await fs.size('file.txt')).toBe(6);
    expect((await fs.list('/')).map((e) => e.name)).toEqual(['dir', 'emptydir', 'file.txt', 'link']);
    const handle = await fs.open('file.txt', { read: true });
    const buffer = Buffer.alloc(100);
    expect(buffer.subarray(0, await handle.readInto(buffer, 0)).toString()).toBe('hello\n');
    expect(await handle.readInto(buffer, 6)).toBe(0);
    await handle.close();
    expect((await collect(await fs.openReadStream('dir/inner.txt'))).toString()).toBe('inner\n');
    expect((await collect(await fs.openReadStream('file.txt', { start: 2 }))).toString()).toBe('llo\n');
  });
});

describe('a writable session (the control for read_only)', () => {
  it('performs each of those operations', async () => {
    const fs = await open();
    await fs.mkdir('newdir');
    await fs.rmdir('emptydir');
    await fs.rename('file.txt', 'newdir/moved.txt');
    await fs.symlink('/newdir/moved.txt', 'newlink');
    await fs.setAttributes('newdir/moved.txt', { mode: 0o600, size: 3 });
    await fs.remove('dir/inner.txt');
    await upload(await fs.openWriteStream('streamed.txt'), ['abc']);
    const file = await fs.open('opened.txt', { write: true, create: true, truncate: true });
    await file.write(Buffer.from('xyz'), 0);
    await file.close();
    expect(await readFile(path.join(root, 'newdir', 'moved.txt'), 'utf8')).toBe('hel');
    expect((await stat(path.join(root, 'newdir', 'moved.txt'))).mode & 0o777).toBe(0o600);
    expect(await fs.readlink('newlink')).toBe('/newdir/moved.txt');
    expect(await readFile(path.join(root, 'streamed.txt'), 'utf8')).toBe('abc');
    expect(await readFile(path.join(root, 'opened.txt'), 'utf8')).toBe('xyz');
    expect(await readdir(path.join(root, 'dir'))).toEqual([]);
  });

  it('refuses to remove or rename the root, and shape errors have their codes', async () => {
    const fs = await open();
    await expectGatewayError(fs.rmdir('/'), 'PERMISSION_DENIED');
    await expectGatewayError(fs.rename('/', '/x'), 'PERMISSION_DENIED');
    await expectGatewayError(fs.rename('file.txt', '/'), 'PERMISSION_DENIED');
    await expectGatewayError(fs.rmdir('dir'), 'NOT_EMPTY');
    await expectGatewayError(fs.remove('dir'), 'IS_A_DIRECTORY');
    await expectGatewayError(fs.mkdir('dir'), 'ALREADY_EXISTS');
    await expectGatewayError(fs.rename('file.txt', 'dir/inner.txt', { overwrite: false }), 'ALREADY_EXISTS');
    await expectGatewayError(fs.open('dir', { read: true }), 'IS_A_DIRECTORY');
    await expectGatewayError(fs.openReadStream('dir'), 'IS_A_DIRECTORY');
    await expectGatewayError(fs.openWriteStream('dir'), 'IS_A_DIRECTORY');
    await expectGatewayError(fs.open('dir', { write: true, create: true, truncate: true }), 'IS_A_DIRECTORY');
    await expectGatewayError(fs.list('file.txt'), 'NOT_A_DIRECTORY');
    await expectGatewayError(fs.stat('missing'), 'NOT_FOUND');
    await fs.rename('file.txt', 'dir/inner.txt', { overwrite: true });
    expect(await readFile(path.join(root, 'dir', 'inner.txt'), 'utf8')).toBe('hello\n');
  });
});

describe('max_dir_listing_size', () => {
  beforeEach(async () => {
    for (const name of ['zeta', 'alpha', 'Mu', 'beta', 'gamma']) await writeFile(path.join(root, 'dir', name), name);
    // An upload in progress, as the atomic writer names it: never listed, never counted.
    await writeFile(path.join(root, 'dir', '.aaa.filegate-0123abcd.part'), 'partial');
  });

  it('shows at most N entries, sorted by name, and logs the truncation', async () => {
    const events: Record<string, unknown>[] = [];
    const logger: Logger = {
      debug: () => {},
      info: (obj) => void events.push(obj as Record<string, unknown>),
      warn: () => {},
      error: () => {},
      child: () => logger,
    };
    const fs = await open({ max_dir_listing_size: 3 }, logger);
    expect((await fs.list('dir')).map((e) => e.name)).toEqual(['Mu', 'alpha', 'beta']);
    expect(events).toContainEqual(expect.objectContaining({ event: 'listing_truncated', shown: 3, total: 6 }));
    // Paged (SFTP READDIR, FTP LIST): the same cap across pages, and the truncation logged once.
    events.length = 0;
    const pages = await fs.openDirectory('dir');
    const names: string[] = [];
    for (let page = await pages.page(2, 1 << 20); page.length > 0; page = await pages.page(2, 1 << 20)) names.push(...page.map((e) => e.name));
    pages.close();
    expect(names).toEqual(['Mu', 'alpha', 'beta']);
    expect(events.filter((e) => e.event === 'listing_truncated')).toEqual([expect.objectContaining({ path: '/dir', shown: 3 })]);
    const uncapped = await (await open({ max_dir_listing_size: 6 }, logger)).openDirectory('dir');
    while ((await uncapped.page(4, 1 << 20)).length > 0);
    uncapped.close();
    expect(events.filter((e) => e.event === 'listing_truncated')).toHaveLength(1);
  });

  it('shows everything with 0 (no cap) or a cap above the count', async () => {
    for (const cap of [0, 6, 100]) {
      const fs = await open({ max_dir_listing_size: cap });
      expect((await fs.list('dir')).map((e) => e.name), `cap ${cap}`).toEqual(['Mu', 'alpha', 'beta', 'gamma', 'inner.txt', 'zeta']);
    }
  });

  it('hides a live upload’s temporary file', async () => {
    const fs = await open({ max_dir_listing_size: 2 });
    const file = await fs.open('dir/aaa-upload', { write: true, create: true, truncate: true });
    await file.write(Buffer.from('x'), 0);
    expect((await fs.list('dir')).map((e) => e.name)).toEqual(['Mu', 'alpha']);
    expect((await readdir(path.join(root, 'dir'))).filter((n) => n.includes('aaa-upload'))).toHaveLength(1);
    await file.close();
    expect((await fs.list('dir')).map((e) => e.name)).toEqual(['Mu', 'aaa-upload']);
  });

  it('lists a symlink as itself', async () => {
    const fs = await open();
    const link = (await fs.list('/')).find((e) => e.name === 'link');
    expect(link?.stats.isSymbolicLink()).toBe(true);
  });
});

describe('use_provided_modified_at', () => {
  it('true: SETSTAT by path sets the mtime and reports it', async () => {
    const fs = await open({ use_provided_modified_at: true });
    const stats = await fs.setAttributes('file.txt', { mtime: NEW, atime: NEW });
    expect(stats.mtime).toEqual(NEW);
    expect((await stat(path.join(root, 'file.txt'))).mtime).toEqual(NEW);
  });

  it('false: SETSTAT is accepted, the time ignored, and the real mtime reported', async () => {
    const fs = await open({ use_provided_modified_at: false });
    const stats = await fs.setAttributes('file.txt', { mtime: NEW, atime: NEW });
    expect(stats.mtime).toEqual(OLD);
    expect((await stat(path.join(root, 'file.txt'))).mtime).toEqual(OLD);
  });

  it('false still applies the other attributes', async () => {
    const fs = await open({ use_provided_modified_at: false });
    await fs.setAttributes('file.txt', { mtime: NEW, mode: 0o600 });
    const after = await stat(path.join(root, 'file.txt'));
    expect(after.mode & 0o777).toBe(0o600);
    expect(after.mtime).toEqual(OLD);
  });

  it('true: FSETSTAT on a file being written applies the time at close, after the last write', async () => {
    const fs = await open({ use_provided_modified_at: true });
    const file = await fs.open('upload.bin', { write: true, create: true, truncate: true });
    await file.setAttributes({ mtime: NEW, atime: NEW });
    await file.write(Buffer.from('late data'), 0);
    await file.close();
    expect((await stat(path.join(root, 'upload.bin'))).mtime).toEqual(NEW);
  });

  it('true: SETSTAT by path during an upload reaches the open handle', async () => {
    const fs = await open({ use_provided_modified_at: true });
    const file = await fs.open('upload.bin', { write: true, create: true, truncate: true });
    await file.write(Buffer.from('part one '), 0);
    await fs.setAttributes('upload.bin', { mtime: NEW });
    await file.write(Buffer.from('part two'), 9);
    await file.close();
    const after = await stat(path.join(root, 'upload.bin'));
    expect(after.mtime).toEqual(NEW);
    expect(after.size).toBe(17);
  });

  it('true: the mtime in the OPEN attributes is applied at close', async () => {
    const fs = await open({ use_provided_modified_at: true });
    const file = await fs.open('upload.bin', { write: true, create: true, truncate: true }, { mtime: NEW, atime: NEW });
    await file.write(Buffer.from('data'), 0);
    await file.close();
    expect((await stat(path.join(root, 'upload.bin'))).mtime).toEqual(NEW);
  });

  it('false: FSETSTAT and OPEN attributes on a written file leave the server’s own time', async () => {
    const fs = await open({ use_provided_modified_at: false });
    const started = Date.now() - 2_000;
    const file = await fs.open('upload.bin', { write: true, create: true, truncate: true }, { mtime: OLD });
    await file.setAttributes({ mtime: OLD });
    await file.write(Buffer.from('data'), 0);
    await file.close();
    expect((await stat(path.join(root, 'upload.bin'))).mtimeMs).toBeGreaterThan(started);
  });

  it('FSETSTAT on a handle opened for reading applies the time at once', async () => {
    const fs = await open({ use_provided_modified_at: true });
    const file = await fs.open('file.txt', { read: true });
    await file.setAttributes({ mtime: NEW });
    expect((await stat(path.join(root, 'file.txt'))).mtime).toEqual(NEW);
    await file.close();
  });
});

describe('windows_mode_ftp and TYPE A', () => {
  const STORED = 'one\ntwo\r\nthree\rfour\n';

  beforeEach(async () => {
    await writeFile(path.join(root, 'text.txt'), STORED);
  });

  it('false: ASCII download turns bare LF into CRLF, keeps an existing CRLF and a lone CR', async () => {
    const fs = await open({ windows_mode_ftp: false });
    expect((await collect(await fs.openReadStream('text.txt', { ascii: true }))).toString()).toBe('one\r\ntwo\r\nthree\rfour\r\n');
  });

  it('false: ASCII upload turns CRLF into LF, keeps a lone CR, and handles a CR split across chunks', async () => {
    const fs = await open({ windows_mode_ftp: false });
    await upload(await fs.openWriteStream('up.txt', { ascii: true }), ['a\r', '\nb\r', 'c\r\n', 'd\r']);
    expect(await readFile(path.join(root, 'up.txt'), 'latin1')).toBe('a\nb\rc\nd\r');
  });

  it('false: binary transfers are byte-exact', async () => {
    const fs = await open({ windows_mode_ftp: false });
    expect((await collect(await fs.openReadStream('text.txt'))).toString()).toBe(STORED);
    await upload(await fs.openWriteStream('bin.txt'), ['a\r\nb\r']);
    expect(await readFile(path.join(root, 'bin.txt'), 'latin1')).toBe('a\r\nb\r');
  });

  it('true: TYPE A is ignored, every transfer is byte-exact', async () => {
    const fs = await open({ windows_mode_ftp: true });
    expect((await collect(await fs.openReadStream('text.txt', { ascii: true }))).toString()).toBe(STORED);
    await upload(await fs.openWriteStream('up.txt', { ascii: true }), ['a\r', '\nb\r\n']);
    expect(await readFile(path.join(root, 'up.txt'), 'latin1')).toBe('a\r\nb\r\n');
  });

  it('SIZE in ASCII mode: refused unless windows_mode_ftp', async () => {
    const plain = await open({ windows_mode_ftp: false });
    await expectGatewayError(plain.size('text.txt', { ascii: true }), 'UNSUPPORTED');
    expect(await plain.size('text.txt')).toBe(STORED.length);
    const windows = await open({ windows_mode_ftp: true });
    expect(await windows.size('text.txt', { ascii: true })).toBe(STORED.length);
    await expectGatewayError(windows.size('dir'), 'IS_A_DIRECTORY');
  });

  it('false: ASCII download from an offset (REST) converts from there', async () => {
    const fs = await open({ windows_mode_ftp: false });
    expect((await collect(await fs.openReadStream('text.txt', { ascii: true, start: 4 }))).toString()).toBe('two\r\nthree\rfour\r\n');
  });
});

describe('atomic uploads', () => {
  const leftovers = async (): Promise<string[]> => (await readdir(root)).filter((n) => n.includes('filegate') || n.startsWith('up'));

  it.each([false, true])('a finished stream appears under its name at "finish", with no temp left (ascii %s)', async (ascii) => {
    const fs = await open();
    const stream = await fs.openWriteStream('up.txt', { ascii });
    stream.write('first ');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await readdir(root)).not.toContain('up.txt'); // not visible while in progress
    await new Promise<void>((resolve, reject) => {
      stream.once('finish', resolve).once('error', reject);
      stream.end('second');
    });
    expect(await readFile(path.join(root, 'up.txt'), 'utf8')).toBe('first second');
    expect(await leftovers()).toEqual(['up.txt']);
  });

  it.each([false, true])('an aborted stream leaves no file and no temp (ascii %s)', async (ascii) => {
    const fs = await open();
    const stream = await fs.openWriteStream('up.txt', { ascii });
    stream.write('partial data');
    await new Promise((resolve) => setImmediate(resolve));
    const closed = new Promise((resolve) => stream.once('close', resolve));
    stream.destroy();
    await closed;
    await expect.poll(leftovers, { timeout: 2_000 }).toEqual([]);
  });

  it('an aborted stream with an error leaves no file and no temp', async () => {
    const fs = await open();
    const stream = await fs.openWriteStream('up.txt');
    stream.on('error', () => {});
    stream.write('partial data');
    stream.destroy(new Error('socket lost'));
    await expect.poll(leftovers, { timeout: 2_000 }).toEqual([]);
  });

  it('an aborted overwrite keeps the old content', async () => {
    const fs = await open();
    const stream = await fs.openWriteStream('file.txt');
    stream.write('replacement');
    await new Promise((resolve) => setImmediate(resolve));
    stream.destroy();
    await expect.poll(async () => (await readdir(root)).filter((n) => n.includes('filegate')), { timeout: 2_000 }).toEqual([]);
    expect(await readFile(path.join(root, 'file.txt'), 'utf8')).toBe('hello\n');
  });

  it('append and resume (REST) write in place', async () => {
    const fs = await open();
    await upload(await fs.openWriteStream('file.txt', { append: true }), ['more\n']);
    expect(await readFile(path.join(root, 'file.txt'), 'utf8')).toBe('hello\nmore\n');
    await upload(await fs.openWriteStream('file.txt', { start: 2 }), ['LL']);
    expect(await readFile(path.join(root, 'file.txt'), 'utf8')).toBe('heLLo\nmore\n');
  });

  it('refuses file offsets that are not safe integers (Node would use the current position instead)', async () => {
    const fs = await open();
    const huge = 2 ** 63;
    const before = await tree();
    await expectGatewayError(fs.openReadStream('file.txt', { start: 1e20 }), 'UNSUPPORTED');
    await expectGatewayError(fs.openWriteStream('file.txt', { start: huge }), 'UNSUPPORTED');
    const file = await fs.open('file.txt', { read: true, write: true });
    await expectGatewayError(file.write(Buffer.from('XY'), huge), 'UNSUPPORTED');
    await expectGatewayError(file.readInto(Buffer.alloc(2), huge), 'UNSUPPORTED');
    await expectGatewayError(file.readInto(Buffer.alloc(2), -1), 'UNSUPPORTED');
    await file.close();
    expect(await tree()).toEqual(before);
    expect(await readFile(path.join(root, 'file.txt'), 'utf8')).toBe('hello\n');
  });

  it('GuardedFile: abort leaves no file and no temp; close makes it appear', async () => {
    const fs = await open();
    const aborted = await fs.open('up-aborted.bin', { write: true, create: true, truncate: true });
    await aborted.write(Buffer.from('data'), 0);
    await aborted.abort();
    expect(await leftovers()).toEqual([]);

    const overwrite = await fs.open('file.txt', { write: true, create: true, truncate: true });
    await overwrite.write(Buffer.from('new'), 0);
    await overwrite.abort();
    expect(await readFile(path.join(root, 'file.txt'), 'utf8')).toBe('hello\n');

    const done = await fs.open('up-done.bin', { write: true, create: true, truncate: true });
    await done.write(Buffer.from('data'), 0);
    expect(await leftovers()).toHaveLength(1); // only the temporary name so far
    await done.close();
    await done.close(); // idempotent
    expect(await leftovers()).toEqual(['up-done.bin']);
    expect(await readFile(path.join(root, 'up-done.bin'), 'utf8')).toBe('data');
  });
});

describe('upload temporary names on storage shared by several nodes', () => {
  it("carry this process's tag; an abort here leaves another node's upload in the same directory alone", async () => {
    const others = path.join(root, 'dir', '.report.txt.filegate-00000000-11111111.part');
    await writeFile(others, 'another node is writing this');
    const fs = await open({});
    const file = await fs.open('dir/report.txt', { write: true, create: true, truncate: true });
    const mine = (await readdir(path.join(root, 'dir'))).filter((name) => name.startsWith('.report.txt.') && name !== path.basename(others));
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatch(/^\.report\.txt\.filegate-[0-9a-f]{8}-[0-9a-f]{8}\.part$/);
    expect(mine[0]!.slice(0, 30)).not.toBe(path.basename(others).slice(0, 30));
    expect((await fs.list('dir')).map((e) => e.name)).not.toContain(path.basename(others));
    await file.abort();
    expect(await readdir(path.join(root, 'dir'))).not.toContain(mine[0]);
    expect(await readFile(others, 'utf8')).toBe('another node is writing this');
  });
});
