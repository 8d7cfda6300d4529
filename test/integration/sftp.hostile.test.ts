/**
 * Hostile SFTP clients after login: an OPENDIR flood on a huge directory (every handle the server
 * allows, 8 channels, no CLOSE) and thousands of random and mutated packets. The server answers or
 * closes the channel, stays within a stated memory bound, and keeps serving new logins.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientChannel } from 'ssh2';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { call, rawSftpChannel, sftpWire, sshLogin, type SshSession } from '../helpers/sftp.js';

const PW = 'hostile-pw';
const { u32, u64, str, packet } = sftpWire;
const T = { OPEN: 3, READ: 5, OPENDIR: 11, READDIR: 12, STAT: 17, EXTENDED: 200, STATUS: 101, HANDLE: 102, NAME: 104 };
const ENTRIES = 20_000;
const MAX_HANDLES = 256;
const BUFFERED = 8 * 1024 * 1024;

/** Replies of a raw channel, split into packets as they arrive; only their first 64 bytes are kept. */
function replies(channel: ClientChannel): { packets: Buffer[]; closed: Promise<void> } {
  const packets: Buffer[] = [];
  let pending: Buffer = Buffer.alloc(0);
  channel.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
      packets.push(Buffer.from(pending.subarray(4, Math.min(4 + pending.readUInt32BE(0), 68))));
      pending = pending.subarray(4 + pending.readUInt32BE(0));
    }
  });
  return { packets, closed: new Promise((resolve) => channel.once('close', () => resolve())) };
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** What the test process (the server runs in it) still holds in JS heap and buffers after a full collection. */
const held = async (): Promise<number> => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

