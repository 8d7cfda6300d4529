/**
 * The FTP adapter with the basic-ftp client (in process) and, where exact replies matter, raw
 * sockets: plain, explicit and implicit FTPS; FEAT, MLSD/MLST facts, the jail, the listing cap, the
 * mtime rule, SITE, STOU/APPE, TOTP, ssl_required, requireTls, LANG and logout.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { Client, FTPError } from 'basic-ftp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpVerifier, type UserRecordInput } from '../../src/core/index.js';
import { TOTP_SECRET, startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';
import { RawFtp, connectData, readAll } from '../helpers/ftp.js';

const PASSIVE = await passivePorts();
const PASSWORD = 'basic-secret';
const TLS_OPTIONS = { rejectUnauthorized: false };
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type Mode = 'plain' | 'explicit' | 'implicit';

/** Users by name, with the flags each test is about. */
const USERS: Record<string, Partial<UserRecordInput>> = {
  alice: {},
  reader: { read_only: true },
  capped: { max_dir_listing_size: 3 },
  keeper: { use_provided_modified_at: false },
  totp: { totp_secret: TOTP_SECRET },
  secure: { ssl_required: true },
  german: { language: 'de' },
  leaver: {},
};

async function download(client: Client, remotePath: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await client.downloadTo(new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) }), remotePath);
  return Buffer.concat(chunks);
}

/** What a 5xx/4xx refusal said, or undefined when the call succeeded. */
async function refusal(run: Promise<unknown>): Promise<{ code: number; message: string } | undefined> {
  try {
    await run;
    return undefined;
  } catch (err) {
    if (err instanceof FTPError) return { code: err.code, message: err.message };
    throw err;
  }
}

