/**
 * FTP at the byte level, over raw sockets: command framing (split and pipelined commands, over-long
 * lines, quotes and leading dashes kept), TYPE A conversion and windows_mode_ftp, refusals before
 * any data connection, aborted uploads, the PASS retry limit, idle timeout, connection limits, and
 * no internal error text on the wire.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging.js';
import { STAT_MAX_LINES } from '../../src/protocols/ftp/commands/listings.js';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';
import { RawFtp, connectData, readAll, writeAll } from '../helpers/ftp.js';

const PASSIVE = await passivePorts();
const PASSWORD = 'raw-secret';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('ftp over raw sockets', () => {
  let gw: TestGateway;
  let port: number;
  const home = (...parts: string[]): string => path.join(gw.storage, 'alice', ...parts);

  beforeAll(async () => {
    gw = await startGateway({
      ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE },
      users: await Promise.all([
        user('alice', PASSWORD),
        user('win', PASSWORD, { windows_mode_ftp: true }),
        user('reader', PASSWORD, { read_only: true }),
        user('tries', PASSWORD),
      ]),
    });
    port = gw.gateway.addresses.ftp!.port;
    await mkdir(home(), { recursive: true });
    await mkdir(path.join(gw.storage, 'win'), { recursive: true });
    await mkdir(path.join(gw.storage, 'reader'), { recursive: true });
    await writeFile(path.join(gw.storage, 'reader', 'kept.txt'), 'kept');
  });
  afterAll(() => gw?.close());

  async function loggedIn(username = 'alice'): Promise<RawFtp> {
    const ftp = await RawFtp.connect(port);
    const reply = await ftp.login(username, PASSWORD);
    expect(reply.code).toBe(230);
    return ftp;
  }

  /** STOR over a fresh data connection; returns the final reply. */
  async function store(ftp: RawFtp, name: string, data: Buffer): Promise<number> {
    const socket = await ftp.openData();
    ftp.send(`STOR ${name}`);
    expect((await ftp.reply()).code).toBe(150);
    await writeAll(socket, data);
    return (await ftp.reply()).code;
  }

  async function retrieve(ftp: RawFtp, name: string): Promise<Buffer> {
    const socket = await ftp.openData();
    ftp.send(`RETR ${name}`);
    expect((await ftp.reply()).code).toBe(150);
    const data = await readAll(socket);
    expect((await ftp.reply()).code).toBe(226);
    return data;
  }

  it('reassembles a command split across TCP segments and answers pipelined commands in order', async () => {
    const ftp = await RawFtp.connect(port);
    ftp.write('US');
    await sleep(50);
    ftp.write('ER ali');
    await sleep(50);
    ftp.write('ce\r');
    await sleep(50);
    ftp.write('\n');
    expect(await ftp.reply()).toMatchObject({ code: 331 });
    ftp.write(`PASS ${PASSWORD}\r\nPWD\r\nNOOP\r\n`);
    expect((await ftp.reply()).code).toBe(230);
    expect(await ftp.reply()).toMatchObject({ code: 257, text: '257 "/" is the current directory.' });
    expect((await ftp.reply()).code).toBe(200);
    ftp.close();
  });

  it('STAT <dir> lists over the control connection, at most STAT_MAX_LINES entries', async () => {
    await mkdir(home('stat-small'));
    for (const name of ['a.txt', 'b.txt']) await writeFile(home('stat-small', name), name);
    await mkdir(home('stat-big'));
    await Promise.all(Array.from({ length: STAT_MAX_LINES + 5 }, (_, i) => writeFile(home('stat-big', `f${i}`), '')));
    const ftp = await loggedIn();
    const small = await ftp.command('STAT stat-small');
    expect(small.code).toBe(213);
    expect(small.text.split('\r\n').filter((line) => line.startsWith(' '))).toHaveLength(2);
    expect(small.text).toMatch(/213 End of status$/);
    const big = await ftp.command('STAT stat-big');
    expect(big.code).toBe(213);
    expect(big.text.split('\r\n').filter((line) => line.startsWith(' '))).toHaveLength(STAT_MAX_LINES);
    expect(big.text).toMatch(/213 End of status \(the first 10000 entries; LIST shows them all\)$/);
    expect((await ftp.command('NOOP')).code).toBe(200);
    ftp.close();
  });

  it('refuses an over-long line and keeps serving the connection', async () => {
    const ftp = await loggedIn();
    ftp.send(`MKD ${'x'.repeat(40_000)}`);
    expect(await ftp.reply()).toMatchObject({ code: 500 });
    expect((await ftp.command('NOOP')).code).toBe(200);
    ftp.close();
  });

  it('refuses a bad file name with 501, and with 553 on STOR (RFC 959)', async () => {
    const ftp = await loggedIn();
    const tooLong = 'n'.repeat(5000); // past the core's path limit, within the line limit
    expect((await ftp.command(`MKD ${tooLong}`)).code).toBe(501);
    expect(await ftp.command(`STOR ${tooLong}`)).toEqual({ code: 553, text: '553 Invalid path.' });
    expect((await ftp.command('NOOP')).code).toBe(200);
    ftp.close();
  });

  it('keeps quotes and leading dashes as part of names', async () => {
    const ftp = await loggedIn();
    expect(await ftp.command('MKD "quoted dir"')).toEqual({ code: 257, text: '257 "/""quoted dir""" created.' });
    expect((await store(ftp, '-x', Buffer.from('dash')))).toBe(226);
    expect(await readdir(home())).toEqual(expect.arrayContaining(['"quoted dir"', '-x']));
    expect((await ftp.command('DELE -x')).code).toBe(250);
    expect(await readdir(home())).not.toContain('-x');
    expect((await ftp.command('RMD "quoted dir"')).code).toBe(250);
    ftp.close();
  });

  it('answers with the error table text, never internal error text', async () => {
    const ftp = await loggedIn();
    expect(await ftp.command('DELE missing.txt')).toEqual({ code: 550, text: '550 No such file or directory.' });
    expect(await ftp.command('FROB x')).toEqual({ code: 502, text: '502 Command not implemented.' });
    // A UNIX socket cannot be opened (ENXIO): an unmapped error must reach the client as 451 + safe text.
    const unixSocket = net.createServer();
    await new Promise<void>((resolve) => unixSocket.listen(home('sock'), resolve));
    try {
      const data = await ftp.openData();
      const reply = await ftp.command('RETR sock');
      expect(reply).toEqual({ code: 451, text: '451 Internal server error.' });
      data.destroy();
    } finally {
      await new Promise((resolve) => unixSocket.close(resolve));
    }
    ftp.close();
  });

  it('TYPE A converts line endings both ways on the raw bytes, a CR split across segments included', async () => {
    const ftp = await loggedIn();
    expect((await ftp.command('TYPE A')).code).toBe(200);
    const socket = await ftp.openData();
    ftp.send('STOR text.txt');
    expect((await ftp.reply()).code).toBe(150);
    socket.write('one\r\ntwo\r');
    await sleep(50);
    socket.write('\nlone\rcr\r\n');
    await writeAll(socket, Buffer.alloc(0));
    expect((await ftp.reply()).code).toBe(226);
    expect(await readFile(home('text.txt'), 'latin1')).toBe('one\ntwo\nlone\rcr\n');

    await writeFile(home('unix.txt'), 'a\nb\r\nc\n');
    expect((await retrieve(ftp, 'unix.txt')).toString('latin1')).toBe('a\r\nb\r\nc\r\n');
    expect(await ftp.command('SIZE unix.txt')).toMatchObject({ code: 550 });
    expect((await ftp.command('TYPE I')).code).toBe(200);
    expect((await retrieve(ftp, 'unix.txt')).toString('latin1')).toBe('a\nb\r\nc\n');
    expect(await ftp.command('SIZE unix.txt')).toEqual({ code: 213, text: '213 7' });
    ftp.close();
  });

  it('windows_mode_ftp: TYPE A is accepted but transfers stay byte-exact and SIZE works', async () => {
    const ftp = await loggedIn('win');
    expect((await ftp.command('TYPE A')).code).toBe(200);
    const bytes = Buffer.from('x\r\ny\nz\r');
    expect(await store(ftp, 'exact.txt', bytes)).toBe(226);
    expect((await readFile(path.join(gw.storage, 'win', 'exact.txt'))).equals(bytes)).toBe(true);
    expect((await retrieve(ftp, 'exact.txt')).equals(bytes)).toBe(true);
    expect(await ftp.command('SIZE exact.txt')).toEqual({ code: 213, text: '213 7' });
    ftp.close();
  });

  it('REST resumes downloads and uploads', async () => {
    const ftp = await loggedIn();
    await writeFile(home('resume.bin'), '0123456789');
    expect((await ftp.command('REST 4')).code).toBe(350);
    expect((await retrieve(ftp, 'resume.bin')).toString()).toBe('456789');
    expect((await ftp.command('REST 6')).code).toBe(350);
    expect(await store(ftp, 'resume.bin', Buffer.from('abcdef'))).toBe(226);
    expect(await readFile(home('resume.bin'), 'utf8')).toBe('012345abcdef');
    ftp.close();
  });

  it('a REST offset beyond any file is refused at RETR/STOR with 550, and the file is untouched', async () => {
    const ftp = await loggedIn();
    await writeFile(home('far.bin'), '0123456789');
    for (const verb of ['RETR', 'STOR']) {
      expect((await ftp.command('REST 100000000000000000000')).code).toBe(350);
      expect((await ftp.command(`${verb} far.bin`)).code, verb).toBe(550);
    }
    expect(await readFile(home('far.bin'), 'utf8')).toBe('0123456789');
    expect((await retrieve(ftp, 'far.bin')).toString()).toBe('0123456789'); // the offset applied to one command only
    ftp.close();
  });

  it('names with CR/LF on disk never reach a listing line; new ones are refused', async () => {
    const ftp = await loggedIn();
    const dir = home('forged');
    await mkdir(dir);
    await writeFile(path.join(dir, 'real.txt'), 'r');
    await writeFile(path.join(dir, 'evil\r\n-rw-r--r-- 1 ftp ftp 0 Jan  1 00:00 forged.txt'), 'e');
    await writeFile(path.join(dir, 'two\nlines'), 'e');
    await mkdir(path.join(dir, 'sub\rdir'));
    for (const verb of ['LIST', 'NLST', 'MLSD']) {
      const data = await ftp.openData();
      ftp.send(`${verb} forged`);
      expect((await ftp.reply()).code).toBe(150);
      const lines = (await readAll(data)).toString().split('\r\n');
      expect((await ftp.reply()).code).toBe(226);
      expect({ verb, lines: lines.length }).toEqual({ verb, lines: 2 }); // one entry, then the final CRLF
      expect(lines[0]).toMatch(/real\.txt$/);
      expect(lines.join('')).not.toMatch(/forged|lines|dir/);
    }
    expect((await ftp.command('MKD tab\there')).code).toBe(501);
    expect((await ftp.command('STOR car\rriage')).code).toBe(553);
    expect(await readdir(home())).not.toContain('tab\there');
    ftp.close();
  });

  it('read_only write verbs are refused with 550 before any data connection is used', async () => {
    const ftp = await loggedIn('reader');
    await ftp.passivePort(); // a data connection is offered but never opened
    for (const command of ['STOR new.txt', 'APPE kept.txt', 'STOU', 'DELE kept.txt', 'MKD dir', 'XMKD dir', 'RMD kept.txt', 'RNFR kept.txt', 'SITE CHMOD 600 kept.txt', 'SITE UTIME 20010203040506 kept.txt', 'MFMT 20010203040506 kept.txt']) {
      const reply = await ftp.command(command);
      expect({ command, code: reply.code }).toEqual({ command, code: 550 });
      expect(reply.text).toContain('read-only');
    }
    expect(await readdir(path.join(gw.storage, 'reader'))).toEqual(['kept.txt']);
    expect((await retrieve(ftp, 'kept.txt')).toString()).toBe('kept');
    ftp.close();
  });

  it('accepts the data connection only from the control connection address', async () => {
    const ftp = await loggedIn();
    await writeFile(home('mine.txt'), 'mine');
    const port = await ftp.passivePort();
    const intruder = await connectData(port, '127.0.0.2');
    const intruderClosed = new Promise((resolve) => intruder.once('close', resolve));
    const data = await connectData(port);
    ftp.send('RETR mine.txt');
    expect((await ftp.reply()).code).toBe(150);
    expect((await readAll(data)).toString()).toBe('mine');
    expect((await ftp.reply()).code).toBe(226);
    await intruderClosed;
    ftp.close();
  });

  /** Starts an upload and sends part of it; returns the data connection. */
  async function partialUpload(ftp: RawFtp, name: string): Promise<net.Socket> {
    const socket = await ftp.openData();
    ftp.send(`STOR ${name}`);
    expect((await ftp.reply()).code).toBe(150);
    socket.write(Buffer.alloc(64 * 1024, 1));
    await sleep(100);
    return socket;
  }

  it('an upload whose data connection is reset leaves no file, not even a temporary one', async () => {
    const ftp = await loggedIn();
    const socket = await partialUpload(ftp, 'partial.bin');
    socket.resetAndDestroy();
    expect(await ftp.reply()).toEqual({ code: 426, text: '426 Transfer aborted.' });
    expect((await readdir(home())).filter((name) => name.includes('partial'))).toEqual([]);
    ftp.close();
  });

  it('an upload whose client goes away (control closed, data ended) leaves no file', async () => {
    const ftp = await loggedIn();
    const socket = await partialUpload(ftp, 'vanished.bin');
    ftp.close();
    await sleep(100);
    socket.end();
    await sleep(300);
    expect((await readdir(home())).filter((name) => name.includes('vanished'))).toEqual([]);
  });

  it('ABOR during a download: 426 for the transfer, then 226', async () => {
    const ftp = await loggedIn();
    await writeFile(home('large.bin'), Buffer.alloc(64 * 1024 * 1024));
    const socket = await ftp.openData();
    socket.pause(); // do not read: the transfer stalls on backpressure
    ftp.send('RETR large.bin');
    expect((await ftp.reply()).code).toBe(150);
    await sleep(100);
    ftp.send('ABOR');
    expect((await ftp.reply()).code).toBe(426);
    expect((await ftp.reply()).code).toBe(226);
    expect((await ftp.command('NOOP')).code).toBe(200);
    socket.destroy();
    ftp.close();
  });

  it('closes the connection after 3 failed PASS attempts', async () => {
    const ftp = await RawFtp.connect(port);
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(await ftp.login('tries', 'wrong')).toEqual({ code: 530, text: '530 Login incorrect.' });
    }
    expect((await ftp.reply()).code).toBe(421);
    await ftp.closed();
  });

  it('AUTH TLS drops plaintext pipelined after it (it never runs as if sent over TLS)', async () => {
    const ftp = await RawFtp.connect(port);
    ftp.write('AUTH TLS\r\nUSER alice\r\n');
    expect((await ftp.reply()).code).toBe(234);
    await ftp.startTls();
    expect(await ftp.command(`PASS ${PASSWORD}`)).toEqual({ code: 503, text: '503 Send USER first.' });
    ftp.close();
  });

  it('installs no process signal handlers (ftp-srv would make SIGTERM/SIGINT/SIGQUIT exit the process)', async () => {
    const signals = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;
    const before = signals.map((signal) => process.listenerCount(signal));
    const another = await startGateway({ ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE, implicitTlsPort: 0 } });
    try {
      expect(signals.map((signal) => process.listenerCount(signal))).toEqual(before);
    } finally {
      await another.close();
    }
  });
});

