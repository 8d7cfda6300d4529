/**
 * The session API on the wire, with fetch, node:http and raw sockets: malformed requests get
 * Files.com-style JSON errors (never a stack trace), limits hold, duplicated logins count once, the
 * refusal language follows Accept-Language, the access log keeps secrets out, idle sessions expire.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging.js';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';

const SESSIONS = '/api/rest/v1/sessions';
const MAX_BODY = 1024;
const ERROR_KEYS = ['data', 'error', 'http-code', 'instance', 'title', 'type'];
const JSON_HEADERS = { 'Content-Type': 'application/json' };

let t: TestGateway;
let port: number;
const logLines: string[] = [];

beforeAll(async () => {
  t = await startGateway(
    {
      http: { host: '127.0.0.1', port: 0, maxBodyBytes: MAX_BODY, requestTimeoutSeconds: 1 },
      lockout: { maxFailures: 2, maxFailuresPerSource: 1000, windowMinutes: 15, lockMinutes: 15 },
      users: [
        await user('alice', 'alice-pw'),
        await user('hans', 'hans-pw', { language: 'de' }),
        await user('bob', 'bob-pw'),
        await user('carol', 'carol-pw'),
        await user('dave', 'dave-pw'),
      ],
    },
    { logger: createLogger('info', { write: (line: string) => void logLines.push(line) }) },
  );
  port = t.gateway.addresses.http!.port;
});

afterAll(() => t?.close());

const url = (path: string): string => `http://127.0.0.1:${port}${path}`;

function post(body: string | Uint8Array, headers: Record<string, string> = JSON_HEADERS, path = SESSIONS): Promise<Response> {
  return fetch(url(path), { method: 'POST', headers, body });
}

const login = (username: string, password: string, headers: Record<string, string> = {}): Promise<Response> =>
  post(JSON.stringify({ username, password }), { ...JSON_HEADERS, ...headers });

/** Checks the Files.com error object and returns it. */
async function expectError(res: Response, status: number, type: string): Promise<Record<string, any>> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as Record<string, any>;
  expect(Object.keys(body).sort()).toEqual(ERROR_KEYS);
  expect(body.type).toBe(type);
  expect(body['http-code']).toBe(status);
  expect(body.instance).toBe(res.headers.get('x-request-id'));
  expect(typeof body.error).toBe('string');
  expect(body.error).not.toMatch(/\bat \S+:\d+|Error:|\.ts\b|\.js\b/);
  return body;
}

interface RawReply {
  status: number;
  head: string;
  body: string;
  closed: boolean;
  elapsedMs: number;
}

/** Sends raw bytes, then reads until the server closes the socket (or `waitMs` passes). */
function raw(payload: string, waitMs = 5_000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1', () => socket.write(payload));
    const chunks: Buffer[] = [];
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      resolve({
        status: Number(text.slice(9, 12)),
        head: text.slice(0, split),
        body: text.slice(split + 4),
        closed,
        elapsedMs: Date.now() - started,
      });
    };
    const timer = setTimeout(() => done(false), waitMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('close', () => done(true));
    socket.on('error', reject);
  });
}

describe('malformed request bodies', () => {
  it('refuses bad JSON, invalid UTF-8 and non-object JSON as invalid-body', async () => {
    for (const body of ['{"username": "alice",', '', 'null', '[1,2]', '"alice"', '42']) {
      if (body === '') continue; // an empty body is "no parameters": see the params tests
      const err = await expectError(await post(body), 400, 'bad-request/invalid-body');
      expect(err.data).toEqual({});
    }
    await expectError(await post(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 400, 'bad-request/invalid-body');
  });

  it('refuses bodies that are not JSON by content type', async () => {
    const body = JSON.stringify({ username: 'alice', password: 'alice-pw' });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=iso-8859-1', 'application/jsonx']) {
      const err = await expectError(await post(body, { 'Content-Type': type }), 415, 'bad-request/unsupported-media-type');
      expect(err.error).toContain('application/json');
    }
    // A body without any content type.
    await expectError(await post(new TextEncoder().encode(body), {}), 415, 'bad-request/unsupported-media-type');
  });

  it('accepts application/json with a UTF-8 charset in any case', async () => {
    const res = await post(JSON.stringify({ username: 'alice', password: 'alice-pw' }), { 'Content-Type': 'Application/JSON; Charset="UTF-8"' });
    expect(res.status).toBe(201);
  });

  it('names the missing or mistyped parameter', async () => {
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'username'],
      ['{}', 'username'],
      ['{"username":""}', 'username'],
      ['{"username":["alice"],"password":"x"}', 'username'],
      ['{"username":"alice"}', 'password'],
      ['{"username":"alice","password":5}', 'password'],
      ['{"username":"alice","partial_session_id":"abc"}', 'otp'],
      ['{"username":"alice","password":"x","otp":123456}', 'otp'],
    ];
    for (const [body, param] of cases) {
      const res = await fetch(url(SESSIONS), { method: 'POST', headers: body ? JSON_HEADERS : {}, body });
      const err = await expectError(res, 400, 'bad-request/request-params-required');
      expect(err.error, String(body)).toContain(`"${param}"`);
    }
  });
});