describe('ftp adapter with basic-ftp', () => {
  let gw: TestGateway;
  const home = (...parts: string[]): string => path.join(gw.storage, ...parts);

  beforeAll(async () => {
    gw = await startGateway({
      ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE, implicitTlsPort: 0 },
      users: await Promise.all(Object.entries(USERS).map(([name, flags]) => user(name, PASSWORD, flags))),
    });
    for (const name of Object.keys(USERS)) await mkdir(home(name), { recursive: true });
    await writeFile(home('reader', 'kept.txt'), 'kept');
    await mkdir(home('reader', 'folder'));
    for (const name of ['e', 'b', 'd', 'a', 'c']) await writeFile(home('capped', `${name}.txt`), name);
    await writeFile(home('outside.txt'), 'outside the jail');
    await symlink(gw.storage, home('alice', 'escape'));
  });
  afterAll(() => gw?.close());

  async function connect(username: string, mode: Mode = 'plain', password = PASSWORD): Promise<Client> {
    const client = new Client(10_000);
    const { ftp, ftps } = gw.gateway.addresses;
    try {
      await client.access({
        host: '127.0.0.1',
        port: mode === 'implicit' ? ftps!.port : ftp!.port,
        user: username,
        password,
        secure: mode === 'plain' ? false : mode === 'implicit' ? 'implicit' : true,
        secureOptions: TLS_OPTIONS,
      });
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  async function raw(username: string): Promise<RawFtp> {
    const ftp = await RawFtp.connect(gw.gateway.addresses.ftp!.port);
    expect((await ftp.login(username, PASSWORD)).code).toBe(230);
    return ftp;
  }

  async function rawList(ftp: RawFtp, command: string): Promise<string[]> {
    const data = await ftp.openData();
    ftp.send(command);
    expect((await ftp.reply()).code).toBe(150);
    const text = (await readAll(data)).toString('utf8');
    expect((await ftp.reply()).code).toBe(226);
    return text.split('\r\n').filter(Boolean);
  }

  it.each<Mode>(['plain', 'explicit', 'implicit'])('%s: uploads, downloads and lists the same storage', async (mode) => {
    const client = await connect('alice', mode);
    try {
      const socket = client.ftp.socket as TLSSocket;
      if (mode === 'plain') expect(socket.encrypted).toBeFalsy();
      else expect(socket.getProtocol()).toMatch(/^TLSv1\.[23]$/);
      const data = randomBytes(1024 * 1024 + 17);
      await client.uploadFrom(Readable.from([data]), `${mode}.bin`);
      expect((await readFile(home('alice', `${mode}.bin`))).equals(data)).toBe(true);
      expect((await download(client, `${mode}.bin`)).equals(data)).toBe(true);
      expect((await client.list()).map((entry) => entry.name)).toContain(`${mode}.bin`);
      expect(await client.size(`${mode}.bin`)).toBe(data.length);
    } finally {
      client.close();
    }
  });

  it('FEAT advertises EPSV, PASV, MLST facts, MFMT, REST, SIZE, MDTM, UTF8, AUTH TLS and the LANG languages', async () => {
    const client = await connect('alice');
    try {
      const features = await client.features();
      expect(Object.fromEntries(features)).toMatchObject({
        EPSV: '',
        PASV: '',
        MLST: 'type*;size*;modify*;perm*;',
        MFMT: '',
        MDTM: '',
        SIZE: '',
        REST: 'STREAM',
        UTF8: '',
        AUTH: 'TLS',
        PBSZ: '',
        PROT: '',
        LANG: 'en*;de;fr;es',
      });
    } finally {
      client.close();
    }
  });

  it('MLSD and MLST facts: type, size, modify, and perm that reflects read_only', async () => {
    await writeFile(home('alice', 'facts.txt'), 'four');
    const when = (await stat(home('alice', 'facts.txt'))).mtime.toISOString().replace(/[-:T]/g, '').slice(0, 14);
    const writer = await raw('alice');
    expect(await rawList(writer, 'MLSD')).toContain(`type=file;size=4;modify=${when};perm=radfw; facts.txt`);
    expect((await writer.command('MLST facts.txt')).text).toBe(
      `250-Listing /facts.txt\r\n type=file;size=4;modify=${when};perm=radfw; /facts.txt\r\n250 End`,
    );
    writer.close();
    const reader = await raw('reader');
    const lines = await rawList(reader, 'MLSD /');
    expect(lines).toContainEqual(expect.stringMatching(/^type=file;size=4;modify=\d{14};perm=r; kept\.txt$/));
    expect(lines).toContainEqual(expect.stringMatching(/^type=dir;size=\d+;modify=\d{14};perm=el; folder$/));
    reader.close();
  });

  it('PASV and EPSV both open data connections', async () => {
    const ftp = await raw('reader');
    const pasv = await ftp.command('PASV');
    const [h1, h2, h3, h4, p1, p2] = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(pasv.text)!.slice(1).map(Number) as number[];
    expect([h1, h2, h3, h4]).toEqual([127, 0, 0, 1]);
    const data = await connectData(p1! * 256 + p2!);
    ftp.send('RETR kept.txt');
    expect((await ftp.reply()).code).toBe(150);
    expect((await readAll(data)).toString()).toBe('kept');
    expect((await ftp.reply()).code).toBe(226);
    expect(await rawList(ftp, 'NLST')).toEqual(['folder', 'kept.txt']);
    ftp.close();
  });

  it('the jail: CWD, CDUP, "..", backslashes, absolute real paths and symlinks never leave root_path; PWD is virtual', async () => {
    const ftp = await raw('alice');
    for (const target of ['..', '/../..', '..\\..\\..', '/']) {
      expect((await ftp.command(`CWD ${target}`)).code).toBe(250);
      expect((await ftp.command('PWD')).text).toBe('257 "/" is the current directory.');
    }
    expect((await ftp.command('CDUP')).code).toBe(250);
    expect((await ftp.command('PWD')).text).toBe('257 "/" is the current directory.');
    expect((await ftp.command(`CWD ${gw.storage}`)).code).toBe(550);
    expect((await ftp.command('CWD escape')).code).toBe(550);
    expect((await ftp.command('SIZE ../outside.txt')).code).toBe(550);
    expect((await ftp.command('SIZE ..\\outside.txt')).code).toBe(550);
    expect((await ftp.command('SIZE escape/outside.txt')).code).toBe(550);
    expect((await ftp.command('MKD sub')).code).toBe(257);
    expect(await ftp.command('CWD sub')).toEqual({ code: 250, text: '250 Directory changed to "/sub".' });
    expect((await ftp.command('PWD')).text).toBe('257 "/sub" is the current directory.');
    expect(await rawList(ftp, 'NLST ../..')).toEqual(await rawList(ftp, 'NLST /'));
    ftp.close();
  });

  it('max_dir_listing_size caps LIST, NLST and MLSD at N entries sorted by name, silently', async () => {
    const ftp = await raw('capped');
    expect(await rawList(ftp, 'NLST')).toEqual(['a.txt', 'b.txt', 'c.txt']);
    expect((await rawList(ftp, 'LIST')).map((line) => line.split(' ').pop())).toEqual(['a.txt', 'b.txt', 'c.txt']);
    expect((await rawList(ftp, 'LIST -la')).map((line) => line.split(' ').pop())).toEqual(['a.txt', 'b.txt', 'c.txt']);
    expect((await rawList(ftp, 'MLSD')).map((line) => line.split(' ').pop())).toEqual(['a.txt', 'b.txt', 'c.txt']);
    ftp.close();
  });

  it('use_provided_modified_at: MFMT and SITE UTIME apply the time, MDTM reports it', async () => {
    await writeFile(home('alice', 'dated.txt'), 'x');
    const ftp = await raw('alice');
    expect(await ftp.command('MFMT 20010203040506 dated.txt')).toEqual({ code: 213, text: '213 Modify=20010203040506; /dated.txt' });
    expect((await stat(home('alice', 'dated.txt'))).mtime.toISOString()).toBe('2001-02-03T04:05:06.000Z');
    expect(await ftp.command('MDTM dated.txt')).toEqual({ code: 213, text: '213 20010203040506' });
    expect((await ftp.command('SITE UTIME 20020304050607 dated.txt')).code).toBe(200);
    expect((await stat(home('alice', 'dated.txt'))).mtime.toISOString()).toBe('2002-03-04T05:06:07.000Z');
    expect((await ftp.command('SITE UTIME dated.txt 20030405060708 20030405060708 20030405060708 UTC')).code).toBe(200);
    expect(await ftp.command('MDTM dated.txt')).toEqual({ code: 213, text: '213 20030405060708' });
    expect((await ftp.command('MFMT yesterday dated.txt')).code).toBe(501);
    ftp.close();
  });

  it('without use_provided_modified_at, MFMT and SITE UTIME are accepted, ignored, and report the real mtime', async () => {
    await writeFile(home('keeper', 'dated.txt'), 'x');
    const real = (await stat(home('keeper', 'dated.txt'))).mtime.toISOString().replace(/[-:T]/g, '').slice(0, 14);
    const ftp = await raw('keeper');
    expect(await ftp.command('MFMT 20010203040506 dated.txt')).toEqual({ code: 213, text: `213 Modify=${real}; /dated.txt` });
    expect(await ftp.command('SITE UTIME 20010203040506 dated.txt')).toEqual({ code: 200, text: `200 UTIME OK; modify=${real}` });
    expect(await ftp.command('MDTM dated.txt')).toEqual({ code: 213, text: `213 ${real}` });
    ftp.close();
  });

  it('SITE CHMOD, STOU, APPE, RNFR/RNTO, DELE, MKD and RMD', async () => {
    const client = await connect('alice');
    try {
      await client.uploadFrom(Readable.from([Buffer.from('mode')]), 'mode.txt');
      expect((await client.send('SITE CHMOD 600 mode.txt')).code).toBe(200);
      expect((await stat(home('alice', 'mode.txt'))).mode & 0o777).toBe(0o600);
      await client.appendFrom(Readable.from([Buffer.from('+more')]), 'mode.txt');
      expect(await readFile(home('alice', 'mode.txt'), 'utf8')).toBe('mode+more');
      await client.rename('mode.txt', 'renamed.txt');
      expect(await readFile(home('alice', 'renamed.txt'), 'utf8')).toBe('mode+more');
      expect(await refusal(client.send('RNTO nowhere.txt'))).toMatchObject({ code: 503 });
      await client.remove('renamed.txt');
      await client.ensureDir('/made/deeper');
      await client.cd('/');
      await client.removeDir('/made');
      expect(await readdir(home('alice'))).not.toContain('made');
    } finally {
      client.close();
    }
    const ftp = await raw('alice');
    const data = await ftp.openData();
    ftp.send('STOU');
    const opening = await ftp.reply();
    expect(opening.code).toBe(150);
    const name = /FILE: (\S+)/.exec(opening.text)![1]!;
    data.end('unique');
    expect((await ftp.reply()).code).toBe(226);
    expect(await readFile(home('alice', name), 'utf8')).toBe('unique');
    ftp.close();
  });

  it('TOTP: the password alone is refused with a hint, password + code logs in once, a replayed code is refused', async () => {
    const alone = await refusal(connect('totp'));
    expect(alone).toEqual({ code: 530, message: '530 Two-factor authentication required: send your password followed directly by the 6-digit code from your authenticator app.' });
    const code = TotpVerifier.generate(TOTP_SECRET, Date.now());
    const client = await connect('totp', 'plain', PASSWORD + code);
    client.close();
    expect(await refusal(connect('totp', 'plain', PASSWORD + code))).toMatchObject({ code: 530 });
  });

  it('ssl_required: refused on a plain control connection; over TLS its data connections need PROT P', async () => {
    expect(await refusal(connect('secure'))).toEqual({
      code: 530,
      message: '530 This account requires an encrypted connection: use AUTH TLS before logging in.',
    });
    const client = await connect('secure', 'explicit');
    try {
      expect((await client.list()).length).toBe(0);
      await client.send('PROT C');
      expect(await refusal(client.list())).toEqual({ code: 521, message: '521 This account requires protected data connections: use PROT P.' });
    } finally {
      client.close();
    }
  });

  it('LANG picks the reply language; a user whose language is de gets German', async () => {
    const ftp = await RawFtp.connect(gw.gateway.addresses.ftp!.port);
    expect((await ftp.command('LANG fr')).code).toBe(200);
    expect((await ftp.command('FEAT')).text).toContain(' LANG en;de;fr*;es');
    expect(await ftp.login('alice', 'wrong')).toEqual({ code: 530, text: '530 Identifiants incorrects.' });
    expect((await ftp.command('LANG xx')).code).toBe(504);
    ftp.close();
    const german = await raw('german');
    expect(await german.command('DELE missing.txt')).toEqual({ code: 550, text: '550 Datei oder Verzeichnis nicht gefunden.' });
    expect((await german.command('LANG es')).code).toBe(200);
    expect(await german.command('DELE missing.txt')).toEqual({ code: 550, text: '550 No existe el archivo o directorio.' });
    german.close();
  });

  it('logging out through the core ends the control connection with 421 within 1 second', async () => {
    const ftp = await raw('leaver');
    const session = (await gw.gateway.sessions.list()).find((s) => s.username === 'leaver');
    expect(session).toBeDefined();
    const started = Date.now();
    expect(await gw.gateway.sessions.delete(session!.id)).toBe(true);
    expect(await ftp.reply(1_000)).toEqual({ code: 421, text: '421 Your session has ended (logged out).' });
    await ftp.closed();
    expect(Date.now() - started).toBeLessThan(1_000);
    // A session that ends with its connection: closing a logged-in client removes it.
    const again = await raw('leaver');
    expect((await gw.gateway.sessions.list()).filter((s) => s.username === 'leaver')).toHaveLength(1);
    again.close();
    for (let i = 0; i < 50 && (await gw.gateway.sessions.list()).some((s) => s.username === 'leaver'); i++) await sleep(20);
    expect((await gw.gateway.sessions.list()).filter((s) => s.username === 'leaver')).toHaveLength(0);
  });
});

describe('ftp with requireTls', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway({
      ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE, requireTls: true },
      users: [await user('alice', PASSWORD)],
    });
  });
  afterAll(() => gw?.close());

  it('refuses USER before AUTH TLS, so no password crosses in clear; works after AUTH TLS', async () => {
    const ftp = await RawFtp.connect(gw.gateway.addresses.ftp!.port);
    expect(await ftp.command('USER alice')).toEqual({ code: 530, text: '530 This server requires TLS: use AUTH TLS before logging in.' });
    expect(await ftp.command(`PASS ${PASSWORD}`)).toEqual({ code: 503, text: '503 Send USER first.' });
    await ftp.authTls();
    expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
    ftp.close();
  });
});
