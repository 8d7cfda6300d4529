/**
 * Active mode (PORT/EPRT) with curl and lftp, plain and TLS, bytes checked; bounce protection (another
 * address, a privileged port); EPSV ALL; ftp.activeMode off; IPv6 on ::1 (EPSV, EPRT |2|).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net, { type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliBinary } from '../helpers/cli.js';
import { RawFtp, readAll, secureData } from '../helpers/ftp.js';
import { hasCommand, startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';

const PASSIVE = await passivePorts();
/**
 * curl 7.87-7.88 skip TLS on an active data connection whatever the server does (curl issue 10666,
 * fixed in 8.0): active FTPS with curl is tested only with a fixed curl; lftp and a raw client cover it.
 */
const CURL_ACTIVE_TLS = hasCommand('curl') && Number(/curl (\d+)\./.exec(execFileSync('curl', ['--version']).toString())?.[1]) >= 8;
const PASSWORD = 'active-secret';

/** A listener for one active-mode data connection from the server. */
async function dataListener(host = '127.0.0.1'): Promise<{ server: Server; port: number; accepted: Promise<Socket> }> {
  const server = net.createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, port: (server.address() as net.AddressInfo).port, accepted };
}

/** `PORT`/`EPRT` to a fresh listener (the command built from its port), then RETR `name`: the bytes received. */
async function activeRetrieve(ftp: RawFtp, command: (port: number) => string, name: string, host = '127.0.0.1'): Promise<string> {
  const { server, port, accepted } = await dataListener(host);
  try {
    expect((await ftp.command(command(port))).code).toBe(200);
    ftp.send(`RETR ${name}`);
    expect((await ftp.reply()).code).toBe(150);
    const text = (await readAll(await accepted)).toString();
    expect((await ftp.reply()).code).toBe(226);
    return text;
  } finally {
    server.close();
  }
}

describe('ftp active mode', () => {
  let gw: TestGateway;
  let port: number;
  const home = (...parts: string[]): string => path.join(gw.storage, 'alice', ...parts);

  beforeAll(async () => {
    gw = await startGateway({
      ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE },
      users: [await user('alice', PASSWORD)],
    });
    port = gw.gateway.addresses.ftp!.port;
    await mkdir(home(), { recursive: true });
  });
  afterAll(() => gw?.close());

  async function loggedIn(): Promise<RawFtp> {
    const ftp = await RawFtp.connect(port);
    expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
    return ftp;
  }

  it.skipIf(!hasCommand('curl')).each([
    ['EPRT, plain', []],
    ['PORT, plain', ['--disable-eprt']],
    ...(CURL_ACTIVE_TLS
      ? [
          ['EPRT, TLS', ['--ssl-reqd', '-k']],
          ['PORT, TLS', ['--disable-eprt', '--ssl-reqd', '-k']],
        ]
      : []),
  ] as [string, string[]][])('curl %s: upload and download, bytes intact', async (name, extra) => {
    const data = randomBytes(3 * 1024 * 1024 + 7);
    const file = `curl-${name.replace(/\W+/g, '-')}.bin`;
    const source = path.join(gw.dir, file);
    await writeFile(source, data);
    const url = `ftp://alice:${PASSWORD}@127.0.0.1:${port}/${file}`;
    const up = await runCli('curl', ['-sS', '--max-time', '30', '--ftp-port', '127.0.0.1', ...extra, '-T', source, url], { timeoutMs: 40_000 });
    expect(up).toMatchObject({ code: 0, stderr: '' });
    expect((await readFile(home(file))).equals(data)).toBe(true);
    const down = await runCliBinary('curl', ['-sS', '--max-time', '30', '--ftp-port', '127.0.0.1', ...extra, url], { timeoutMs: 40_000 });
    expect(down.code).toBe(0);
    expect(down.stdout.equals(data)).toBe(true);
  });

  it.skipIf(!hasCommand('lftp')).each([
    ['plain', ['set ftp:ssl-allow no']],
    ['TLS', ['set ftp:ssl-force yes', 'set ftp:ssl-protect-data yes']],
  ] as const)('lftp with passive mode off, %s: put, get and list', async (name, tlsSettings) => {
    const data = randomBytes(2 * 1024 * 1024 + 11);
    const file = `lftp-${name}.bin`;
    const local = path.join(gw.dir, file);
    await writeFile(local, data);
    const result = await runCli(
      'lftp',
      [
        '-c',
        [
          'set ssl:verify-certificate no',
          'set net:max-retries 1',
          'set net:timeout 15',
          'set cmd:fail-exit yes',
          'set ftp:passive-mode off',
          'set ftp:prefer-epsv no',
          ...tlsSettings,
          `open -u alice,${PASSWORD} ftp://127.0.0.1:${port}`,
          `put ${local} -o ${file}`,
          `get ${file} -o ${local}.back`,
          'cls -1',
        ].join('; '),
      ],
      { timeoutMs: 60_000 },
    );
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toContain(file);
    expect((await readFile(home(file))).equals(data)).toBe(true);
    expect((await readFile(`${local}.back`)).equals(data)).toBe(true);
  });

  it('refuses PORT/EPRT to another address or a privileged port (no FTP bounce), and malformed ones', async () => {
    const ftp = await loggedIn();
    for (const command of ['PORT 127,0,0,2,117,48', 'EPRT |1|127.0.0.2|30000|', 'PORT 127,0,0,1,0,22', 'EPRT |1|127.0.0.1|22|', 'EPRT |1|127.0.0.1|1023|']) {
      const reply = await ftp.command(command);
      expect({ command, code: reply.code }).toEqual({ command, code: 504 });
    }
    for (const command of ['PORT 127,0,0,1,300,1', 'PORT 1,2,3', 'EPRT |3|127.0.0.1|3000|', 'EPRT |1|::1|3000|', 'EPRT |1|127.0.0.1|99999|', 'EPRT 127.0.0.1']) {
      const reply = await ftp.command(command);
      expect({ command, code: reply.code }).toEqual({ command, code: 501 });
    }
    // Nothing was set up: a transfer has no data connection.
    await writeFile(home('x.txt'), 'x');
    expect((await ftp.command('RETR x.txt')).code).toBe(425);
    ftp.close();
  });

  it('PORT to the client itself: the server connects and sends the file', async () => {
    const ftp = await loggedIn();
    await writeFile(home('port.txt'), 'by port');
    expect(await activeRetrieve(ftp, (p) => `PORT 127,0,0,1,${p >> 8},${p & 255}`, 'port.txt')).toBe('by port');
    ftp.close();
  });

  it('PORT with PROT P: the server connects, then is the TLS server of the data connection', async () => {
    const ftp = await RawFtp.connect(port);
    await ftp.authTls();
    expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
    expect((await ftp.command('PBSZ 0')).code).toBe(200);
    expect((await ftp.command('PROT P')).code).toBe(200);
    const data = randomBytes(1024 * 1024 + 5);
    await writeFile(home('tls-port.bin'), data);
    const { server, port: dataPort, accepted } = await dataListener();
    expect((await ftp.command(`EPRT |1|127.0.0.1|${dataPort}|`)).code).toBe(200);
    ftp.send('RETR tls-port.bin');
    expect((await ftp.reply()).code).toBe(150);
    const secure = await secureData(await accepted);
    expect((await readAll(secure)).equals(data)).toBe(true);
    expect((await ftp.reply()).code).toBe(226);
    server.close();
    ftp.close();
  });

  it('an active connect that nobody answers ends with 425, not a hang', async () => {
    const ftp = await loggedIn();
    const { server, port: closedPort } = await dataListener();
    await new Promise((resolve) => server.close(resolve)); // nothing listens there now
    await writeFile(home('nobody.txt'), 'x');
    expect((await ftp.command(`EPRT |1|127.0.0.1|${closedPort}|`)).code).toBe(200);
    expect((await ftp.command('RETR nobody.txt')).code).toBe(425);
    expect((await ftp.command('NOOP')).code).toBe(200);
    ftp.close();
  });

  it('EPSV ALL: afterwards PASV, PORT and EPRT are refused and EPSV still works', async () => {
    const ftp = await loggedIn();
    expect((await ftp.command('EPSV ALL')).code).toBe(200);
    for (const command of ['PASV', 'PORT 127,0,0,1,117,48', 'EPRT |1|127.0.0.1|30000|']) {
      const reply = await ftp.command(command);
      expect({ command, code: reply.code }).toEqual({ command, code: 503 });
    }
    await writeFile(home('epsv.txt'), 'epsv');
    const data = await ftp.openData();
    ftp.send('RETR epsv.txt');
    expect((await ftp.reply()).code).toBe(150);
    expect((await readAll(data)).toString()).toBe('epsv');
    expect((await ftp.reply()).code).toBe(226);
    ftp.close();
  });

  it('ABOR while the server waits for the data connection is answered at once', async () => {
    const ftp = await loggedIn();
    await writeFile(home('wait.txt'), 'x');
    await ftp.passivePort(); // offered, never connected
    ftp.send('RETR wait.txt');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    ftp.send('ABOR');
    expect((await ftp.reply()).code).toBe(426);
    expect((await ftp.reply()).code).toBe(226);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await ftp.command('NOOP')).code).toBe(200);
    ftp.close();
  });
});

