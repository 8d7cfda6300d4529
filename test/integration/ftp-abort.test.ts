/**
 * Aborted uploads never land: a client killed mid-upload (SIGKILL: its kernel closes the data and
 * the control connection at once, each with a normal FIN) leaves the target exactly as it was, for
 * STOR, APPE and REST+STOR, with curl and with a raw-socket client process. A client that ends the
 * data connection and stays connected stores its upload.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawFtp, writeAll } from '../helpers/ftp.js';
import { hasCommand, startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';

const PASSIVE = await passivePorts();
const PASSWORD = 'abort-secret';
const OLD = 'old content, 26 bytes....\n';
const TRIALS = 3;
/** Length and head of a file: assertion messages stay short. */
const summary = (data: Buffer): string => `${data.length} bytes: ${JSON.stringify(data.subarray(0, 16).toString())}`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A raw FTP client in its own process: logs in, optionally sends REST, then STOR/APPE and streams
 * bytes until it is killed.
 */
const RAW_CLIENT = `
const net = require('node:net');
const [port, verb, rest] = process.argv.slice(1);
const control = net.connect(Number(port), '127.0.0.1');
let buffer = '';
const script = ['USER alice', 'PASS ${PASSWORD}', 'TYPE I', ...(rest !== '0' ? ['REST ' + rest] : []), 'EPSV'];
control.setEncoding('utf8');
control.on('data', (chunk) => {
  buffer += chunk;
  let end;
  while ((end = buffer.indexOf('\\r\\n')) !== -1) {
    const line = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    if (line[3] === '-') continue;
    const epsv = /\\(\\|\\|\\|(\\d+)\\|\\)/.exec(line);
    if (epsv) {
      const data = net.connect(Number(epsv[1]), '127.0.0.1', () => {
        control.write(verb + ' target.bin\\r\\n');
        const chunk = Buffer.alloc(16 * 1024, 0x61);
        const pump = () => { while (data.write(chunk)) {} };
        data.on('drain', () => setTimeout(pump, 5));
        pump();
      });
    } else if (script.length > 0) control.write(script.shift() + '\\r\\n');
  }
});
`;

describe('aborted uploads', () => {
  let gw: TestGateway;
  let port: number;
  const home = (...parts: string[]): string => path.join(gw.storage, 'alice', ...parts);

  beforeAll(async () => {
    gw = await startGateway({ ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE }, users: [await user('alice', PASSWORD)] });
    port = gw.gateway.addresses.ftp!.port;
    await mkdir(home(), { recursive: true });
  });
  afterAll(() => gw?.close());

  /** Bytes the server has received so far for the upload (its temporary file). */
  async function received(): Promise<number> {
    let total = 0;
    for (const name of await readdir(home())) {
      if (name.endsWith('.part')) total += (await stat(home(name)).catch(() => ({ size: 0 }))).size;
    }
    return total;
  }

  /** Kills `child` once the server holds some of its upload, then waits for the server to clean up. */
  async function killMidUpload(child: ChildProcess): Promise<void> {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 10_000;
    while ((await received()) < 256 * 1024) {
      if (Date.now() > deadline) throw new Error('the upload never started');
      await sleep(20);
    }
    child.kill('SIGKILL');
    await exited;
    const cleaned = Date.now() + 5_000;
    while ((await readdir(home())).some((name) => name.endsWith('.part'))) {
      if (Date.now() > cleaned) throw new Error('a temporary file was left behind');
      await sleep(20);
    }
    await sleep(200); // a commit would have happened by now
  }

  const rawModes = [
    ['STOR', '0'],
    ['APPE', '0'],
    ['STOR', '10'],
  ] as const;

  it.each(rawModes)('a raw client killed mid-%s (REST %s) changes nothing', async (verb, rest) => {
    for (let trial = 0; trial < TRIALS; trial++) {
      await writeFile(home('target.bin'), OLD);
      const child = spawn(process.execPath, ['-e', RAW_CLIENT, String(port), verb, rest], { stdio: 'ignore' });
      await killMidUpload(child);
      expect(summary(await readFile(home('target.bin')))).toBe(summary(Buffer.from(OLD)));
    }
  });

  it.skipIf(!hasCommand('curl')).each([
    ['STOR', []],
    ['APPE', ['--append']],
  ] as const)('curl killed mid-%s changes nothing', async (_verb, extra) => {
    const source = path.join(gw.dir, 'big.bin');
    await writeFile(source, Buffer.alloc(64 * 1024 * 1024, 0x62));
    for (let trial = 0; trial < TRIALS; trial++) {
      await writeFile(home('target.bin'), OLD);
      const child = spawn('curl', ['-sS', '--limit-rate', '4M', ...extra, '-T', source, `ftp://alice:${PASSWORD}@127.0.0.1:${port}/target.bin`], {
        stdio: 'ignore',
      });
      await killMidUpload(child);
      expect(summary(await readFile(home('target.bin')))).toBe(summary(Buffer.from(OLD)));
    }
  });

  it('an upload whose client ends the data connection and stays stores it, for STOR, APPE and REST+STOR', async () => {
    const ftp = await RawFtp.connect(port);
    expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
    const upload = async (commands: string[], data: Buffer): Promise<void> => {
      const socket = await ftp.openData();
      for (const command of commands.slice(0, -1)) expect((await ftp.command(command)).code).toBe(350);
      ftp.send(commands[commands.length - 1]!);
      expect((await ftp.reply()).code).toBe(150);
      await writeAll(socket, data);
      expect((await ftp.reply()).code).toBe(226);
    };
    const body = randomBytes(300_000);
    await upload(['STOR kept.bin'], body);
    expect((await readFile(home('kept.bin'))).equals(body)).toBe(true);
    await upload(['APPE kept.bin'], Buffer.from('tail'));
    expect((await readFile(home('kept.bin'))).equals(Buffer.concat([body, Buffer.from('tail')]))).toBe(true);
    await upload(['REST 4', 'STOR kept.bin'], Buffer.from('XY'));
    const expected = Buffer.concat([body, Buffer.from('tail')]);
    expected.write('XY', 4);
    expect((await readFile(home('kept.bin'))).equals(expected)).toBe(true);
    expect((await readdir(home())).filter((name) => name.endsWith('.part'))).toEqual([]);
    ftp.close();
  });
});