describe('ftp connection policy', () => {
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    gw = await startGateway({
      ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE, idleTimeoutSeconds: 1, maxConnectionsPerSource: 3, pasvUrl: '10.1.2.3' },
      users: [await user('alice', PASSWORD)],
    });
    port = gw.gateway.addresses.ftp!.port;
  });
  afterAll(() => gw?.close());

  it('closes an idle control connection with 421', async () => {
    const ftp = await RawFtp.connect(port);
    const started = Date.now();
    expect(await ftp.reply(5_000)).toMatchObject({ code: 421 });
    await ftp.closed();
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('does not time out while an upload keeps moving', async () => {
    const ftp = await RawFtp.connect(port);
    expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
    // PASV names pasvUrl; the data connection itself goes to our loopback listener.
    const pasv = await ftp.command('PASV');
    const numbers = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(pasv.text)!.slice(1).map(Number);
    expect(numbers.slice(0, 4)).toEqual([10, 1, 2, 3]);
    const data = await connectData(numbers[4]! * 256 + numbers[5]!);
    ftp.send('STOR slow.bin');
    expect((await ftp.reply()).code).toBe(150);
    for (let i = 0; i < 15; i++) {
      data.write(Buffer.alloc(1024, i));
      await sleep(200);
    }
    await writeAll(data, Buffer.alloc(0));
    expect((await ftp.reply()).code).toBe(226);
    expect((await readFile(path.join(gw.storage, 'alice', 'slow.bin'))).length).toBe(15 * 1024);
    ftp.close();
  });

  it('refuses connections over the per-source limit with 421', async () => {
    await sleep(200); // connections of earlier tests are gone
    const held = await Promise.all([RawFtp.connect(port), RawFtp.connect(port), RawFtp.connect(port)]);
    const socket = net.connect({ port, host: '127.0.0.1' });
    const answer = await readAll(socket);
    expect(answer.toString()).toBe('421 Too many connections; try again later.\r\n');
    for (const ftp of held) ftp.close();
  });
});

describe('ftp logging', () => {
  it('never logs the TLS private key or a password, even at debug level', async () => {
    const lines: string[] = [];
    const logger = createLogger('debug', { write: (line: string) => void lines.push(line) });
    const gw = await startGateway(
      { ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE, implicitTlsPort: 0 }, users: [await user('alice', PASSWORD)] },
      { logger },
    );
    try {
      const ftp = await RawFtp.connect(gw.gateway.addresses.ftps!.port, { implicitTls: true });
      expect((await ftp.login('alice', 'wrong-password-42')).code).toBe(530);
      expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
      expect((await ftp.command('QUIT')).code).toBe(221);
      await ftp.closed();
    } finally {
      await gw.close();
    }
    const log = lines.join('');
    expect(log).toContain('"outcome":"success"'); // the login was audited, with the TLS version
    expect(log).toContain('"tls":"TLSv1.3"');
    expect(log).not.toContain('PRIVATE KEY');
    expect(log).not.toContain(PASSWORD);
    expect(log).not.toContain('wrong-password-42');
  });
});
