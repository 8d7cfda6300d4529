/**
 * The SFTP adapter request by request, driven by the ssh2 client: transfers, read_only, the jail,
 * the listing cap, extensions, exec/shell, aborted uploads, logout, limits, idle timeout and close.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, utils, type FileEntry, type ParsedKey, type SFTPWrapper, type Stats } from 'ssh2';
import { createGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logging.js';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { call, clientKeyPair, rawSftpChannel, sftpWire, sshLogin, statusOf, type SshSession } from '../helpers/sftp.js';

const PW = 'sftp-protocol-pw';
const STATUS = { EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4, OP_UNSUPPORTED: 8 };

describe('SFTP requests (ssh2 client)', () => {
  let gw: TestGateway;
  let port: number;
  const home = (...parts: string[]): string => path.join(gw.storage, ...parts);
  const sessions: SshSession[] = [];
  const login = async (username: string): Promise<SFTPWrapper> => {
    const session = await sshLogin(port, { username, password: PW });
    sessions.push(session);
    return session.sftp;
  };

  beforeAll(async () => {
    gw = await startGateway({
      sftp: { host: '127.0.0.1', port: 0 },
      users: await Promise.all([
        user('alice', PW),
        user('reader', PW, { read_only: true }),
        user('capped', PW, { max_dir_listing_size: 600 }),
        user('plenty', PW, { root_path: 'capped' }),
      ]),
    });
    port = gw.gateway.addresses.sftp!.port;
    await mkdir(home('alice'), { recursive: true });
    await mkdir(home('alice2'), { recursive: true });
    await writeFile(home('alice2', 'secret.txt'), 'sibling secret');
    await symlink('/etc', home('alice', 'etc-link'));
    await symlink(gw.storage, home('alice', 'storage-link'));
    await mkdir(home('reader', 'sub'), { recursive: true });
    await writeFile(home('reader', 'existing.txt'), 'read me');
    await mkdir(home('capped'), { recursive: true });
    await Promise.all(Array.from({ length: 1200 }, (_, i) => writeFile(home('capped', `f${String(i).padStart(4, '0')}.txt`), String(i))));
  });
  afterAll(async () => {
    for (const s of sessions) s.end();
    await gw?.close();
  });

  it('moves files both ways byte for byte, with many requests in flight', async () => {
    const sftp = await login('alice');
    const data = randomBytes(6 * 1024 * 1024 + 123);
    const local = path.join(gw.dir, 'local.bin');
    const back = path.join(gw.dir, 'back.bin');
    await writeFile(local, data);
    await call((cb) => sftp.fastPut(local, '/big.bin', { concurrency: 64, chunkSize: 32768 }, cb));
    expect((await readFile(home('alice', 'big.bin'))).equals(data)).toBe(true);
    await call((cb) => sftp.fastGet('/big.bin', back, { concurrency: 64, chunkSize: 32768 }, cb));
    expect((await readFile(back)).equals(data)).toBe(true);
    // Random-access reads still return the right bytes.
    const handle = await call<Buffer>((cb) => sftp.open('/big.bin', 'r', cb));
    const piece = Buffer.alloc(1000);
    const { bytesRead } = await new Promise<{ bytesRead: number }>((resolve, reject) =>
      sftp.read(handle, piece, 0, 1000, 5_000_001, (err, n) => (err ? reject(err) : resolve({ bytesRead: n }))),
    );
    expect(bytesRead).toBe(1000);
    expect(piece.equals(data.subarray(5_000_001, 5_001_001))).toBe(true);
    await call((cb) => sftp.close(handle, cb));
  });

  it('answers the attribute and path requests', async () => {
    const sftp = await login('alice');
    await call((cb) => sftp.mkdir('/dir', cb));
    await call((cb) => sftp.writeFile('/dir/a.txt', 'hello', cb));
    const st = await call<Stats>((cb) => sftp.stat('/dir/a.txt', cb));
    expect(st.size).toBe(5);
    await call((cb) => sftp.chmod('/dir/a.txt', 0o600, cb));
    expect((await stat(home('alice', 'dir', 'a.txt'))).mode & 0o777).toBe(0o600);
    await call((cb) => sftp.symlink('/dir/a.txt', '/dir/link', cb));
    expect(await call<string>((cb) => sftp.readlink('/dir/link', cb))).toBe('/dir/a.txt');
    expect((await call<Stats>((cb) => sftp.lstat('/dir/link', cb))).isSymbolicLink()).toBe(true);
    expect(await call<string>((cb) => sftp.realpath('/dir/link', cb))).toBe('/dir/a.txt');
    // SFTP v3 RENAME never replaces; posix-rename does.
    await call((cb) => sftp.writeFile('/dir/b.txt', 'other', cb));
    expect((await statusOf(call((cb) => sftp.rename('/dir/a.txt', '/dir/b.txt', cb)))).code).toBe(STATUS.FAILURE);
    await call((cb) => sftp.ext_openssh_rename('/dir/a.txt', '/dir/b.txt', cb));
    expect(await readFile(home('alice', 'dir', 'b.txt'), 'utf8')).toBe('hello');
    await call((cb) => sftp.ext_openssh_hardlink('/dir/b.txt', '/dir/c.txt', cb));
    expect((await stat(home('alice', 'dir', 'c.txt'))).ino).toBe((await stat(home('alice', 'dir', 'b.txt'))).ino);
    await call((cb) => sftp.unlink('/dir/link', cb));
    await call((cb) => sftp.unlink('/dir/b.txt', cb));
    await call((cb) => sftp.unlink('/dir/c.txt', cb));
    expect((await statusOf(call((cb) => sftp.rmdir('/nope', cb)))).code).toBe(STATUS.NO_SUCH_FILE);
    await call((cb) => sftp.rmdir('/dir', cb));
    expect(await readdir(home('alice'))).not.toContain('dir');
    // A handle the server never gave out gets an error reply, not silence.
    expect((await statusOf(call((cb) => sftp.close(Buffer.from('nope'), cb)))).code).toBe(STATUS.NO_SUCH_FILE);
  });

  it('read_only: every write verb is refused with PERMISSION_DENIED, reads work', async () => {
    const sftp = await login('reader');
    const denied = async (what: string, request: Promise<unknown>): Promise<void> => {
      const { code, message } = await statusOf(request);
      expect(code, what).toBe(STATUS.PERMISSION_DENIED);
      expect(message, what).toMatch(/read-only/);
    };
    await denied('open for writing', call((cb) => sftp.open('/new.txt', 'w', cb)));
    await denied('open read-write', call((cb) => sftp.open('/existing.txt', 'r+', cb)));
    await denied('open for append', call((cb) => sftp.open('/existing.txt', 'a', cb)));
    await denied('mkdir', call((cb) => sftp.mkdir('/newdir', cb)));
    await denied('rmdir', call((cb) => sftp.rmdir('/sub', cb)));
    await denied('remove', call((cb) => sftp.unlink('/existing.txt', cb)));
    await denied('rename', call((cb) => sftp.rename('/existing.txt', '/moved.txt', cb)));
    await denied('symlink', call((cb) => sftp.symlink('/existing.txt', '/link', cb)));
    await denied('setstat mode', call((cb) => sftp.chmod('/existing.txt', 0o600, cb)));
    await denied('setstat times', call((cb) => sftp.utimes('/existing.txt', new Date(1e12), new Date(1e12), cb)));
    await denied('posix-rename', call((cb) => sftp.ext_openssh_rename('/existing.txt', '/moved.txt', cb)));
    await denied('hardlink', call((cb) => sftp.ext_openssh_hardlink('/existing.txt', '/hard.txt', cb)));

    expect((await call<Buffer>((cb) => sftp.readFile('/existing.txt', cb))).toString()).toBe('read me');
    const names = (await call<FileEntry[]>((cb) => sftp.readdir('/', cb))).map((e) => e.filename).sort();
    expect(names).toEqual(['existing.txt', 'sub']);
    expect(await readdir(home('reader'))).toEqual(['existing.txt', 'sub']);
    expect((await stat(home('reader', 'existing.txt'))).mode & 0o777).toBe(0o644);
  });

  it('never leaves root_path: .., absolute paths, backslashes, siblings and symlinks pointing out', async () => {
    const sftp = await login('alice');
    await call((cb) => sftp.writeFile('/mine.txt', 'mine', cb));
    for (const p of ['..', '/..', '/../..', '../../..', '\\..\\..']) {
      expect(await call<string>((cb) => sftp.realpath(p, cb)), p).toBe('/');
    }
    const rootNames = (await call<FileEntry[]>((cb) => sftp.readdir('/../..', cb))).map((e) => e.filename).sort();
    expect(rootNames).toEqual((await readdir(home('alice'))).sort());
    expect(rootNames).not.toContain('alice2');
    for (const p of ['/../alice2/secret.txt', '../alice2/secret.txt', '..\\alice2\\secret.txt', path.join(gw.storage, 'alice2', 'secret.txt')]) {
      expect((await statusOf(call((cb) => sftp.readFile(p, cb)))).code, p).toBe(STATUS.NO_SUCH_FILE);
    }
    // Symlinks on disk that point out of the jail lead nowhere.
    for (const p of ['/etc-link/passwd', '/storage-link/alice2/secret.txt']) {
      expect((await statusOf(call((cb) => sftp.readFile(p, cb)))).code, p).toBe(STATUS.NO_SUCH_FILE);
    }
    expect((await statusOf(call((cb) => sftp.readdir('/etc-link', cb)))).code).toBe(STATUS.NO_SUCH_FILE);
    expect((await statusOf(call((cb) => sftp.writeFile('/etc-link/evil', 'x', cb)))).code).toBe(STATUS.NO_SUCH_FILE);
    expect((await statusOf(call((cb) => sftp.readlink('/etc-link', cb)))).code).toBe(STATUS.NO_SUCH_FILE);
    // A symlink the client creates is bound to the jail too.
    await call((cb) => sftp.symlink('../../../../etc/passwd', '/made-link', cb));
    expect(await call<string>((cb) => sftp.readlink('/made-link', cb))).toBe('/etc/passwd');
    expect((await statusOf(call((cb) => sftp.readFile('/made-link', cb)))).code).toBe(STATUS.NO_SUCH_FILE);
    // No reply ever names a real path.
    for (const p of ['/', '/mine.txt', '/etc-link', '/nope/deeper']) {
      const answer = await call<string>((cb) => sftp.realpath(p, cb)).catch((err: Error) => err.message);
      expect(answer).not.toContain(gw.storage);
    }
  });

  it('caps a listing at max_dir_listing_size over several READDIR calls, sorted, then EOF', async () => {
    const all = Array.from({ length: 1200 }, (_, i) => `f${String(i).padStart(4, '0')}.txt`);
    const capped = await login('capped');
    const handle = await call<Buffer>((cb) => capped.opendir('/', cb));
    const pages: string[][] = [];
    for (let i = 0; i < 10; i++) {
      const page = await call<FileEntry[]>((cb) => capped.readdir(handle, cb)).catch((err: { code?: number }) => {
        if (err.code === STATUS.EOF) return undefined;
        throw err;
      });
      if (!page) break;
      pages.push(page.map((e) => e.filename));
      expect(page[0]!.longname).toMatch(/^-rw-r--r-- +1 \d+ +\d+ +\d+ \w{3} [ \d]\d [\d:]{4,5} f\d{4}\.txt$/);
    }
    await call((cb) => capped.close(handle, cb));
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.flat()).toEqual(all.slice(0, 600));
    // The same directory without a cap shows everything.
    const plenty = await login('plenty');
    expect((await call<FileEntry[]>((cb) => plenty.readdir('/', cb))).length).toBe(1200);
  });

  it('discards an upload whose connection drops before CLOSE', async () => {
    const session = await sshLogin(port, { username: 'alice', password: PW });
    const handle = await call<Buffer>((cb) => session.sftp.open('/partial.bin', 'w', cb));
    await call((cb) => session.sftp.write(handle, randomBytes(65536), 0, 65536, 0, cb as never));
    (session.client as unknown as { _sock: { destroy(): void } })._sock.destroy(); // the network goes away, no goodbye
    await session.closed;
    await expect.poll(async () => (await readdir(home('alice'))).filter((n) => n.includes('partial')), { timeout: 3000 }).toEqual([]);
  });

  it('closes files that finish opening after their channel closed (no leaked descriptor or upload)', async () => {
    const session = await sshLogin(port, { username: 'alice', password: PW });
    sessions.push(session);
    const { u32, str, packet } = sftpWire;
    const WRITE_CREATE_TRUNCATE = 0x02 | 0x08 | 0x10;
    for (let round = 0; round < 3; round++) {
      const channel = await rawSftpChannel(session.client);
      channel.resume();
      const opens = Array.from({ length: 40 }, (_, i) => packet(3, u32(i), str(`/raced-${round}-${i}`), u32(WRITE_CREATE_TRUNCATE), u32(0)));
      channel.write(Buffer.concat(opens));
      channel.close(); // right behind the OPENs: they finish opening after the channel is gone
      await new Promise((resolve) => channel.once('close', resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await readdir(home('alice'))).filter((name) => name.includes('raced'))).toEqual([]);
  });

  it('holds a pipelining client that does not read its replies to bounded memory, then answers every request', async () => {
    const session = await sshLogin(port, { username: 'alice', password: PW });
    sessions.push(session);
    await writeFile(home('alice', 'flood.bin'), randomBytes(8 * 1024 * 1024));
    const { u32, u64, str, packet } = sftpWire;
    const channel = await rawSftpChannel(session.client);
    let received = Buffer.alloc(0);
    const packets = (): Buffer[] => {
      const out: Buffer[] = [];
      while (received.length >= 4 && received.length >= 4 + received.readUInt32BE(0)) {
        out.push(received.subarray(4, 4 + received.readUInt32BE(0)));
        received = received.subarray(4 + received.readUInt32BE(0));
      }
      return out;
    };
    const collect = (chunk: Buffer): void => void (received = Buffer.concat([received, chunk]));
    channel.on('data', collect);
    channel.write(packet(3, u32(1), str('/flood.bin'), u32(0x01), u32(0)));
    let handle: Buffer | undefined;
    for (let i = 0; i < 100 && !handle; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const reply = packets().find((p) => p[0] === 102); // SSH_FXP_HANDLE
      if (reply) handle = reply.subarray(9, 9 + reply.readUInt32BE(5));
    }
    expect(handle).toBeDefined();
    channel.off('data', collect);
    channel.pause(); // the client stops reading: its window shuts

    const READS = 2000;
    const before = process.memoryUsage().arrayBuffers;
    const reads = Array.from({ length: READS }, (_, i) => packet(5, u32(100 + i), str(handle!), u64(BigInt((i % 32) * 262144)), u32(255 * 1024)));
    channel.write(Buffer.concat(reads)); // 2000 x 255 KiB = 500 MB of replies asked for
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(200 * 1024 * 1024);

    let answered = 0;
    channel.on('data', (chunk: Buffer) => {
      collect(chunk);
      answered += packets().filter((p) => p[0] === 103 && p.readUInt32BE(1) >= 100).length; // SSH_FXP_DATA
    });
    channel.resume();
    await expect.poll(() => answered, { timeout: 20_000, interval: 50 }).toBe(READS);
    channel.close();
  });

  it('cuts off a client that keeps sending past its window', async () => {
    const lines: string[] = [];
    const own = await startGateway(
      { sftp: { host: '127.0.0.1', port: 0 }, users: [await user('alice', PW)] },
      { logger: createLogger('info', { write: (line: string) => void lines.push(line) }) },
    );
    try {
      await mkdir(path.join(own.storage, 'alice'), { recursive: true });
      await writeFile(path.join(own.storage, 'alice', 'overrun.bin'), randomBytes(1024 * 1024));
      const session = await sshLogin(own.gateway.addresses.sftp!.port, { username: 'alice', password: PW });
      const { u32, u64, str, packet } = sftpWire;
      const channel = await rawSftpChannel(session.client);
      channel.pause(); // replies stay unread, so the server stops taking requests
      const window = (channel as unknown as { outgoing: { window: number } }).outgoing;
      const reads = Array.from({ length: 1000 }, (_, i) => packet(5, u32(i), str(Buffer.from([0, 0, 0, 0])), u64(0n), u32(255 * 1024)));
      channel.write(packet(3, u32(1), str('/overrun.bin'), u32(0x01), u32(0)));
      const overrun = (): boolean => lines.join('').includes('"event":"sftp_window_overrun"');
      // Keep pushing (bounded: 200 rounds, about 40 MiB) until the server cuts the channel off; how
      // fast it gets there depends on the machine's load, not on the behaviour under test.
      for (let round = 0; round < 200 && !overrun(); round++) {
        window.window = 2 ** 30; // a client that ignores the server's window
        channel.write(Buffer.concat([...reads, packet(6, u32(5000), str('x'), u64(0n), str(Buffer.alloc(200 * 1024)))]));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await expect.poll(overrun, { timeout: 5000 }).toBe(true);
      session.end();
    } finally {
      await own.close();
    }
  });

  it('offers only the sftp subsystem: exec and shell get a clear message', async () => {
    const session = await sshLogin(port, { username: 'alice', password: PW });
    sessions.push(session);
    const result = await new Promise<{ stderr: string; code: number | undefined }>((resolve, reject) =>
      session.client.exec('ls /', (err, stream) => {
        if (err) return reject(err);
        let stderr = '';
        let code: number | undefined;
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        stream.on('exit', (c: number) => (code = c));
        stream.on('close', () => resolve({ stderr, code }));
        stream.resume();
      }),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/file transfer only \(SFTP\)/);
  });

  it('bounds the channels of one connection', async () => {
    const session = await sshLogin(port, { username: 'alice', password: PW }); // holds one channel already
    sessions.push(session);
    const open = (): Promise<SFTPWrapper> => call<SFTPWrapper>((cb) => session.client.sftp(cb));
    for (let i = 1; i < 8; i++) await open();
    await expect(open()).rejects.toThrow();
    await call((cb) => session.sftp.writeFile('/still-works.txt', 'yes', cb));
  });

  it('logging the session out disconnects the client within a second', async () => {
    const session = await sshLogin(port, { username: 'alice', password: PW });
    const live = (await gw.gateway.sessions.list()).filter((s) => s.username === 'alice');
    expect(live.length).toBeGreaterThan(0);
    const started = Date.now();
    for (const s of live) gw.gateway.sessions.delete(s.id);
    await session.closed;
    expect(Date.now() - started).toBeLessThan(1000);
    // Closing the connection ends its session (endWithConnection).
    const before = new Set((await gw.gateway.sessions.list()).map((s) => s.id));
    const again = await sshLogin(port, { username: 'reader', password: PW });
    const id = (await gw.gateway.sessions.list()).find((s) => !before.has(s.id))!.id;
    again.end();
    await again.closed;
    await expect.poll(() => gw.gateway.sessions.get(id), { timeout: 2000 }).toBeUndefined();
  });
});

describe('SFTP host keys', () => {
  /** SHA-256 of the host key the server presents (the client gives up right after seeing it). */
  const hostKeyOf = (port: number): Promise<string> =>
    new Promise((resolve) => {
      const client = new Client();
      client.on('error', () => {});
      client.connect({
        host: '127.0.0.1',
        port,
        username: 'nobody',
        readyTimeout: 10_000,
        hostVerifier: (key: Buffer) => {
          resolve(createHash('sha256').update(key).digest('base64'));
          return false;
        },
      });
    });

  it('generates host keys into certsDir once and reuses them; configured keys are used as given', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'filegate-hostkeys-'));
    const base = { storage: path.join(dir, 'data'), certsDir: path.join(dir, 'certs'), users: [await user('u', PW)] };
    try {
      const fingerprints: string[] = [];
      for (let i = 0; i < 2; i++) {
        const gateway = await createGateway({ ...base, sftp: { host: '127.0.0.1', port: 0 } });
        fingerprints.push(await hostKeyOf(gateway.addresses.sftp!.port));
        await gateway.close();
      }
      expect(fingerprints[1]).toBe(fingerprints[0]);
      expect((await readdir(path.join(dir, 'certs'))).sort()).toEqual(['ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub', 'ssh_host_rsa_key', 'ssh_host_rsa_key.pub']);

      const own = clientKeyPair();
      const keyFile = path.join(dir, 'own_host_key');
      await writeFile(keyFile, own.privateKey);
      const gateway = await createGateway({ ...base, sftp: { host: '127.0.0.1', port: 0, hostKeys: [keyFile] } });
      const presented = await hostKeyOf(gateway.addresses.sftp!.port);
      await gateway.close();
      const parsed = utils.parseKey(own.publicKey) as ParsedKey;
      expect(presented).toBe(createHash('sha256').update(parsed.getPublicSSH()).digest('base64'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SFTP connection limits, idle timeout and shutdown', () => {
  it('limits connections per source address and in total', async () => {
    const gw = await startGateway({
      sftp: { host: '127.0.0.1', port: 0, maxConnectionsPerSource: 2, maxConnections: 2 },
      users: [await user('u', PW)],
    });
    try {
      const port = gw.gateway.addresses.sftp!.port;
      const first = await sshLogin(port, { username: 'u', password: PW });
      const second = await sshLogin(port, { username: 'u', password: PW });
      await expect(sshLogin(port, { username: 'u', password: PW })).rejects.toThrow();
      first.end();
      await first.closed;
      const third = await sshLogin(port, { username: 'u', password: PW });
      third.end();
      second.end();
    } finally {
      await gw.close();
    }
  });

  it('closes connections not logged in within loginTimeoutSeconds of accept, however they trickle; the per-source cap holds meanwhile', async () => {
    const gw = await startGateway({
      sftp: { host: '127.0.0.1', port: 0, loginTimeoutSeconds: 1, maxConnectionsPerSource: 3, idleTimeoutSeconds: 60 },
      users: [await user('u', PW)],
    });
    try {
      const port = gw.gateway.addresses.sftp!.port;
      const banner = Buffer.from('SSH-2.0-trickle_1.0\r\n');
      const tricklers = await Promise.all(
        Array.from({ length: 3 }, async () => {
          const socket = net.connect(port, '127.0.0.1');
          await new Promise((resolve) => socket.once('connect', resolve));
          socket.on('error', () => {});
          socket.resume();
          let sent = 0;
          // One byte every 100 ms: any byte used to reset the old timers.
          const timer = setInterval(() => void (sent < banner.length - 2 && socket.write(banner.subarray(sent, ++sent))), 100);
          const closed = new Promise<number>((resolve) => socket.once('close', () => (clearInterval(timer), resolve(Date.now()))));
          return { closed };
        }),
      );
      const started = Date.now();
      // The source's three places are taken by clients that never log in: a fourth is closed unanswered.
      const fourth = net.connect(port, '127.0.0.1');
      fourth.on('error', () => {});
      let answered = false;
      fourth.on('data', () => (answered = true));
      await new Promise((resolve) => fourth.once('close', resolve));
      expect(answered).toBe(false);
      const closedAt = await Promise.all(tricklers.map((t) => t.closed));
      for (const at of closedAt) expect(at - started).toBeLessThan(2500);
      // A real login works afterwards and outlives the deadline.
      const session = await sshLogin(port, { username: 'u', password: PW });
      await new Promise((resolve) => setTimeout(resolve, 1300));
      await call((cb) => session.sftp.writeFile('/after-deadline.txt', 'still here', cb));
      session.end();
    } finally {
      await gw.close();
    }
  });

  it('closes a connection without SFTP requests for the idle timeout, SSH keepalives or not; requests keep it', async () => {
    const gw = await startGateway({ sftp: { host: '127.0.0.1', port: 0, idleTimeoutSeconds: 1 }, users: [await user('u', PW)] });
    try {
      const port = gw.gateway.addresses.sftp!.port;
      // keepalive@openssh.com global requests every 200 ms: transport traffic, not activity.
      const [quiet, keepalive, busy] = await Promise.all([0, 200, 0].map((keepaliveInterval) => sshLogin(port, { username: 'u', password: PW, keepaliveInterval })));
      const started = Date.now();
      let busyClosed = false;
      void busy.closed.then(() => (busyClosed = true));
      for (let i = 0; i < 8; i++) {
        await call<string>((cb) => busy.sftp.realpath('.', cb));
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      await Promise.all([quiet.closed, keepalive.closed]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(busyClosed).toBe(false);
      await busy.closed;
      expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
    } finally {
      await gw.close();
    }
  });

  it('close() ends every connection and stops listening', async () => {
    const gw = await startGateway({ sftp: { host: '127.0.0.1', port: 0 }, users: [await user('u', PW)] });
    const port = gw.gateway.addresses.sftp!.port;
    const session = await sshLogin(port, { username: 'u', password: PW });
    const started = Date.now();
    await gw.close();
    await session.closed;
    expect(Date.now() - started).toBeLessThan(2500);
    await expect(sshLogin(port, { username: 'u', password: PW })).rejects.toThrow();
  });
});