describe('ftp with activeMode off', () => {
  it('PORT and EPRT are refused with 502 and FEAT does not offer EPRT', async () => {
    const gw = await startGateway({ ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE, activeMode: false }, users: [await user('alice', PASSWORD)] });
    try {
      const ftp = await RawFtp.connect(gw.gateway.addresses.ftp!.port);
      expect((await ftp.command('FEAT')).text).not.toContain('EPRT');
      expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
      expect((await ftp.command('PORT 127,0,0,1,117,48')).code).toBe(502);
      expect((await ftp.command('EPRT |1|127.0.0.1|30000|')).code).toBe(502);
      ftp.close();
    } finally {
      await gw.close();
    }
  });
});

describe('ftp over IPv6 (::1)', () => {
  it('EPSV and EPRT |2| transfer files; PASV is refused', async () => {
    const gw = await startGateway({ ftp: { host: '::1', port: 0, passivePorts: PASSIVE }, users: [await user('alice', PASSWORD)] });
    try {
      await mkdir(path.join(gw.storage, 'alice'), { recursive: true });
      await writeFile(path.join(gw.storage, 'alice', 'six.txt'), 'over ipv6');
      const ftp = await RawFtp.connect(gw.gateway.addresses.ftp!.port, { host: '::1' });
      expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
      expect((await ftp.command('PASV')).code).toBe(425);

      const epsv = await ftp.command('EPSV');
      const passivePort = Number(/\|\|\|(\d+)\|/.exec(epsv.text)![1]);
      const passive = net.connect({ host: '::1', port: passivePort });
      ftp.send('RETR six.txt');
      expect((await ftp.reply()).code).toBe(150);
      expect((await readAll(passive)).toString()).toBe('over ipv6');
      expect((await ftp.reply()).code).toBe(226);

      expect(await activeRetrieve(ftp, (p) => `EPRT |2|::1|${p}|`, 'six.txt', '::1')).toBe('over ipv6');
      ftp.close();
    } finally {
      await gw.close();
    }
  });
});
