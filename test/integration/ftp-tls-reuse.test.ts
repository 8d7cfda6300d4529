/**
 * ftp.requireTlsSessionReuse: a protected data connection must resume the control connection's TLS
 * session (by session ticket). lftp does (bytes checked); a client that opens a fresh TLS session on
 * the data connection (as another process stealing the port would) gets 425. (curl resumes by
 * session ID only, which the gateway does not cache: see the README.)
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { RawFtp, secureData } from '../helpers/ftp.js';
import { hasCommand, startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';

const PASSIVE = await passivePorts();
const PASSWORD = 'reuse-secret';

describe('ftp requireTlsSessionReuse', () => {
  let gw: TestGateway;
  let port: number;
  const home = (...parts: string[]): string => path.join(gw.storage, 'alice', ...parts);

  beforeAll(async () => {
    gw = await startGateway({
      ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE, requireTlsSessionReuse: true },
      users: [await user('alice', PASSWORD)],
    });
    port = gw.gateway.addresses.ftp!.port;
    await mkdir(home(), { recursive: true });
  });
  afterAll(() => gw?.close());

  it.skipIf(!hasCommand('lftp'))('lftp resumes the session: put and get work', async () => {
    const data = randomBytes(512 * 1024 + 9);
    const local = path.join(gw.dir, 'lftp-reuse.bin');
    await writeFile(local, data);
    const settings = ['set ssl:verify-certificate no', 'set net:max-retries 1', 'set net:timeout 15', 'set cmd:fail-exit yes', 'set ftp:ssl-force yes', 'set ftp:ssl-protect-data yes'];
    const result = await runCli('lftp', ['-c', [...settings, `open -u alice,${PASSWORD} ftp://127.0.0.1:${port}`, `put ${local} -o lftp-reuse.bin`, `get lftp-reuse.bin -o ${local}.back`].join('; ')], {
      timeoutMs: 60_000,
    });
    expect(result).toMatchObject({ code: 0 });
    expect((await readFile(home('lftp-reuse.bin'))).equals(data)).toBe(true);
    expect((await readFile(`${local}.back`)).equals(data)).toBe(true);
  });

  it('a data connection with a fresh TLS session is refused with 425', async () => {
    await writeFile(home('fresh.txt'), 'fresh');
    const ftp = await RawFtp.connect(port);
    await ftp.authTls();
    expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
    expect((await ftp.command('PBSZ 0')).code).toBe(200);
    expect((await ftp.command('PROT P')).code).toBe(200);
    const socket = await ftp.openData();
    ftp.send('RETR fresh.txt');
    expect((await ftp.reply()).code).toBe(150);
    await secureData(socket).catch(() => undefined); // no session offered: a new one
    expect((await ftp.reply()).code).toBe(425);
    ftp.close();
  });
});
