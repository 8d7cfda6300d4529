/**
 * A bounded fuzz of the HTTP listener: random bytes, mutated request lines and headers, absurd and
 * conflicting Content-Length / Transfer-Encoding, broken chunking, mutated and deeply nested JSON
 * bodies, pipelined requests, with and without the admin token. The server never crashes, answers
 * (an HTTP status line) or closes every connection, its memory returns to the baseline, and a
 * normal log in and log out work afterwards. Seeded, so a failure replays.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { picker, prng, settledHeap } from '../helpers/fuzz.js';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';

const PASSWORD = 'fuzz-secret';
const TOKEN = 'fuzz-admin-token-0123456789';
const CONNECTIONS = 240;
const PARALLEL = 40;
/** A bad request ends its connection, so each connection sends few messages and there are many connections. */
const MESSAGES_PER_CONNECTION = 3;
const SEED = Number(process.env.FUZZ_SEED ?? 20261202);

const METHODS = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT', 'PRI', 'G\0T', 'post', ''];
const PATHS = [
  '/api/rest/v1/sessions',
  '/api/rest/v1/sessions?x=1',
  '/api/rest/v1/admin/sessions',
  '/api/rest/v1/admin/sessions/abc',
  '/api/rest/v1/admin/users/alice/sessions',
  '/api/rest/v1/admin/users/%00%ff%/sessions',
  '/api/rest/v1/admin/sessions/' + '%'.repeat(300),
  '/__proto__',
  '/constructor/prototype',
  '*',
  'http://evil/api/rest/v1/sessions',
  '/' + 'a'.repeat(20_000),
  '/%zz%00/../../etc/passwd',
];
const HEADERS = [
  'Content-Type: application/json',
  'Content-Length: 99999999999999999999',
  'Content-Length: -1',
  'Content-Length: 5\r\nContent-Length: 7',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: chunked, identity',
  'Authorization: Bearer ' + TOKEN,
  'Authorization: Bearer ' + 'x'.repeat(5000),
  'Authorization: Basic ' + Buffer.from('alice:' + PASSWORD).toString('base64'),
  'Accept-Language: ' + 'de;q=0.5,'.repeat(500),
  'X-Files-Reauthentication: \0',
  'Host: ' + '\xff'.repeat(40),
  'X-Big: ' + 'b'.repeat(20_000),
  'Connection: keep-alive',
  'Connection: close',
  'Expect: 100-continue',
  'Bad Header Name: x',
  ': empty name',
];
const BODIES = [
  JSON.stringify({ username: 'alice', password: PASSWORD }),
  JSON.stringify({ username: 'alice', password: 'wrong' }),
  JSON.stringify({ username: { $gt: '' }, password: ['x'], __proto__: { admin: true } }),
  JSON.stringify({ username: 'alice\0', password: 'x'.repeat(5000), otp: 12345678901234567890 }),
  '{"partial_session_id": "' + 'z'.repeat(300) + '", "otp": "000000"}',
  '['.repeat(50_000) + ']'.repeat(50_000),
  '{"username": "alice", "password": ',
  '\xff\xfe\x00\x00',
  'null',
  '1e99999',
];

