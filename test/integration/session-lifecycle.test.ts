/**
 * Log out ends connections on every protocol; localised replies; the audit trail. Real servers on
 * 127.0.0.1, the ssh2 client, basic-ftp and plain fetch against the HTTP API.
 */
import { Writable } from 'node:stream';
import { Client as FtpClient } from 'basic-ftp';
import { Client as SshClient } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ftpClosed, ftpConnect as ftpLogin, memoryLogger, sshConnect as sshLogin } from '../helpers/clients.js';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';

const PASSWORD = 'lifecycle pw';

const sshConnect = (gw: TestGateway, username: string) => sshLogin(gw, username, PASSWORD);
const ftpConnect = (gw: TestGateway, username: string) => ftpLogin(gw, username, PASSWORD);

const sessionOf = async (gw: TestGateway, username: string, protocol: string) =>
  (await gw.gateway.sessions.list()).find((s) => s.username === username && s.protocol === protocol);

describe('session lifecycle across protocols', () => {
  let gw: TestGateway;
  const { logger, events } = memoryLogger();

  beforeAll(async () => {
    gw = await startGateway(
      {
        sftp: { host: '127.0.0.1', port: 0 },
        ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() },
        http: { host: '127.0.0.1', port: 0 },
        users: await Promise.all([
          user('lena', PASSWORD),
          user('dieter', PASSWORD, { language: 'de', read_only: true }),
          user('dagmar', PASSWORD, { language: 'de', two_factor_setup_needed: true }),
        ]),
      },
      { logger },
    );
  });
  afterAll(() => gw?.close());

  it('gateway.sessions.delete ends an SFTP and an FTP connection within 1 s; a new login works', async () => {
    const sftpClient = await sshConnect(gw, 'lena');
    const ftp = await ftpConnect(gw, 'lena');
    const ftpGone = ftpClosed(ftp);
    const sftpSession = (await sessionOf(gw, 'lena', 'sftp'))!;
    const ftpSession = (await sessionOf(gw, 'lena', 'ftp'))!;
    expect(sftpSession).toBeDefined();
    expect(ftpSession).toBeDefined();

    const started = Date.now();
    expect(await gw.gateway.sessions.delete(sftpSession.id)).toBe(true);
    expect(await gw.gateway.sessions.delete(ftpSession.id)).toBe(true);
    expect((await sftpClient.closed) - started).toBeLessThan(1000);
    const ftpEnd = await ftpGone;
    expect(ftpEnd.at - started).toBeLessThan(1000);
    expect(ftpEnd.reply).toMatch(/^421 /);

    const again = await sshConnect(gw, 'lena');
    again.ssh.end();
    const ftpAgain = await ftpConnect(gw, 'lena');
    expect(await ftpAgain.pwd()).toBe('/');
    ftpAgain.close();
  });

  it('an SFTP or FTP session ends when its connection closes', async () => {
    const { ssh, closed } = await sshConnect(gw, 'lena');
    expect(await sessionOf(gw, 'lena', 'sftp')).toBeDefined();
    ssh.end();
    await closed;
    await expect.poll(() => sessionOf(gw, 'lena', 'sftp'), { timeout: 2000 }).toBeUndefined();
    const ftp = await ftpConnect(gw, 'lena');
    expect(await sessionOf(gw, 'lena', 'ftp')).toBeDefined();
    ftp.close();
    await expect.poll(() => sessionOf(gw, 'lena', 'ftp'), { timeout: 2000 }).toBeUndefined();
  });

  it('last_active_at follows SFTP requests and FTP commands; an idle connection leaves it alone', async () => {
    const { ssh, sftp } = await sshConnect(gw, 'lena');
    const ftp = await ftpConnect(gw, 'lena');
    const activeAt = async (protocol: string) => Date.parse((await sessionOf(gw, 'lena', protocol))!.last_active_at);
    const idleSftp = await activeAt('sftp');
    const idleFtp = await activeAt('ftp');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await activeAt('sftp')).toBe(idleSftp);
    expect(await activeAt('ftp')).toBe(idleFtp);

    const used = Date.now();
    await new Promise((resolve, reject) => sftp.stat('/', (err) => (err ? reject(err) : resolve(undefined))));
    await ftp.pwd();
    expect(await activeAt('sftp')).toBeGreaterThanOrEqual(used);
    expect(await activeAt('ftp')).toBeGreaterThanOrEqual(used);
    ssh.end();
    ftp.close();
  });

  it('HTTP DELETE /api/rest/v1/sessions ends that session and its connections', async () => {
    const base = `http://127.0.0.1:${gw.gateway.addresses.http!.port}/api/rest/v1/sessions`;
    const login = await fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'lena', password: PASSWORD }),
    });
    expect(login.status).toBe(201);
    const { id } = (await login.json()) as { id: string };
    // Attach a live connection under the HTTP session the way an adapter does.
    let endedWith = '';
    gw.gateway.sessions.attach(id, { end: (reason) => (endedWith = reason.code) });
    const started = Date.now();
    const logout = await fetch(base, { method: 'DELETE', headers: { 'X-FilesAPI-Auth': id } });
    expect(logout.status).toBe(204);
    expect(endedWith).toBe('SESSION_ENDED');
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await gw.gateway.sessions.get(id))).toBeUndefined();
  });

  it('speaks German to a language "de" user over SFTP and FTP', async () => {
    const { ssh, sftp } = await sshConnect(gw, 'dieter');
    const sftpError = await new Promise<Error & { code?: number }>((resolve) =>
      sftp.mkdir('/neu', (err) => resolve(err as Error & { code?: number })),
    );
    expect(sftpError.code).toBe(3);
    expect(sftpError.message).toContain('Zugriff verweigert: diese Sitzung ist schreibgeschützt.');
    ssh.end();

    const ftp = await ftpConnect(gw, 'dieter');
    const ftpError = await ftp.send('MKD /neu').then(() => undefined, (err: Error) => err);
    expect(ftpError?.message).toMatch(/^550 .*Zugriff verweigert: diese Sitzung ist schreibgeschützt\./);
    const feat = await ftp.send('FEAT');
    expect(feat.message).toMatch(/LANG .*de/);
    await ftp.send('LANG fr');
    const french = await ftp.send('DELE /x').then(() => undefined, (err: Error) => err);
    expect(french?.message).toMatch(/^550 .*Permission refusée : cette session est en lecture seule\./);
    ftp.close();
  });

  it('refuses a language "de" user in German over SFTP and FTP once the password is right', async () => {
    const setupNeeded = 'Die Zwei-Faktor-Authentifizierung muss eingerichtet werden, bevor Sie sich anmelden können.';
    const ssh = new SshClient();
    let banner = '';
    ssh.on('banner', (text: string) => (banner += text));
    await expect(
      new Promise<void>((resolve, reject) => {
        ssh.once('ready', resolve).once('error', reject);
        ssh.connect({ host: '127.0.0.1', port: gw.gateway.addresses.sftp!.port, username: 'dagmar', password: PASSWORD, readyTimeout: 10_000 });
      }),
    ).rejects.toThrow();
    ssh.end();
    expect(banner).toContain(setupNeeded);

    const ftp = new FtpClient(10_000);
    const refused = await ftp
      .access({ host: '127.0.0.1', port: gw.gateway.addresses.ftp!.port, user: 'dagmar', password: PASSWORD })
      .then(() => undefined, (err: Error) => err);
    ftp.close();
    expect(refused?.message).toMatch(/^530 /);
    expect(refused?.message).toContain(setupNeeded);
  });

  it('writes an audit event per login, logout, denial and transfer, with no secrets', async () => {
    const before = events.length;
    const { ssh, sftp } = await sshConnect(gw, 'lena');
    await new Promise<void>((resolve, reject) => sftp.writeFile('/audit.txt', 'twelve bytes', (err) => (err ? reject(err) : resolve())));
    ssh.end();
    await expect(ftpConnect(gw, 'lena-nobody')).rejects.toThrow();
    const ftp = await ftpConnect(gw, 'dieter');
    await ftp.send('DELE /nothing').catch(() => undefined);
    await ftp.downloadTo(new Writable({ write: (_c, _e, done) => done() }), '/missing').catch(() => undefined);
    ftp.close();
    await expect.poll(() => events.slice(before).filter((e) => e.event === 'logout').length, { timeout: 2000 }).toBeGreaterThanOrEqual(2);

    const mine = events.slice(before);
    const sshLogin = mine.find((e) => e.event === 'login' && e.outcome === 'success' && e.protocol === 'sftp');
    expect(sshLogin).toMatchObject({ username: 'lena', remote: '127.0.0.1' });
    expect(sshLogin?.ssh).toMatchObject({ kex: expect.any(String), cs: { cipher: expect.any(String) } });
    expect(mine.find((e) => e.event === 'login' && e.outcome === 'failure' && e.protocol === 'ftp')).toMatchObject({
      username: 'lena-nobody',
      reason: 'AUTH_FAILED',
      tls: 'none',
    });
    expect(mine.find((e) => e.event === 'transfer')).toMatchObject({ direction: 'upload', path: '/audit.txt', bytes: 12 });
    expect(mine.find((e) => e.event === 'transfer')?.duration_ms).toEqual(expect.any(Number));
    expect(mine.find((e) => e.event === 'denied')).toMatchObject({ op: 'remove', path: '/nothing', reason: 'PERMISSION_DENIED' });
    const text = JSON.stringify(mine);
    expect(text).not.toContain(PASSWORD);
    for (const session of (await gw.gateway.sessions.list())) expect(text).not.toContain(session.id);
  });
});
