/**
 * The admin API and `filegate sessions` against a running gateway: an ssh2, a basic-ftp and an HTTP
 * session listed with their fields; ending one session and a user's sessions closes the SFTP and FTP
 * connections within a second; 401 alike for a missing and a wrong token; no secret in any response
 * or log line.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionRef } from '../../src/core/index.js';
import { runCli } from '../helpers/cli.js';
import { ftpClosed, ftpConnect, memoryLogger, sshConnect } from '../helpers/clients.js';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';

const PASSWORD = 'admin-test pw';
const TOKEN = 'admin-token-0123456789abcdef';
const CLI = ['--import', 'tsx', path.resolve('src/cli.ts')];
const filegate = (args: string[], env: Record<string, string>) => runCli(process.execPath, [...CLI, ...args], { env: { ...process.env, ...env } });

describe('admin API', () => {
  let gw: TestGateway;
  let base: string;
  const { logger, events, lines } = memoryLogger({ redacted: true });
  /** Every secret the test saw: none may appear in a response body or a log line. */
  const secrets = new Set<string>([TOKEN, PASSWORD]);
  const bodies: string[] = [];

  const admin = async (method: string, route: string, token: string | null = TOKEN) => {
    const response = await fetch(`${base}/api/rest/v1/admin/${route}`, {
      method,
      headers: token === null ? {} : { Authorization: `Bearer ${token}` },
    });
    const text = await response.text();
    bodies.push(text);
    return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as unknown) : undefined };
  };
  const httpLogin = async (username: string) => {
    const response = await fetch(`${base}/api/rest/v1/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: PASSWORD }),
    });
    expect(response.status).toBe(201);
    const session = (await response.json()) as { id: string; login_token: string };
    secrets.add(session.id).add(session.login_token);
    return session;
  };
  const live = async () => await gw.gateway.sessions.list();
  const liveIds = async () => (await live()).map((s) => s.id);

  beforeAll(async () => {
    gw = await startGateway(
      {
        sftp: { host: '127.0.0.1', port: 0 },
        ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() },
        http: { host: '127.0.0.1', port: 0, adminToken: TOKEN },
        users: await Promise.all([user('ann', PASSWORD), user('ben', PASSWORD), user('cal', PASSWORD)]),
      },
      { logger },
    );
    base = `http://127.0.0.1:${gw.gateway.addresses.http!.port}`;
  });
  afterAll(() => gw?.close());

  it('refuses a missing, a wrong and a non-bearer token with the same 401, and audits each', async () => {
    const before = events.length;
    const missing = await admin('GET', 'sessions', null);
    const wrong = await admin('GET', 'sessions', 'admin-token-0123456789abcdeX');
    const basic = await fetch(`${base}/api/rest/v1/admin/sessions`, { headers: { Authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } });
    const ended = await admin('DELETE', 'users/ann/sessions', 'nope');
    for (const answer of [missing, wrong, ended]) {
      expect(answer.status).toBe(401);
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer /);
      const { instance: _instance, ...rest } = answer.body as Record<string, unknown>;
      const { instance: _first, ...first } = missing.body as Record<string, unknown>;
      expect(rest).toEqual(first);
      expect(rest).toMatchObject({ 'http-code': 401, type: 'not-authenticated/authentication-required' });
    }
    expect(basic.status).toBe(401);
    const audits = events.slice(before).filter((e) => e.event === 'admin');
    expect(audits.map((e) => e.outcome)).toEqual(['unauthorized', 'unauthorized', 'unauthorized', 'unauthorized']);
  });

  it('lists an ssh2, a basic-ftp and an HTTP session with their fields', async () => {
    const sftp = await sshConnect(gw, 'ann', PASSWORD);
    const ftp = await ftpConnect(gw, 'ben', PASSWORD);
    await httpLogin('cal');
    for (const id of await liveIds()) secrets.add(id);

    const { status, body } = await admin('GET', 'sessions');
    expect(status).toBe(200);
    const sessions = body as Record<string, unknown>[];
    const byUser = Object.fromEntries(sessions.map((s) => [s.username, s]));
    expect(Object.keys(byUser).sort()).toEqual(['ann', 'ben', 'cal']);
    expect(byUser.ann).toMatchObject({ protocol: 'sftp', connections: 1 });
    expect(byUser.ben).toMatchObject({ protocol: 'ftp', connections: 1 });
    expect(byUser.cal).toMatchObject({ protocol: 'http', connections: 0 });
    for (const s of sessions) {
      expect(Object.keys(s).sort()).toEqual(['connections', 'created_at', 'id', 'last_active_at', 'node', 'protocol', 'remote_address', 'username']);
      expect(s.remote_address).toBe('127.0.0.1');
      expect(s.node).toEqual(expect.any(String));
      expect(new Date(s.created_at as string).toISOString()).toBe(s.created_at);
      expect(Date.parse(s.last_active_at as string)).toBeGreaterThanOrEqual(Date.parse(s.created_at as string));
      // The ref the logs show, never the id (a bearer credential for HTTP sessions).
      expect((await liveIds()).map(sessionRef)).toContain(s.id);
    }
    sftp.ssh.end();
    ftp.close();
    await expect.poll(async () => (await live()).filter((s) => s.protocol !== 'http').length, { timeout: 2000 }).toBe(0);
  });

  it('ends one session, then every session of a user, closing SFTP and FTP connections within 1 s', async () => {
    const sftp = await sshConnect(gw, 'ann', PASSWORD);
    const ftp = await ftpConnect(gw, 'ann', PASSWORD);
    const ftpGone = ftpClosed(ftp);
    await httpLogin('ann');
    for (const id of await liveIds()) secrets.add(id);
    const listed = (await admin('GET', 'sessions')).body as { id: string; username: string; protocol: string }[];
    const sftpRef = listed.find((s) => s.username === 'ann' && s.protocol === 'sftp')!.id;

    let started = Date.now();
    const one = await admin('DELETE', `sessions/${sftpRef}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: sftpRef, username: 'ann', protocol: 'sftp' });
    expect((await sftp.closed) - started).toBeLessThan(1000);
    expect(ftp.closed).toBe(false);

    started = Date.now();
    const all = await admin('DELETE', 'users/ann/sessions');
    expect(all.status).toBe(200);
    const ended = (all.body as { username: string; ended: { protocol: string }[] });
    expect(ended.username).toBe('ann');
    expect(ended.ended.map((s) => s.protocol).sort()).toEqual(['ftp', 'http']);
    const ftpEnd = await ftpGone;
    expect(ftpEnd.at - started).toBeLessThan(1000);
    expect(ftpEnd.reply).toMatch(/^421 /);
    expect((await live()).filter((s) => s.username === 'ann')).toEqual([]);

    expect((await admin('DELETE', `sessions/${sftpRef}`)).status).toBe(404);
    expect((await admin('DELETE', 'users/ann/sessions')).body).toEqual({ username: 'ann', ended: [] });
  });

  it('answers unknown ids, bad encodings and wrong methods with Files.com errors, never echoing an id', async () => {
    const { id } = await httpLogin('ben');
    const byId = await admin('DELETE', `sessions/${id}`);
    expect(byId.status).toBe(404);
    expect(byId.body).toMatchObject({ 'http-code': 404, type: 'not-found' });
    expect((await live()).some((s) => s.id === id)).toBe(true);
    expect((await admin('DELETE', 'users/%E0%A4%A/sessions')).status).toBe(400);
    const wrongMethod = await admin('POST', 'sessions');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET');
    expect((await admin('GET', 'nothing-here')).status).toBe(404);
  });

  it('filegate sessions: a table, --json, end and end-user', async () => {
    const ftp = await ftpConnect(gw, 'cal', PASSWORD);
    for (const id of await liveIds()) secrets.add(id);
    const env = { FILEGATE_ADMIN_TOKEN: TOKEN };

    const table = await filegate(['sessions', 'list', '--url', base], env);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trim().split('\n');
    expect(header).toMatch(/^ID +USERNAME +PROTOCOL +REMOTE ADDRESS +CREATED AT +LAST ACTIVE AT +NODE +CONNECTIONS$/);
    expect(rows.some((row) => /^[0-9a-f]{12} +cal +ftp +127\.0\.0\.1 .* 1$/.test(row))).toBe(true);

    const json = await filegate(['sessions', 'list', '--json', '--url', base], env);
    const listed = JSON.parse(json.stdout) as { id: string; username: string; protocol: string }[];
    expect(listed).toEqual((await admin('GET', 'sessions')).body);

    const ftpGone = ftpClosed(ftp);
    const started = Date.now();
    const endUser = await filegate(['sessions', 'end-user', 'cal', '--url', base], env);
    expect(endUser.code).toBe(0);
    expect(endUser.stdout.trim()).toMatch(/^ended [12] sessions? of cal$/);
    expect((await ftpGone).at - started).toBeLessThan(5000); // includes starting the CLI process

    const ben = listed.find((s) => s.username === 'ben')!;
    const end = await filegate(['sessions', 'end', ben.id, '--url', base], env);
    expect(end.stdout.trim()).toBe(`ended session ${ben.id} of ben`);
    const again = await filegate(['sessions', 'end', ben.id, '--url', base], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('404 No live session with this id.');

    const noToken = await filegate(['sessions', 'list', '--url', base], { FILEGATE_ADMIN_TOKEN: '' });
    expect(noToken.code).toBe(2);
    const badToken = await filegate(['sessions', 'list', '--url', base], { FILEGATE_ADMIN_TOKEN: 'wrong-token-wrong-token' });
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toContain('401');
    for (const out of [table, json, endUser, end, again, noToken, badToken]) bodies.push(out.stdout, out.stderr);
  }, 90_000); // seven CLI processes, each compiling the sources with tsx: slow on a loaded machine

  it('writes no secret into any response or log line, and audits every admin request', async () => {
    expect(secrets.size).toBeGreaterThan(5);
    for (const secret of secrets) {
      for (const body of bodies) expect(body).not.toContain(secret);
      for (const line of lines) expect(line).not.toContain(secret);
    }
    const audits = events.filter((e) => e.event === 'admin');
    const requests = events.filter((e) => e.event === 'http_request' && String(e.path).startsWith('/api/rest/v1/admin/'));
    // Every request to an admin route left an audit line (an unknown path or method has no route).
    const routed = requests.filter((e) => !String(e.path).endsWith('/nothing-here') && e.status !== 405);
    expect(audits.length).toBe(routed.length);
    expect(audits.every((e) => typeof e.remote === 'string' && typeof e.action === 'string' && typeof e.outcome === 'string')).toBe(true);
  });

  it('does not exist without a token', async () => {
    const plain = await startGateway({ http: { host: '127.0.0.1', port: 0 } });
    try {
      const response = await fetch(`http://127.0.0.1:${plain.gateway.addresses.http!.port}/api/rest/v1/admin/sessions`, {
        headers: { Authorization: `Bearer ${TOKEN}` },
      });
      expect(response.status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
