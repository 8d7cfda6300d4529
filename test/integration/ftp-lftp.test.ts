/**
 * The FTP adapter driven by lftp (GnuTLS): transfers over explicit and implicit FTPS, uploads of 1 MiB
 * and more arriving intact (lftp loses an upload's tail on a TLS 1.3 data connection, see
 * tls.ts), plain FTP, and read_only.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { hasCommand, startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';

const PASSIVE = await passivePorts();
const PASSWORD = 'lftp-secret';
const SETTINGS = [
  'set ssl:verify-certificate no',
  'set net:max-retries 1',
  'set net:timeout 15',
  'set xfer:clobber on',
  'set cmd:fail-exit yes',
];
const TLS_SETTINGS = ['set ftp:ssl-force yes', 'set ftp:ssl-protect-data yes'];

function lftp(commands: string[]): Promise<CliResult> {
  return runCli('lftp', ['-c', commands.join('; ')], { timeoutMs: 60_000 });
}

describe.skipIf(!hasCommand('lftp'))('ftp with lftp', () => {
  let gw: TestGateway;
  let local: string;
  const home = (...parts: string[]): string => path.join(gw.storage, ...parts);
  const open = (username: string, scheme: 'ftp' | 'ftps' = 'ftp'): string => {
    const { ftp, ftps } = gw.gateway.addresses;
    return `open -u ${username},${PASSWORD} ${scheme}://127.0.0.1:${scheme === 'ftps' ? ftps!.port : ftp!.port}`;
  };

  beforeAll(async () => {
    gw = await startGateway({
      ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE, implicitTlsPort: 0 },
      users: await Promise.all([user('alice', PASSWORD), user('reader', PASSWORD, { read_only: true })]),
    });
    local = path.join(gw.dir, 'local');
    await mkdir(local);
    await mkdir(home('alice'), { recursive: true });
    await mkdir(home('reader'), { recursive: true });
    await writeFile(home('reader', 'kept.txt'), 'kept\n');
  });
  afterAll(() => gw?.close());

  it.each([
    ['explicit FTPS', 'ftp', TLS_SETTINGS],
    ['implicit FTPS', 'ftps', []],
    ['plain FTP', 'ftp', ['set ftp:ssl-allow no']],
  ] as const)('%s: uploads of 1 MiB and more arrive intact and download back', async (name, scheme, tlsSettings) => {
    const tag = name.split(' ')[0]!;
    const files = [
      { name: `${tag}-1m.bin`, data: randomBytes(1024 * 1024) },
      { name: `${tag}-5m.bin`, data: randomBytes(5 * 1024 * 1024 + 1234) },
    ];
    for (const file of files) await writeFile(path.join(local, file.name), file.data);
    const result = await lftp([
      ...SETTINGS,
      ...tlsSettings,
      open('alice', scheme),
      ...files.map((file) => `put ${path.join(local, file.name)} -o ${file.name}`),
      ...files.map((file) => `get ${file.name} -o ${path.join(local, `back-${file.name}`)}`),
      'cls -1',
    ]);
    expect(result).toMatchObject({ code: 0 });
    for (const file of files) {
      expect((await readFile(home('alice', file.name))).equals(file.data)).toBe(true);
      expect((await readFile(path.join(local, `back-${file.name}`))).equals(file.data)).toBe(true);
      expect(result.stdout).toContain(file.name);
    }
  });

  it('read_only: a put over FTPS is refused and nothing is stored; get works', async () => {
    await writeFile(path.join(local, 'refused.txt'), 'no');
    const refused = await lftp([...SETTINGS, ...TLS_SETTINGS, open('reader'), `put ${path.join(local, 'refused.txt')}`]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('550');
    expect(await readdir(home('reader'))).toEqual(['kept.txt']);
    const read = await lftp([...SETTINGS, ...TLS_SETTINGS, open('reader'), 'cat kept.txt']);
    expect(read).toMatchObject({ code: 0, stdout: 'kept\n' });
  });
});
