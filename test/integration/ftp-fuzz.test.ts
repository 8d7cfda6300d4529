/**
 * A bounded fuzz of the FTP control connection, before and after login: random bytes, over-long
 * lines, NUL bytes, invalid UTF-8, huge numbers in REST/PORT/EPRT/MFMT, random verbs and arguments,
 * and pipelined bursts. The server never crashes, answers or closes every connection, its memory
 * returns to the baseline, and a normal login works afterwards. Seeded, so a failure replays.
 */
import net from 'node:net';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawFtp } from '../helpers/ftp.js';
import { picker, prng, settledHeap } from '../helpers/fuzz.js';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';

const PASSIVE = await passivePorts();
const PASSWORD = 'fuzz-secret';
const CONNECTIONS = 24;
const MESSAGES_PER_CONNECTION = 40;
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);

const VERBS = [
  'USER', 'PASS', 'AUTH', 'PBSZ', 'PROT', 'LANG', 'FEAT', 'HELP', 'OPTS', 'NOOP', 'SYST', 'STAT', 'TYPE', 'MODE', 'STRU', 'REST',
  'CWD', 'CDUP', 'PWD', 'MKD', 'RMD', 'DELE', 'RNFR', 'RNTO', 'SIZE', 'MDTM', 'MFMT', 'SITE', 'MLST', 'ALLO', 'ABOR', 'XPWD', 'EPSV',
];
const HUGE = [
  'REST 999999999999999999999999999999',
  'REST -1',
  'REST 1e308',
  'PORT 999,999,999,999,999,999',
  'PORT 127,0,0,1,99999999999999999,1',
  'PORT ,,,,,',
  'EPRT |1|127.0.0.1|99999999999999999999|',
  'EPRT |2|::1|-5|',
  'EPRT ||||||||||||',
  'EPRT |1|999.999.999.999|2000|',
  'MFMT 99999999999999999999 file',
  'MFMT 00000000000000 file',
  `MFMT 20240101000000 ${'n'.repeat(5000)}`,
  'SITE UTIME 99999999999999 99999999999999 99999999999999 99999999999999 UTC',
  'SITE CHMOD 77777777777 file',
  'SIZE ' + '../'.repeat(2000),
  'LANG ' + 'x'.repeat(3000),
];

function message(random: () => number): Buffer {
  const { pick, bytes } = picker(random);
  switch (Math.floor(random() * 7)) {
    case 0:
      return bytes(Math.floor(random() * 2000)); // raw noise, CR and LF where they fall
    case 1:
      return Buffer.concat([Buffer.alloc(16 * 1024 + Math.floor(random() * 64 * 1024), 0x41), Buffer.from('\r\n')]); // over-long line
    case 2:
      return Buffer.from(`${pick(VERBS)} a\0b\0${'\0'.repeat(Math.floor(random() * 10))}\r\n`); // NUL bytes
    case 3:
      return Buffer.concat([Buffer.from(`${pick(VERBS)} `), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('\r\n')]); // invalid UTF-8
    case 4:
      return Buffer.from(`${pick(HUGE)}\r\n`);
    case 5:
      return Buffer.from(`${pick(VERBS)} ${bytes(Math.floor(random() * 40)).toString('latin1').replace(/[\r\n]/g, '')}\r\n`);
    default:
      return Buffer.from(Array.from({ length: 50 }, () => `${pick(VERBS)} ${Math.floor(random() * 1e6)}\r\n`).join('')); // pipelined
  }
}

/** One fuzzing client: returns the bytes it received (replies) once the server closed or it gave up. */
async function fuzzConnection(port: number, random: () => number, login: boolean): Promise<number> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  if (login) socket.write(`USER alice\r\nPASS ${PASSWORD}\r\n`);
  for (let i = 0; i < MESSAGES_PER_CONNECTION && !socket.destroyed; i++) {
    socket.write(message(random));
    if (random() < 0.3) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  socket.end('\r\nQUIT\r\n');
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  socket.destroy();
  return received;
}

describe('ftp control connection fuzz', () => {
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    gw = await startGateway({
      ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE, maxConnectionsPerSource: 100, maxLoginFailuresPerConnection: 50 },
      users: [await user('alice', PASSWORD)],
      // Random PASS lines are failed logins: the lockout (tested elsewhere) must not lock the final normal login out.
      lockout: { maxFailures: 100_000, maxFailuresPerSource: 100_000, windowMinutes: 15, lockMinutes: 15 },
    });
    port = gw.gateway.addresses.ftp!.port;
    await mkdir(path.join(gw.storage, 'alice'), { recursive: true });
  });
  afterAll(() => gw?.close());

  async function normalLogin(): Promise<void> {
    const ftp = await RawFtp.connect(port);
    expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
    expect((await ftp.command('PWD')).code).toBe(257);
    expect((await ftp.command('QUIT')).code).toBe(221);
    await ftp.closed();
  }

  it(`survives ${CONNECTIONS} fuzzing connections (seed ${SEED}), memory back to baseline, then logs in normally`, async () => {
    await normalLogin(); // warm-up: the baseline includes what a first connection allocates once
    const baseline = await settledHeap();
    const random = prng(SEED);
    const seeds = Array.from({ length: CONNECTIONS }, () => Math.floor(random() * 2 ** 32));
    const received = await Promise.all(seeds.map((seed, i) => fuzzConnection(port, prng(seed), i % 2 === 1)));
    for (const bytes of received) expect(bytes).toBeGreaterThan(0); // every connection was answered (the greeting at least)
    await normalLogin();
    const after = await settledHeap();
    expect(after - baseline).toBeLessThan(16 * 1024 * 1024);
  }, 60_000);
});
