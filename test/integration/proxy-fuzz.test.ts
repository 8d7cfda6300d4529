/**
 * Bounded, seeded fuzz of the PROXY protocol reader on every listener (SFTP and HTTP `optional`,
 * FTP `required`, all from a trusted proxy): valid v1/v2 headers, mutated and truncated ones,
 * oversized ones, noise, headers split over several writes, then a protocol's first bytes. Every
 * connection is answered or closed; nothing is logged as an error; the heap returns to its baseline;
 * normal logins work afterwards.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../helpers/clients.js';
import { RawFtp } from '../helpers/ftp.js';
import { picker, prng, settledHeap } from '../helpers/fuzz.js';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';
import { sshLogin } from '../helpers/sftp.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const CONNECTIONS = 180;
const PASSWORD = 'proxy fuzz pw';

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2(random: () => number): Buffer {
  const { pick, bytes } = picker(random);
  const [family, addresses] = pick([
    [0x11, Buffer.concat([bytes(8), Buffer.from([0x1f, 0x90, 0x00, 0x15])])], // TCP over IPv4
    [0x21, bytes(36)], // TCP over IPv6
    [0x31, bytes(216)], // UNIX
    [0x00, Buffer.alloc(0)], // UNSPEC
    [0x12, bytes(12)], // UDP
  ] as const);
  const tlvs = random() < 0.5 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([pick([0x01, 0x02, 0x04, 0x05, 0x20, 0xee])]), Buffer.from([0, 3]), bytes(3)]);
  const body = Buffer.concat([addresses, tlvs]);
  const length = random() < 0.8 ? body.length : Math.floor(random() * 65536);
  const header = Buffer.concat([V2_SIGNATURE, Buffer.from([pick([0x21, 0x20, 0x22, 0x11, 0x2f]), family, length >> 8, length & 0xff]), body]);
  return header;
}

function v1(random: () => number): Buffer {
  const { pick } = picker(random);
  const octet = () => String(Math.floor(random() * 300));
  const port = () => pick(['0', '21', '65535', '65536', '-1', '99999999999', 'x']);
  return Buffer.from(
    pick([
      `PROXY TCP4 ${[octet(), octet(), octet(), octet()].join('.')} 127.0.0.1 ${port()} 21\r\n`,
      `PROXY TCP6 2001:db8::${Math.floor(random() * 0xffff).toString(16)} ::1 ${port()} 22\r\n`,
      'PROXY UNKNOWN\r\n',
      'PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n',
      `PROXY TCP4 1.2.3.4 5.6.7.8 1 2${' '.repeat(Math.floor(random() * 200))}\r\n`,
      'PROXY TCP4 1.2.3.4\r\n',
      'PROXY\r\n',
      `PROXY TCP4 ${'9'.repeat(120)}\r\n`,
    ]),
  );
}

function mutate(input: Buffer, random: () => number): Buffer {
  const out = Buffer.from(input);
  for (let i = Math.floor(random() * 4) + 1; i > 0 && out.length > 0; i--) out[Math.floor(random() * out.length)] = Math.floor(random() * 256);
  return out;
}

/** What one fuzzing connection sends: a header in some shape, then perhaps a protocol's first bytes. */
function message(random: () => number, protocol: 'sftp' | 'ftp' | 'http'): Buffer {
  const { pick, bytes } = picker(random);
  const header = (random() < 0.5 ? v1 : v2)(random);
  const shaped = pick([
    () => header,
    () => mutate(header, random),
    () => header.subarray(0, Math.floor(random() * header.length)), // truncated, then the client half-closes
    () => bytes(Math.floor(random() * 400)), // noise
    () => Buffer.concat([header, header]), // two headers
    () => Buffer.from(`PROXY TCP4 ${'1'.repeat(300)}`), // over-long v1 without its line end
  ])();
  const follow = { sftp: 'SSH-2.0-fuzz\r\n', ftp: 'USER alice\r\nPASS x\r\nQUIT\r\n', http: 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' }[protocol];
  return random() < 0.6 ? Buffer.concat([shaped, Buffer.from(follow)]) : shaped;
}

/** Writes the message in one to three pieces, half-closes, waits for the server to close. */
async function fuzzConnection(port: number, data: Buffer, random: () => number): Promise<{ closed: boolean; answered: boolean }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  let answered = false;
  socket.on('data', () => (answered = true));
  let closed = false;
  const closing = new Promise<void>((resolve) => socket.once('close', () => ((closed = true), resolve())));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()).once('error', () => resolve()));
  const cuts = [Math.floor(random() * data.length), Math.floor(random() * data.length)].sort((a, b) => a - b);
  for (const [from, to] of [[0, cuts[0]!], [cuts[0]!, cuts[1]!], [cuts[1]!, data.length]] as const) {
    if (from === to || socket.destroyed) continue;
    socket.write(data.subarray(from, to));
    await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 30)));
  }
  socket.end();
  await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 8_000))]);
  socket.destroy();
  return { closed, answered };
}

describe('PROXY protocol fuzz', () => {
  let gw: TestGateway;
  const log = memoryLogger();

  beforeAll(async () => {
    gw = await startGateway(
      {
        trustedProxies: ['127.0.0.1/32'],
        sftp: { host: '127.0.0.1', port: 0, proxyProtocol: 'optional', maxConnectionsPerSource: 500, loginTimeoutSeconds: 5 },
        ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts(), proxyProtocol: 'required', maxConnectionsPerSource: 500, loginTimeoutSeconds: 5 },
        http: { host: '127.0.0.1', port: 0, proxyProtocol: 'optional', maxConnectionsPerSource: 500 },
        users: [await user('alice', PASSWORD)],
        lockout: { maxFailures: 100_000, maxFailuresPerSource: 100_000, windowMinutes: 15, lockMinutes: 15 },
      },
      { logger: log.logger },
    );
  });
  afterAll(() => gw?.close());

  async function normalLogins(): Promise<void> {
    const { addresses } = gw.gateway;
    const ssh = await sshLogin(addresses.sftp!.port, { username: 'alice', password: PASSWORD });
    ssh.end();
    const ftp = await RawFtp.connect(addresses.ftp!.port, { proxyHeader: 'PROXY TCP4 198.51.100.7 127.0.0.1 40000 21\r\n' });
    expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
    ftp.close();
    const http = await fetch(`http://127.0.0.1:${addresses.http!.port}/api/rest/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: PASSWORD }),
    });
    expect(http.status).toBe(201);
    await ssh.closed;
  }

  it(`survives ${CONNECTIONS} fuzzing connections over SFTP, FTP and HTTP (seed ${SEED}), memory back to baseline`, async () => {
    await normalLogins(); // warm-up: the baseline includes what a first connection allocates once
    const baseline = await settledHeap();
    const random = prng(SEED);
    const protocols = ['sftp', 'ftp', 'http'] as const;
    const runs = Array.from({ length: CONNECTIONS }, (_, i) => {
      const protocol = protocols[i % 3]!;
      const own = prng(Math.floor(random() * 2 ** 32));
      return fuzzConnection(gw.gateway.addresses[protocol]!.port, message(own, protocol), own);
    });
    const results = await Promise.all(runs);
    // The server closes every one (half-closed clients included) well within the header deadline.
    expect(results.filter((r) => !r.closed)).toEqual([]);
    expect(results.some((r) => r.answered)).toBe(true);
    expect(log.events.filter((e) => (e.level as number) >= 50)).toEqual([]);
    await normalLogins();
    const after = await settledHeap();
    expect(after - baseline).toBeLessThan(16 * 1024 * 1024);
  }, 60_000);
});