function message(random: () => number): Buffer {
  const { pick, bytes } = picker(random);
  const headers = Array.from({ length: Math.floor(random() * 4) }, () => pick(HEADERS));
  switch (Math.floor(random() * 6)) {
    case 0:
      return bytes(Math.floor(random() * 3000)); // raw noise
    case 1: {
      const body = pick(BODIES);
      const [target, extra] = random() < 0.5 ? ['/api/rest/v1/sessions', []] : [pick(PATHS), headers];
      return Buffer.from(`POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${extra.map((h) => h + '\r\n').join('')}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    }
    case 2: // a chunked body with broken chunk sizes
      return Buffer.from(`POST /api/rest/v1/sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${pick(['ffffffffffffffff', 'zz', '-1', '5;' + 'e'.repeat(9000), '3'])}\r\nabc\r\n0\r\n\r\n`);
    case 3: // a request line and headers with random mutations
      return mutate(Buffer.from(`${pick(METHODS)} ${pick(PATHS)} HTTP/1.${Math.floor(random() * 3)}\r\nHost: x\r\n${headers.map((h) => h + '\r\n').join('')}\r\n`), random);
    case 4: // pipelined requests
      return Buffer.from(Array.from({ length: 20 }, () => `${pick(METHODS)} ${pick(PATHS)} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
    default:
      return Buffer.from(`${pick(['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET\r\n\r\n', '\r\n\r\n\r\n'])}`);
  }
}

function mutate(input: Buffer, random: () => number): Buffer {
  const out = Buffer.from(input);
  for (let i = Math.floor(random() * 6); i > 0; i--) out[Math.floor(random() * out.length)] = Math.floor(random() * 256);
  return out;
}

/** One fuzzing client: resolves with what it received once the server closed or it gave up. */
async function fuzzConnection(port: number, random: () => number): Promise<{ text: string; closed: boolean }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  let closed = false;
  const closing = new Promise<void>((resolve) => socket.once('close', () => ((closed = true), resolve())));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  // One message at a time, as a client would: Node's HTTP server drops pending replies when a
  // malformed message follows or the client half-closes. Wait for the answer to begin (a login's
  // password hash takes a while on a loaded machine), then until 150 ms pass without a byte.
  for (let i = 0; i < MESSAGES_PER_CONNECTION && !closed; i++) {
    const before = chunks.length;
    socket.write(message(random));
    const giveUp = Date.now() + 3_000;
    while (!closed && chunks.length === before && Date.now() < giveUp) await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 20))]);
    for (let seen = -1; !closed && seen !== chunks.length && Date.now() < giveUp; ) {
      seen = chunks.length;
      await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 150))]);
    }
  }
  socket.end();
  // Every socket is closed by the server well within this (request timeout 2 s).
  await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 8_000))]);
  socket.destroy();
  return { text: Buffer.concat(chunks).toString('latin1'), closed };
}

describe('http listener fuzz', () => {
  let gw: TestGateway;
  let port: number;

  beforeAll(async () => {
    gw = await startGateway({
      http: { host: '127.0.0.1', port: 0, maxBodyBytes: 64 * 1024, requestTimeoutSeconds: 2, maxConnectionsPerSource: 100, adminToken: TOKEN },
      users: [await user('alice', PASSWORD)],
      // Random bodies are failed logins: the lockout (tested elsewhere) must not lock the final normal login out.
      lockout: { maxFailures: 100_000, maxFailuresPerSource: 100_000, windowMinutes: 15, lockMinutes: 15 },
    });
    port = gw.gateway.addresses.http!.port;
  });
  afterAll(() => gw?.close());

  async function normalLoginAndLogout(): Promise<void> {
    const base = `http://127.0.0.1:${port}/api/rest/v1/sessions`;
    const created = await fetch(base, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: PASSWORD }) });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect((await fetch(base, { method: 'DELETE', headers: { 'X-FilesAPI-Auth': id } })).status).toBe(204);
  }

  it(`survives ${CONNECTIONS} fuzzing connections (seed ${SEED}), memory back to baseline, then logs in normally`, async () => {
    await normalLoginAndLogout(); // warm-up: the baseline includes what a first request allocates once
    const baseline = await settledHeap();
    const random = prng(SEED);
    const seeds = Array.from({ length: CONNECTIONS }, () => Math.floor(random() * 2 ** 32));
    const results: Array<{ text: string; closed: boolean }> = [];
    for (let i = 0; i < seeds.length; i += PARALLEL) {
      results.push(...(await Promise.all(seeds.slice(i, i + PARALLEL).map((seed) => fuzzConnection(port, prng(seed))))));
    }
    for (const { text, closed } of results) {
      expect(closed).toBe(true); // nothing hangs: the server closed every connection
      if (text.length > 0) expect(text).toMatch(/^HTTP\/1\.1 \d{3} /); // whatever it said is HTTP
      expect(text).not.toMatch(/\bat \S+:\d+:\d+|\.ts:\d+/); // never a stack trace
    }
    // Valid logins among the noise were served (the fuzz reached the login path, not just the parser).
    expect(results.some(({ text }) => /^HTTP\/1\.1 201 /m.test(text))).toBe(true);
    await normalLoginAndLogout();
    const after = await settledHeap();
    expect(after - baseline).toBeLessThan(16 * 1024 * 1024);
  }, 60_000);
});
