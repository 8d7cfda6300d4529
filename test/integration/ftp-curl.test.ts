/**
 * The FTP adapter driven by the curl command line: plain, explicit (AUTH TLS) and implicit FTPS,
 * back-to-back explicit FTPS sessions (the AUTH TLS race), TLS 1.0 refused or allowed per user,
 * TOTP, ssl_required.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpVerifier } from '../../src/core/index.js';
import { runCliBinary, type CliResult } from '../helpers/cli.js';
import { TOTP_SECRET, hasCommand, startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';

const PASSIVE = await passivePorts();
const PASSWORD = 'curl-secret';
/** What curl needs to speak TLS 1.0 at all on OpenSSL 3. */
const TLS_1_0 = ['--tlsv1.0', '--tls-max', '1.0', '--ciphers', 'DEFAULT@SECLEVEL=0'];

function curl(args: string[]): Promise<CliResult<Buffer>> {
  return runCliBinary('curl', ['-sS', '--max-time', '30', ...args], { timeoutMs: 40_000 });
}

describe.skipIf(!hasCommand('curl'))('ftp with curl', () => {
  let gw: TestGateway;
  let url: (username: string, remotePath: string, password?: string) => string;
  let implicitUrl: (username: string, remotePath: string) => string;
  const home = (...parts: string[]): string => path.join(gw.storage, ...parts);

  beforeAll(async () => {
    gw = await startGateway({
      ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE, implicitTlsPort: 0 },
      insecure: { sshCiphers: false, tlsVersions: true },
      users: await Promise.all([
        user('alice', PASSWORD),
        user('legacy', PASSWORD, { tls_disabled: true }),
        user('secure', PASSWORD, { ssl_required: true }),
        user('totp', PASSWORD, { totp_secret: TOTP_SECRET }),
      ]),
    });
    const { ftp, ftps } = gw.gateway.addresses;
    url = (username, remotePath, password = PASSWORD) => `ftp://${username}:${encodeURIComponent(password)}@127.0.0.1:${ftp!.port}${remotePath}`;
    implicitUrl = (username, remotePath) => `ftps://${username}:${PASSWORD}@127.0.0.1:${ftps!.port}${remotePath}`;
    for (const name of ['alice', 'legacy', 'secure', 'totp']) {
      await mkdir(home(name), { recursive: true });
      await writeFile(home(name, 'hello.txt'), `hello ${name}\n`);
    }
  });
  afterAll(() => gw?.close());

  it.each([
    ['plain', [] as string[]],
    ['explicit FTPS', ['--ssl-reqd', '-k']],
  ])('%s: upload, download and list', async (_name, tlsArgs) => {
    const data = randomBytes(2 * 1024 * 1024 + 3);
    const source = path.join(gw.dir, 'source.bin');
    await writeFile(source, data);
    expect((await curl([...tlsArgs, '-T', source, url('alice', '/up.bin')])).code).toBe(0);
    expect((await readFile(home('alice', 'up.bin'))).equals(data)).toBe(true);
    const down = await curl([...tlsArgs, url('alice', '/up.bin')]);
    expect(down.code).toBe(0);
    expect(down.stdout.equals(data)).toBe(true);
    const list = await curl([...tlsArgs, '--list-only', url('alice', '/')]);
    expect(list.stdout.toString().split(/\r?\n/).filter(Boolean).sort()).toEqual(['hello.txt', 'up.bin']);
  });

  it('implicit FTPS on its own port', async () => {
    const down = await curl(['-k', implicitUrl('alice', '/hello.txt')]);
    expect(down).toMatchObject({ code: 0 });
    expect(down.stdout.toString()).toBe('hello alice\n');
  });

  it('30 back-to-back curl --ssl-reqd sessions all succeed', async () => {
    const failures: string[] = [];
    for (let i = 0; i < 30; i++) {
      const result = await curl(['--ssl-reqd', '-k', url('alice', '/hello.txt')]);
      if (result.code !== 0 || result.stdout.toString() !== 'hello alice\n') failures.push(`#${i}: ${result.code} ${result.stderr}`);
    }
    expect(failures).toEqual([]);
  });

  it('TLS 1.0: refused with 530 naming the version for a normal user, allowed with tls_disabled', async () => {
    const refused = await curl(['-v', '--ssl-reqd', '-k', ...TLS_1_0, url('alice', '/hello.txt')]);
    expect(refused.code).toBe(67); // login denied
    expect(refused.stderr).toContain('< 530 TLS version TLSv1 is not allowed for this account.');
    const allowed = await curl(['-v', '--ssl-reqd', '-k', ...TLS_1_0, url('legacy', '/hello.txt')]);
    expect(allowed.code).toBe(0);
    expect(allowed.stdout.toString()).toBe('hello legacy\n');
    expect(allowed.stderr).toMatch(/SSL connection using TLSv1 \//);
  });

  it('TOTP: the code appended to the password logs in; without it, 530 says how', async () => {
    const without = await curl(['-v', url('totp', '/hello.txt')]);
    expect(without.code).toBe(67);
    expect(without.stderr).toContain('< 530 Two-factor authentication required: send your password followed directly by the 6-digit code');
    const withCode = await curl([url('totp', '/hello.txt', PASSWORD + TotpVerifier.generate(TOTP_SECRET, Date.now()))]);
    expect(withCode.code).toBe(0);
    expect(withCode.stdout.toString()).toBe('hello totp\n');
  });

  it('ssl_required: plain FTP refused with 530, explicit FTPS works', async () => {
    const plain = await curl(['-v', url('secure', '/hello.txt')]);
    expect(plain.code).toBe(67);
    expect(plain.stderr).toContain('< 530 This account requires an encrypted connection: use AUTH TLS before logging in.');
    const secure = await curl(['--ssl-reqd', '-k', url('secure', '/hello.txt')]);
    expect(secure.code).toBe(0);
    expect(secure.stdout.toString()).toBe('hello secure\n');
  });
});

describe.skipIf(!hasCommand('curl'))('ftp without insecure.tlsVersions', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway({
      ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE },
      users: [await user('legacy', PASSWORD, { tls_disabled: true })],
    });
  });
  afterAll(() => gw?.close());

  it('the listener does not offer TLS 1.0 at all, whatever the user may do', async () => {
    const result = await curl(['--ssl-reqd', '-k', ...TLS_1_0, `ftp://legacy:${PASSWORD}@127.0.0.1:${gw.gateway.addresses.ftp!.port}/`]);
    expect(result.code).toBe(35); // TLS handshake failure
  });
});