describe('limits', () => {
  it('refuses a declared body over maxBodyBytes with 413, and the connection still serves', async () => {
    const big = JSON.stringify({ username: 'alice', password: 'x'.repeat(4 * MAX_BODY) });
    const err = await expectError(await post(big), 413, 'bad-request/invalid-body');
    expect(err.error).toContain(String(MAX_BODY));
    expect((await login('alice', 'alice-pw')).status).toBe(201);
  });

  it('refuses a chunked body once it grows past maxBodyBytes', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(url(SESSIONS), { method: 'POST', headers: JSON_HEADERS }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('error', reject);
      req.write(`{"username":"alice","password":"`);
      for (let i = 0; i < 8; i++) req.write('y'.repeat(512)); // no Content-Length: chunked
      req.end('"}');
    });
    expect(status).toBe(413);
    expect(JSON.parse(body).type).toBe('bad-request/invalid-body');
  });

  it('answers a body that stops arriving with 408 and closes the connection', async () => {
    const reply = await raw(`POST ${SESSIONS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"username":`);
    expect(reply.status).toBe(408);
    expect(JSON.parse(reply.body).type).toBe('bad-request/invalid-body');
    expect(reply.closed).toBe(true);
    expect(reply.elapsedMs).toBeGreaterThanOrEqual(900);
    expect(reply.elapsedMs).toBeLessThan(4_000);
  });

  it('answers headers that stop arriving with 408 and closes the connection', async () => {
    const reply = await raw(`POST ${SESSIONS} HTTP/1.1\r\nHost: x\r\nContent-Ty`);
    expect(reply.status).toBe(408);
    expect(JSON.parse(reply.body).type).toBe('bad-request/invalid-body');
    expect(reply.closed).toBe(true);
    expect(reply.elapsedMs).toBeLessThan(4_000);
  });

  it('answers oversized headers with 431 JSON', async () => {
    const reply = await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Junk: ${'j'.repeat(20_000)}\r\n\r\n`);
    expect(reply.status).toBe(431);
    expect(JSON.parse(reply.body)).toMatchObject({ 'http-code': 431, type: 'bad-request' });
    expect(reply.closed).toBe(true);
  });

  it('answers a request HTTP cannot parse with 400 JSON', async () => {
    const reply = await raw('NOT AN HTTP REQUEST\r\n\r\n');
    expect(reply.status).toBe(400);
    expect(reply.head).toMatch(/content-type: application\/json/i);
    expect(Object.keys(JSON.parse(reply.body)).sort()).toEqual(ERROR_KEYS);
  });
});

describe('routes and methods', () => {
  it('answers unknown routes with 404 not-found', async () => {
    for (const path of ['/', '/api/rest/v1/session', '/api/rest/v1/sessions/extra', '/api/rest/v1/users', '/API/REST/V1/SESSIONS']) {
      await expectError(await fetch(url(path)), 404, 'not-found');
      await expectError(await post('{}', JSON_HEADERS, path), 404, 'not-found');
    }
  });

  it('ignores a query string', async () => {
    expect((await post(JSON.stringify({ username: 'alice', password: 'alice-pw' }), JSON_HEADERS, `${SESSIONS}?x=1`)).status).toBe(201);
  });

  it('answers other methods with 405 and Allow', async () => {
    for (const method of ['GET', 'PUT', 'PATCH', 'OPTIONS']) {
      const res = await fetch(url(SESSIONS), { method });
      expect(res.headers.get('allow')).toBe('POST, DELETE');
      await expectError(res, 405, 'bad-request/method-not-allowed');
    }
    const head = await fetch(url(SESSIONS), { method: 'HEAD' });
    expect(head.status).toBe(405);
    expect(head.headers.get('allow')).toBe('POST, DELETE');
  });
});

describe('log in and out over plain HTTP', () => {
  it('answers a login with 201 and the flat Session JSON, uncacheable', async () => {
    const res = await login('alice', 'alice-pw');
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const session = (await res.json()) as Record<string, unknown>;
    expect(session).toEqual((await t.gateway.sessions.get(session.id as string))!.toJSON());
  });

  it('logs out with 204 and no body; then the id is invalid', async () => {
    const { id } = (await (await login('alice', 'alice-pw')).json()) as { id: string };
    const res = await fetch(url(SESSIONS), { method: 'DELETE', headers: { 'X-FilesAPI-Auth': id } });
    expect(res.status).toBe(204);
    expect(res.headers.get('content-type')).toBeNull();
    expect(await res.text()).toBe('');
    expect((await t.gateway.sessions.get(id))).toBeUndefined();
    await expectError(await fetch(url(SESSIONS), { method: 'DELETE', headers: { 'X-FilesAPI-Auth': id } }), 401, 'not-authenticated/invalid-session');
  });

  it('refuses a logout without X-FilesAPI-Auth or with an unknown id', async () => {
    await expectError(await fetch(url(SESSIONS), { method: 'DELETE' }), 401, 'not-authenticated/authentication-required');
    await expectError(
      await fetch(url(SESSIONS), { method: 'DELETE', headers: { 'X-FilesAPI-Auth': 'not-a-session' } }),
      401,
      'not-authenticated/invalid-session',
    );
  });

  it('logs out even when the client sends a body, and keeps the connection usable', async () => {
    const { id } = (await (await login('alice', 'alice-pw')).json()) as { id: string };
    const res = await fetch(url(SESSIONS), { method: 'DELETE', headers: { 'X-FilesAPI-Auth': id, ...JSON_HEADERS }, body: '{"x":1}' });
    expect(res.status).toBe(204);
    expect((await login('alice', 'alice-pw')).status).toBe(201);
  });
});

describe('duplicated logins and the lockout (maxFailures 2)', () => {
  it('counts an identical failed login sent twice once', async () => {
    const body = JSON.stringify({ username: 'bob', password: 'wrong' });
    await expectError(await post(body), 401, 'not-authenticated/invalid-username-or-password');
    await expectError(await post(body), 401, 'not-authenticated/invalid-username-or-password');
    expect((await login('bob', 'bob-pw')).status).toBe(201);
  });

  it('counts identical failed logins sent at the same time once', async () => {
    const body = JSON.stringify({ username: 'dave', password: 'wrong' });
    const replies = await Promise.all([post(body), post(body)]);
    for (const res of replies) await expectError(res, 401, 'not-authenticated/invalid-username-or-password');
    expect((await login('dave', 'dave-pw')).status).toBe(201);
  });

  it('counts two different failed logins twice: locked out', async () => {
    await expectError(await login('carol', 'wrong-1'), 401, 'not-authenticated/invalid-username-or-password');
    await expectError(await login('carol', 'wrong-2'), 401, 'not-authenticated/invalid-username-or-password');
    const err = await expectError(await login('carol', 'carol-pw'), 401, 'not-authenticated/locked-out');
    expect(Date.parse(err.data.retry_at)).toBeGreaterThan(Date.now());
  });
});

describe('language', () => {
  it('picks the refusal language from Accept-Language', async () => {
    const cases: Array<[string, string]> = [
      ['fr-CH, fr;q=0.9, en;q=0.8', 'Identifiants incorrects.'],
      ['xx, es;q=0.5', 'Inicio de sesión incorrecto.'],
      ['en;q=0.5, de;q=0.9', 'Anmeldung fehlgeschlagen.'],
      ['de;q=0, en', 'Login incorrect.'],
      ['*', 'Login incorrect.'],
    ];
    for (const [index, [header, text]] of cases.entries()) {
      // A user per case: maxFailures is 2.
      const err = await expectError(await login(`nobody-${index}`, 'x', { 'Accept-Language': header }), 401, 'not-authenticated/invalid-username-or-password');
      expect(err.error, header).toBe(text);
    }
  });

  it("gives the session the user's language, not the request's", async () => {
    const session = (await (await login('hans', 'hans-pw', { 'Accept-Language': 'fr' })).json()) as { language: string };
    expect(session.language).toBe('de');
  });
});

describe('access log', () => {
  it('logs method, path, status and duration of each request, and no secrets', async () => {
    logLines.length = 0;
    const res = await login('alice', 'alice-pw');
    const { id, login_token } = (await res.json()) as { id: string; login_token: string };
    await fetch(url(`${SESSIONS}?password=in-the-query`), { method: 'DELETE', headers: { 'X-FilesAPI-Auth': id } });
    await login('nobody-logged', 'a-wrong-secret');

    const events = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = events.filter((e) => e.event === 'http_request');
    expect(requests.map((e) => [e.method, e.path, e.status])).toEqual([
      ['POST', SESSIONS, 201],
      ['DELETE', SESSIONS, 204],
      ['POST', SESSIONS, 401],
    ]);
    for (const e of requests) expect(typeof e.ms).toBe('number');
    expect(events.filter((e) => e.event === 'login').map((e) => e.outcome)).toEqual(['success', 'failure']);

    const text = logLines.join('\n');
    for (const secret of ['alice-pw', 'a-wrong-secret', 'in-the-query', id, login_token]) expect(text).not.toContain(secret);
  });
});

describe('the listener', () => {
  it('is bound to the configured host only', () => {
    expect(t.gateway.addresses.http).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
  });

  it('close() ends idle keep-alive connections', async () => {
    const other = await startGateway({ http: { host: '127.0.0.1', port: 0 }, users: [await user('alice', 'alice-pw')] });
    const socket = net.connect(other.gateway.addresses.http!.port, '127.0.0.1');
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    const answered = new Promise<string>((resolve) => socket.once('data', (c) => resolve(c.toString())));
    socket.write(`GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n`);
    expect(await answered).toMatch(/^HTTP\/1\.1 404/);
    const started = Date.now();
    await other.close();
    await closed;
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('admission (maxConnectionsPerSource 2)', () => {
  it('refuses a third connection from one source with 503 JSON, and admits again once one closes', async () => {
    const capped = await startGateway({ http: { host: '127.0.0.1', port: 0, maxConnectionsPerSource: 2 }, users: [] });
    const capPort = capped.gateway.addresses.http!.port;
    const open = (): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const socket = net.connect(capPort, '127.0.0.1', () => resolve(socket));
        socket.on('error', reject);
      });
    const reply = (socket: net.Socket): Promise<string> =>
      new Promise((resolve) => {
        let text = '';
        socket.on('data', (chunk) => (text += chunk.toString()));
        socket.on('close', () => resolve(text));
      });
    try {
      const held = [await open(), await open()];
      const third = await open();
      const answer = await reply(third);
      expect(answer).toMatch(/^HTTP\/1\.1 503 /);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ type: 'service-unavailable', 'http-code': 503 });
      held[0]!.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const fourth = await open();
      fourth.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(await reply(fourth)).toMatch(/^HTTP\/1\.1 404 /);
      held[1]!.destroy();
    } finally {
      await capped.close();
    }
  });
});

describe('idle HTTP sessions (sessionIdleMinutes 1, manual clock)', () => {
  let idle: TestGateway;
  let now = Date.now();
  beforeAll(async () => {
    idle = await startGateway(
      { http: { host: '127.0.0.1', port: 0, sessionIdleMinutes: 1 }, users: [await user('alice', 'alice-pw')] },
      { clock: () => now },
    );
  });
  afterAll(() => idle?.close());

  it('ends a session unused for longer than the idle time', async () => {
    const base = `http://127.0.0.1:${idle.gateway.addresses.http!.port}${SESSIONS}`;
    const logIn = async (): Promise<string> => {
      const res = await fetch(base, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ username: 'alice', password: 'alice-pw' }) });
      return ((await res.json()) as { id: string }).id;
    };
    const logOut = (id: string): Promise<Response> => fetch(base, { method: 'DELETE', headers: { 'X-FilesAPI-Auth': id } });
    const ended: string[] = [];
    idle.gateway.sessions.on('deleted', (s, reason) => ended.push(`${s.id}:${reason}`));

    const [fresh, stale] = [await logIn(), await logIn()];
    now += 59_000;
    expect((await logOut(fresh)).status).toBe(204);
    now += 2_000;
    await expectError(await logOut(stale), 401, 'not-authenticated/invalid-session');
    expect(ended).toEqual([`${fresh}:SESSION_ENDED`, `${stale}:SESSION_ENDED`]);
  });
});
