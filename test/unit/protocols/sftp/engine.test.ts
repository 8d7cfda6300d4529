/**
 * The SFTP engine without SSH: every packet type and extension, malformed and unknown packets,
 * framing loss, random bytes, and the budget that holds back a client that does not read.
 */
import { lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { sftpWire } from '../../../helpers/sftp.js';
import { startEngine, type Harness, type Reply } from './engine-harness.js';

const { u32, u64, str, packet } = sftpWire;
const T = { INIT: 1, VERSION: 2, OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, LSTAT: 7, FSTAT: 8, SETSTAT: 9, FSETSTAT: 10, OPENDIR: 11, READDIR: 12, REMOVE: 13, MKDIR: 14, RMDIR: 15, REALPATH: 16, STAT: 17, RENAME: 18, READLINK: 19, SYMLINK: 20, STATUS: 101, HANDLE: 102, DATA: 103, NAME: 104, ATTRS: 105, EXTENDED: 200, EXTENDED_REPLY: 201 };
const S = { OK: 0, EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4, BAD_MESSAGE: 5, OP_UNSUPPORTED: 8 };
const NO_ATTRS = u32(0);
const PERMS = (mode: number): Buffer => Buffer.concat([u32(0x4), u32(mode)]);
const OPEN_READ = 0x01;
const OPEN_WRITE_NEW = 0x02 | 0x08 | 0x10;

let h: Harness;
let nextId = 1;
afterEach(() => h?.dispose());

const status = (r: Reply): number => {
  expect(r.type, `reply to ${r.id} is a STATUS`).toBe(T.STATUS);
  return r.body.u32();
};
const ask = (type: number, ...fields: Buffer[]): Promise<Reply> => {
  const id = nextId++;
  return h.request(packet(type, u32(id), ...fields), id);
};
const ext = (name: string, ...fields: Buffer[]): Promise<Reply> => ask(T.EXTENDED, str(name), ...fields);
const handleOf = (r: Reply): Buffer => {
  expect(r.type).toBe(T.HANDLE);
  return r.body.bytes();
};
const names = (r: Reply): string[] => {
  expect(r.type).toBe(T.NAME);
  const count = r.body.u32();
  return Array.from({ length: count }, () => {
    const name = r.body.string();
    r.body.string();
    r.body.attributes();
    return name;
  });
};

describe('SFTP engine: requests', () => {
  it('answers INIT with version 3 and the OpenSSH extensions under the version strings its client checks', async () => {
    h = await startEngine();
    h.send(packet(T.INIT, u32(3)));
    await h.waitFor(() => h.replies.length === 1);
    const version = h.replies[0]!;
    expect(version.type).toBe(T.VERSION);
    const body = version.raw.subarray(1);
    expect(body.readUInt32BE(0)).toBe(3);
    const advertised: Record<string, string> = {};
    let offset = 4;
    const readString = (): string => {
      const length = body.readUInt32BE(offset);
      const value = body.toString('utf8', offset + 4, offset + 4 + length);
      offset += 4 + length;
      return value;
    };
    while (offset < body.length) advertised[readString()] = readString();
    expect(advertised).toEqual({
      'posix-rename@openssh.com': '1',
      'statvfs@openssh.com': '2',
      'fstatvfs@openssh.com': '2',
      'hardlink@openssh.com': '1',
      'fsync@openssh.com': '1',
      'lsetstat@openssh.com': '1',
      'limits@openssh.com': '1',
      'expand-path@openssh.com': '1',
      'copy-data': '1',
      'home-directory': '1',
      'users-groups-by-id@openssh.com': '1',
    });
  });

  it('serves every v3 request type through the core', async () => {
    h = await startEngine();
    const home = (...p: string[]): string => path.join(h.root, ...p);
    expect(status(await ask(T.MKDIR, str('/d'), PERMS(0o750)))).toBe(S.OK);
    expect((await stat(home('d'))).mode & 0o777).toBe(0o750);
    const file = handleOf(await ask(T.OPEN, str('/d/f.txt'), u32(OPEN_WRITE_NEW), NO_ATTRS));
    expect(status(await ask(T.WRITE, str(file), u64(0n), str('hello world')))).toBe(S.OK);
    const fstat = await ask(T.FSTAT, str(file));
    expect(fstat.type).toBe(T.ATTRS);
    expect(status(await ask(T.FSETSTAT, str(file), PERMS(0o600)))).toBe(S.OK);
    expect(status(await ask(T.CLOSE, str(file)))).toBe(S.OK);
    expect(await readFile(home('d', 'f.txt'), 'utf8')).toBe('hello world');
    expect((await stat(home('d', 'f.txt'))).mode & 0o777).toBe(0o600);

    const reader = handleOf(await ask(T.OPEN, str('/d/f.txt'), u32(OPEN_READ), NO_ATTRS));
    const data = await ask(T.READ, str(reader), u64(6n), u32(100));
    expect(data.type).toBe(T.DATA);
    expect(data.body.bytes().toString()).toBe('world');
    expect(status(await ask(T.READ, str(reader), u64(11n), u32(100)))).toBe(S.EOF);
    expect(status(await ask(T.CLOSE, str(reader)))).toBe(S.OK);

    const attrs = await ask(T.STAT, str('/d/f.txt'));
    expect(attrs.type).toBe(T.ATTRS);
    expect(attrs.body.attributes().size).toBe(11);
    expect(status(await ask(T.SETSTAT, str('/d/f.txt'), PERMS(0o640)))).toBe(S.OK);
    expect((await stat(home('d', 'f.txt'))).mode & 0o777).toBe(0o640);
    expect(status(await ask(T.SYMLINK, str('/d/link'), str('/d/f.txt')))).toBe(S.OK); // draft order: link, target
    expect((await lstat(home('d', 'link'))).isSymbolicLink()).toBe(true);
    expect((await ask(T.LSTAT, str('/d/link'))).body.attributes().mode! & 0o170000).toBe(0o120000);
    expect(names(await ask(T.READLINK, str('/d/link')))).toEqual(['/d/f.txt']);
    expect(names(await ask(T.REALPATH, str('/d/../d/./link')))).toEqual(['/d/f.txt']);

    const dir = handleOf(await ask(T.OPENDIR, str('/d')));
    expect(names(await ask(T.READDIR, str(dir))).sort()).toEqual(['f.txt', 'link']);
    expect(status(await ask(T.READDIR, str(dir)))).toBe(S.EOF);
    expect(status(await ask(T.CLOSE, str(dir)))).toBe(S.OK);

    await writeFile(home('d', 'other.txt'), 'x');
    expect(status(await ask(T.RENAME, str('/d/f.txt'), str('/d/other.txt')))).toBe(S.FAILURE); // v3: never replaces
    expect(status(await ask(T.RENAME, str('/d/f.txt'), str('/d/g.txt')))).toBe(S.OK);
    expect(status(await ask(T.REMOVE, str('/d/g.txt')))).toBe(S.OK);
    expect(status(await ask(T.REMOVE, str('/d/link')))).toBe(S.OK);
    expect(status(await ask(T.REMOVE, str('/d/other.txt')))).toBe(S.OK);
    expect(status(await ask(T.RMDIR, str('/d')))).toBe(S.OK);
    expect(status(await ask(T.STAT, str('/d')))).toBe(S.NO_SUCH_FILE);
  });

  it('takes SYMLINK as (target, link) from OpenSSH clients', async () => {
    h = await startEngine({}, { symlinkTargetFirst: true });
    await writeFile(path.join(h.root, 'f.txt'), 'x');
    expect(status(await ask(T.SYMLINK, str('f.txt'), str('/l')))).toBe(S.OK);
    expect(await readlink(path.join(h.root, 'l'))).toBe(path.join(h.root, 'f.txt'));
  });

  it('serves the OpenSSH extensions through the core', async () => {
    h = await startEngine();
    const home = (...p: string[]): string => path.join(h.root, ...p);
    await writeFile(home('a.txt'), 'AAA');
    await writeFile(home('b.txt'), 'BBB');
    expect(status(await ext('posix-rename@openssh.com', str('/a.txt'), str('/b.txt')))).toBe(S.OK);
    expect(await readFile(home('b.txt'), 'utf8')).toBe('AAA');
    expect(status(await ext('hardlink@openssh.com', str('/b.txt'), str('/c.txt')))).toBe(S.OK);
    expect((await stat(home('c.txt'))).ino).toBe((await stat(home('b.txt'))).ino);

    const vfs = await ext('statvfs@openssh.com', str('/'));
    expect(vfs.type).toBe(T.EXTENDED_REPLY);
    const [bsize, , blocks] = [vfs.body.u64(), vfs.body.u64(), vfs.body.u64()];
    expect(bsize).toBeGreaterThan(0);
    expect(blocks).toBeGreaterThan(0);

    const file = handleOf(await ask(T.OPEN, str('/new.bin'), u32(OPEN_WRITE_NEW), NO_ATTRS));
    expect((await ext('fstatvfs@openssh.com', str(file))).type).toBe(T.EXTENDED_REPLY);
    expect(status(await ask(T.WRITE, str(file), u64(0n), str('0123456789')))).toBe(S.OK);
    expect(status(await ext('fsync@openssh.com', str(file)))).toBe(S.OK);
    expect(status(await ask(T.CLOSE, str(file)))).toBe(S.OK);

    const limits = await ext('limits@openssh.com');
    expect(limits.type).toBe(T.EXTENDED_REPLY);
    expect([limits.body.u64(), limits.body.u64(), limits.body.u64(), limits.body.u64()]).toEqual([262144, 261120, 261120, 256]);

    await symlink('b.txt', home('sl'));
    expect(status(await ext('lsetstat@openssh.com', str('/sl'), Buffer.concat([u32(0x8), u32(1_000_000), u32(1_000_000)])))).toBe(S.OK);
    expect(Math.floor((await lstat(home('sl'))).mtimeMs / 1000)).toBe(1_000_000);

    expect(names(await ext('expand-path@openssh.com', str('~/sub/../b.txt')))).toEqual(['/b.txt']);
    expect(names(await ext('expand-path@openssh.com', str('~')))).toEqual(['/']);
    expect(status(await ext('expand-path@openssh.com', str('~root/x')))).toBe(S.NO_SUCH_FILE);
    expect(names(await ext('home-directory', str('')))).toEqual(['/']);
    expect(names(await ext('home-directory', str('tester')))).toEqual(['/']);

    const from = handleOf(await ask(T.OPEN, str('/new.bin'), u32(OPEN_READ), NO_ATTRS));
    const to = handleOf(await ask(T.OPEN, str('/copy.bin'), u32(0x02 | 0x08), NO_ATTRS));
    expect(status(await ext('copy-data', str(from), u64(2n), u64(0n), str(to), u64(0n)))).toBe(S.OK);
    await ask(T.CLOSE, str(from));
    await ask(T.CLOSE, str(to));
    expect(await readFile(home('copy.bin'), 'utf8')).toBe('23456789');

    const ids = await ext('users-groups-by-id@openssh.com', str(Buffer.concat([u32(process.getuid!()), u32(4242)])), str(u32(process.getgid!())));
    expect(ids.type).toBe(T.EXTENDED_REPLY);
    const users = ids.body.bytes();
    expect(users.readUInt32BE(0)).toBe(6); // "tester"
    expect(users.toString('utf8', 4, 10)).toBe('tester');
    expect(users.readUInt32BE(10)).toBe(0); // an unknown id: the empty name
  });

  it('applies read_only to every write verb and write extension', async () => {
    h = await startEngine({ read_only: true });
    await writeFile(path.join(h.root, 'r.txt'), 'r');
    const denied = [
      await ask(T.OPEN, str('/w.txt'), u32(OPEN_WRITE_NEW), NO_ATTRS),
      await ask(T.MKDIR, str('/d'), NO_ATTRS),
      await ask(T.REMOVE, str('/r.txt')),
      await ask(T.RENAME, str('/r.txt'), str('/s.txt')),
      await ask(T.SYMLINK, str('/l'), str('/r.txt')),
      await ask(T.SETSTAT, str('/r.txt'), PERMS(0o600)),
      await ext('posix-rename@openssh.com', str('/r.txt'), str('/s.txt')),
      await ext('hardlink@openssh.com', str('/r.txt'), str('/h.txt')),
      await ext('lsetstat@openssh.com', str('/r.txt'), PERMS(0o600)),
    ];
    expect(denied.map(status)).toEqual(denied.map(() => S.PERMISSION_DENIED));
    const vfs = await ext('statvfs@openssh.com', str('/'));
    for (let i = 0; i < 9; i++) vfs.body.u64();
    expect(vfs.body.u64() & 0x1).toBe(1); // ST_RDONLY
  });
});

describe('SFTP engine: hostile input', () => {
  it('answers unknown types and extensions with OP_UNSUPPORTED and malformed packets with BAD_MESSAGE', async () => {
    h = await startEngine();
    expect(status(await h.request(packet(99, u32(7), str('x')), 7))).toBe(S.OP_UNSUPPORTED);
    expect(status(await h.request(packet(T.STATUS, u32(8), u32(0)), 8))).toBe(S.OP_UNSUPPORTED); // a reply type sent to us
    expect(status(await h.request(packet(T.EXTENDED, u32(9), str('nope@example.com')), 9))).toBe(S.OP_UNSUPPORTED);
    expect(status(await h.request(packet(T.OPEN, u32(10), u32(500)), 10))).toBe(S.BAD_MESSAGE); // string past the end
    expect(status(await h.request(packet(T.READ, u32(11), str('abcd')), 11))).toBe(S.BAD_MESSAGE);
    expect(status(await h.request(packet(T.SETSTAT, u32(12), str('/'), u32(0x80000000), u32(0xffffffff)), 12))).toBe(S.BAD_MESSAGE);
    expect(status(await h.request(packet(T.EXTENDED, u32(13), str('copy-data'), str('x')), 13))).toBe(S.BAD_MESSAGE);
    // Too short to carry an id: answered with id 0.
    h.send(Buffer.concat([u32(2), Buffer.from([T.STAT, 1])]));
    await h.waitFor(() => h.replies.some((r) => r.id === 0));
    expect(h.closed).toBe(false);
    // Still serving.
    expect((await h.request(packet(T.STAT, u32(14), str('/')), 14)).type).toBe(T.ATTRS);
  });

  it('closes the channel only when a length prefix is past the packet limit', async () => {
    h = await startEngine();
    h.send(Buffer.concat([u32(256 * 1024 + 1), Buffer.from([T.STAT])]));
    await h.waitFor(() => h.closed);
    expect(h.replies).toEqual([]);
  });

  it('never throws on random or mutated bytes: every packet is answered or the channel closes', async () => {
    const valid = [
      packet(T.STAT, u32(1), str('/')),
      packet(T.OPEN, u32(2), str('/f'), u32(OPEN_READ), NO_ATTRS),
      packet(T.READDIR, u32(3), str(u32(0))),
      packet(T.EXTENDED, u32(4), str('statvfs@openssh.com'), str('/')),
      packet(T.SETSTAT, u32(5), str('/x'), Buffer.concat([u32(0xf), u64(1n), u32(1), u32(2), u32(0o644), u32(1), u32(2)])),
    ];
    for (let round = 0; round < 40; round++) {
      h = await startEngine();
      let sent = 0;
      for (let i = 0; i < 50 && !h.closed; i++) {
        const base = Buffer.from(valid[(round + i) % valid.length]!);
        // Mutate body bytes (the length prefix stays right unless the round says otherwise).
        for (let m = 0; m < 1 + (i % 4); m++) base[4 + Math.floor(Math.random() * (base.length - 4))] = Math.floor(Math.random() * 256);
        if (round % 10 === 9) base.writeUInt32BE(Math.floor(Math.random() * 64), 0);
        expect(() => h.send(round % 5 === 4 ? randomBytes(1 + Math.floor(Math.random() * 40)) : base)).not.toThrow();
        sent++;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(sent).toBeGreaterThan(0);
      await h.dispose();
    }
  });
});

describe('SFTP engine: bounded resources', () => {
  it('stops taking requests while replies are unsent past the budget, and resumes as they go', async () => {
    h = await startEngine({}, { maxBuffered: 2 * 1024 * 1024 });
    await writeFile(path.join(h.root, 'big.bin'), randomBytes(4 * 1024 * 1024));
    const file = handleOf(await ask(T.OPEN, str('/big.bin'), u32(OPEN_READ), NO_ATTRS));
    h.holdReplies = true;
    const before = h.replies.length;
    for (let i = 0; i < 100; i++) h.send(packet(T.READ, u32(1000 + i), str(file), u64(BigInt(i * 32768)), u32(255 * 1024)));
    await h.waitFor(() => h.inputPaused);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const answered = h.replies.length - before;
    expect(answered).toBeLessThan(12); // 2 MiB of 255 KiB replies (one more may always run)
    expect(h.resources.budget.reserved).toBeLessThanOrEqual(2 * 1024 * 1024 + 256 * 1024 + 4096);
    h.holdReplies = false;
    const release = (): void => {
      for (const sent of h.held.splice(0)) sent();
    };
    await h.waitFor(() => {
      release();
      return h.replies.length - before === 100;
    });
    expect(h.inputPaused).toBe(false);
  });

  it('refuses a handle past the per-connection limit with an error reply, and serves again after CLOSE', async () => {
    h = await startEngine({}, { maxHandles: 3 });
    const dirs = [];
    for (let i = 0; i < 3; i++) dirs.push(handleOf(await ask(T.OPENDIR, str('/'))));
    const refused = await ask(T.OPENDIR, str('/'));
    expect(status(refused)).toBe(S.FAILURE);
    expect(refused.body.string()).toMatch(/limit.*3 open handles/);
    expect(status(await ask(T.OPEN, str('/x'), u32(OPEN_WRITE_NEW), NO_ATTRS))).toBe(S.FAILURE);
    expect(status(await ask(T.CLOSE, str(dirs[0]!)))).toBe(S.OK);
    expect((await ask(T.OPENDIR, str('/'))).type).toBe(T.HANDLE);
  });

  it('lists a big directory sorted and capped over pages while keeping a bounded window', async () => {
    // A pool of 256 KiB for directory memory: the names (~660 KB) need several windows.
    h = await startEngine({ max_dir_listing_size: 2500 }, { maxBuffered: 1024 * 1024 });
    const all = Array.from({ length: 3000 }, (_, i) => `entry-${String(i).padStart(5, '0')}-${'x'.repeat(40)}`);
    await mkdir(path.join(h.root, 'big'));
    await Promise.all(all.map((name) => writeFile(path.join(h.root, 'big', name), '')));
    const dir = handleOf(await ask(T.OPENDIR, str('/big')));
    const listed: string[] = [];
    let maxHeld = 0;
    for (;;) {
      const page = await ask(T.READDIR, str(dir));
      if (page.type === T.STATUS) break;
      listed.push(...names(page));
      maxHeld = Math.max(maxHeld, h.resources.windows.used);
    }
    expect(listed).toEqual([...all].sort().slice(0, 2500));
    expect(maxHeld).toBeLessThanOrEqual(256 * 1024 + 64 * 1024);
    expect(status(await ask(T.CLOSE, str(dir)))).toBe(S.OK);
    expect(h.resources.windows.used).toBe(0);
  });

  it('prepares the next READDIR reply while the client takes one in, and gives its room back on CLOSE', async () => {
    h = await startEngine();
    const all = Array.from({ length: 3000 }, (_, i) => `f${String(i).padStart(4, '0')}`);
    await mkdir(path.join(h.root, 'many'));
    await Promise.all(all.map((name) => writeFile(path.join(h.root, 'many', name), '')));
    const dir = handleOf(await ask(T.OPENDIR, str('/many')));
    const first = names(await ask(T.READDIR, str(dir)));
    expect(first).toEqual(all.slice(0, first.length));
    // Besides its window of names, the handle now holds the next reply (or the room for it).
    const windowOnly = all.slice(first.length).reduce((n, name) => n + 3 * name.length + 64, 0);
    await h.waitFor(() => h.resources.windows.used > windowOnly);
    const second = names(await ask(T.READDIR, str(dir)));
    expect(second).toEqual(all.slice(first.length, first.length + second.length));
    // READDIRs sent without waiting get the following pages in order, each entry once.
    const rest = await Promise.all([0, 1, 2, 3, 4, 5].map(() => ask(T.READDIR, str(dir))));
    expect(rest.filter((r) => r.type === T.NAME).flatMap(names)).toEqual(all.slice(first.length + second.length));
    expect(status(await ask(T.READDIR, str(dir)))).toBe(S.EOF);
    expect(status(await ask(T.CLOSE, str(dir)))).toBe(S.OK);
    await h.waitFor(() => h.resources.windows.used === 0); // a reply still being prepared gives its room back too
  });
});