describe('SFTP against hostile clients', () => {
  let gw: TestGateway;
  let port: number;
  const sessions: SshSession[] = [];

  beforeAll(async () => {
    gw = await startGateway({
      sftp: { host: '127.0.0.1', port: 0, maxHandles: MAX_HANDLES, maxBufferedBytes: BUFFERED },
      users: [await user('reader', PW, { read_only: true, root_path: 'shared' }), await user('fuzz', PW)],
    });
    port = gw.gateway.addresses.sftp!.port;
    const big = path.join(gw.storage, 'shared', 'big');
    await mkdir(big, { recursive: true });
    await mkdir(path.join(gw.storage, 'fuzz'), { recursive: true });
    for (let i = 0; i < ENTRIES; i += 1000) {
      await Promise.all(Array.from({ length: 1000 }, (_, j) => writeFile(path.join(big, `file-${String(i + j).padStart(6, '0')}-with-a-longer-name.txt`), '')));
    }
  }, 60_000);
  afterAll(async () => {
    for (const s of sessions) s.end();
    await gw?.close();
  });

  it('an OPENDIR flood (20,000 entries, every handle allowed, 8 channels, no CLOSE) stays within the connection budget and a new login is served', async () => {
    const flood = async (opensPerChannel: number) => {
      const session = await sshLogin(port, { username: 'reader', password: PW });
      sessions.push(session);
      const channels = await Promise.all(Array.from({ length: 7 }, () => rawSftpChannel(session.client))); // + the login's own = 8
      const streams = channels.map((channel) => ({ channel, ...replies(channel) }));
      for (const [c, { channel }] of streams.entries()) {
        channel.write(Buffer.concat(Array.from({ length: opensPerChannel }, (_, i) => packet(T.OPENDIR, u32(c * 1000 + i), str('/big')))));
      }
      return { session, streams };
    };
    // A small round first, so that what is measured is what the flood holds, not code warming up.
    const warmUp = await flood(2);
    await expect.poll(() => warmUp.streams.every((s) => s.packets.length === 3), { timeout: 10_000 }).toBe(true);
    for (const { channel, packets } of warmUp.streams) channel.write(packet(T.READDIR, u32(99), str(packets[1]!.subarray(9, 13))));
    await expect.poll(() => warmUp.streams.every((s) => s.packets.length === 4), { timeout: 10_000 }).toBe(true);
    warmUp.session.end();
    await warmUp.session.closed;
    const baseline = await held();
    // 40 OPENDIRs per channel: 280 in all, past the 256 handles a connection may hold.
    const { session, streams } = await flood(40);
    const answeredOpens = (): number => streams.reduce((n, s) => n + s.packets.filter((p) => p[0] !== 2).length, 0);
    await expect.poll(answeredOpens, { timeout: 30_000, interval: 50 }).toBe(7 * 40);
    const handles = streams.map((s) => s.packets.filter((p) => p[0] === T.HANDLE).map((p) => p.subarray(9, 9 + p.readUInt32BE(5))));
    const granted = handles.reduce((n, h) => n + h.length, 0);
    expect(granted).toBe(MAX_HANDLES);
    const refusals = streams.flatMap((s) => s.packets.filter((p) => p[0] === T.STATUS));
    expect(refusals.length).toBe(7 * 40 - MAX_HANDLES);
    for (const refusal of refusals) expect(refusal.readUInt32BE(5)).toBe(4); // SSH_FX_FAILURE, an answer

    // One READDIR on every handle: each keeps a window of names for its next page.
    for (const [c, { channel }] of streams.entries()) {
      channel.write(Buffer.concat(handles[c]!.map((h, i) => packet(T.READDIR, u32(50_000 + c * 1000 + i), str(h)))));
    }
    const answeredPages = (): number => streams.reduce((n, s) => n + s.packets.filter((p) => p[0] === T.NAME).length, 0);
    await expect.poll(answeredPages, { timeout: 60_000, interval: 50 }).toBe(MAX_HANDLES);
    // What the flood holds, by the README's bound: a quarter of the connection's buffer budget for
    // directory windows plus a 32 KiB floor per handle (2 + 8 MiB here), and slack for V8's own structures.
    const retained = (await held()) - baseline;
    expect(retained).toBeLessThan(BUFFERED / 4 + MAX_HANDLES * 32 * 1024 + 8 * 1024 * 1024);
    // A new login is served while the flood holds every handle of its connection.
    const other = await sshLogin(port, { username: 'reader', password: PW });
    sessions.push(other);
    const page = await call<unknown[]>((cb) => other.sftp.readdir('/big', cb));
    expect(page.length).toBe(ENTRIES);
    other.end();
    session.end();
    await session.closed;

  }, 120_000);

  it('thousands of random and mutated packets: every framed one answered, the server survives, memory returns, logins still work', async () => {
    await writeFile(path.join(gw.storage, 'fuzz', 'seed.bin'), randomBytes(300_000));
    const warm = await sshLogin(port, { username: 'fuzz', password: PW });
    warm.end();
    await warm.closed;
    const baseline = await held();
    const started = Date.now();
    const templates = [
      packet(T.STAT, u32(1), str('/seed.bin')),
      packet(T.OPEN, u32(2), str('/seed.bin'), u32(1), u32(0)),
      packet(T.READ, u32(3), str(u32(0)), u64(0n), u32(65536)),
      packet(T.OPENDIR, u32(4), str('/')),
      packet(T.READDIR, u32(5), str(u32(1))),
      packet(T.EXTENDED, u32(6), str('statvfs@openssh.com'), str('/')),
      packet(T.EXTENDED, u32(7), str('copy-data'), str(u32(0)), u64(0n), u64(10n), str(u32(0)), u64(0n)),
      packet(9, u32(8), str('/fz'), u32(0x0f), u64(5n), u32(1), u32(1), u32(0o600), u32(1), u32(2)),
    ];
    let sent = 0;
    for (let round = 0; round < 6 && Date.now() - started < 40_000; round++) {
      const session = await sshLogin(port, { username: 'fuzz', password: PW });
      const channel = await rawSftpChannel(session.client);
      const { packets, closed } = replies(channel);
      let isClosed = false;
      void closed.then(() => (isClosed = true));
      // Body mutations keep the length prefix right: each packet must get exactly one reply.
      const framed: Buffer[] = [];
      for (let i = 0; i < 500; i++) {
        const p = Buffer.from(templates[(round * 500 + i) % templates.length]!);
        for (let m = 0; m < 1 + (i % 5); m++) p[4 + Math.floor(Math.random() * (p.length - 4))] = Math.floor(Math.random() * 256);
        framed.push(p);
      }
      channel.write(Buffer.concat(framed));
      sent += framed.length;
      await expect.poll(() => packets.length, { timeout: 20_000, interval: 20 }).toBe(framed.length + 1); // + VERSION
      // Then raw noise, which may break framing: the server then closes the channel, nothing else.
      for (let i = 0; i < 50 && !isClosed; i++) channel.write(randomBytes(1 + Math.floor(Math.random() * 2000)));
      sent += 50;
      channel.close();
      await closed;
      session.end();
      await session.closed;
    }
    expect(sent).toBeGreaterThanOrEqual(2000);
    // A normal login and transfer work afterwards.
    const after = await sshLogin(port, { username: 'fuzz', password: PW });
    const data = randomBytes(300_000);
    await call((cb) => after.sftp.writeFile('/after-fuzz.bin', data, cb));
    expect((await call<Buffer>((cb) => after.sftp.readFile('/after-fuzz.bin', cb))).equals(data)).toBe(true);
    after.end();
    await after.closed;
    await expect.poll(async () => (await held()) - baseline, { timeout: 10_000, interval: 200 }).toBeLessThan(24 * 1024 * 1024);
  }, 120_000);
});
