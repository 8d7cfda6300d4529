/**
 * /metrics, /healthz and /readyz of a running gateway: the exposition parses strictly, and the
 * counters move by exactly the logins, bytes, files and denials the test performed; no username or
 * path appears in it.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../src/metrics/gateway-metrics.js';
import { startMetricsServer } from '../../src/metrics/metrics-server.js';
import { SessionManager, StaticUserDirectory } from '../../src/core/index.js';
import { ftpConnect, mkdirCode, sftpUpload, sshConnect } from '../helpers/clients.js';
import { RawFtp } from '../helpers/ftp.js';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';
import { parseExposition, type Exposition } from '../helpers/prometheus.js';
import { call } from '../helpers/sftp.js';

const PASSWORD = 'metrics pw';

describe('metrics', () => {
  let gw: TestGateway;
  let base: string;
  const scrape = async (): Promise<Exposition> => {
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    for (const secret of ['writer', 'reader', 'up.bin', 'down.bin', PASSWORD]) expect(text).not.toContain(secret);
    return parseExposition(text);
  };

  beforeAll(async () => {
    gw = await startGateway({
      sftp: { host: '127.0.0.1', port: 0 },
      ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() },
      http: { host: '127.0.0.1', port: 0 },
      metrics: { host: '127.0.0.1', port: 0 },
      users: await Promise.all([user('writer', PASSWORD), user('reader', PASSWORD, { read_only: true })]),
    });
    base = `http://127.0.0.1:${gw.gateway.addresses.metrics!.port}`;
  });
  afterAll(() => gw?.close());

  it('counts exactly the logins, lockout refusals, bytes, files and denials performed', async () => {
    const before = await scrape();
    const up = randomBytes(300_001);
    const down = randomBytes(123_457);

    const writer = await sshConnect(gw, 'writer', PASSWORD);
    const upload = sftpUpload(writer, '/up.bin');
    await upload.write(up);
    await upload.finish();
    await expect(sshConnect(gw, 'writer', 'wrong')).rejects.toThrow();
    const back = await call<Buffer>((cb) => writer.sftp.readFile('/up.bin', cb));
    expect(back.equals(up)).toBe(true);
    const reader = await sshConnect(gw, 'reader', PASSWORD);
    expect(await mkdirCode(reader, '/no')).toBe(3);
    const httpLogin = (username: string, password: string) =>
      fetch(`http://127.0.0.1:${gw.gateway.addresses.http!.port}/api/rest/v1/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      });
    expect((await httpLogin('reader', PASSWORD)).status).toBe(201);
    expect((await httpLogin('writer', 'wrong')).status).toBe(401);
    const ftp = await ftpConnect(gw, 'writer', PASSWORD);
    await ftp.uploadFrom(Readable.from([down]), '/down.bin');
    const chunks: Buffer[] = [];
    await ftp.downloadTo(new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) }), '/down.bin');
    expect(Buffer.concat(chunks).equals(down)).toBe(true);

    const during = await scrape();
    expect(during.value('filegate_sessions', { protocol: 'sftp' })).toBe(2);
    expect(during.value('filegate_sessions', { protocol: 'ftp' })).toBe(1);
    expect(during.value('filegate_sessions', { protocol: 'http' })).toBe(1);
    expect(during.value('filegate_connections', { protocol: 'sftp' })).toBe(2);
    expect(during.value('filegate_connections', { protocol: 'ftp' })).toBe(1);
    ftp.close();
    writer.ssh.end();
    reader.ssh.end();

    const moved = (name: string, labels: Record<string, string>) => during.value(name, labels) - before.value(name, labels);
    expect(moved('filegate_logins_total', { protocol: 'sftp', outcome: 'success', reason: 'none' })).toBe(2);
    expect(moved('filegate_logins_total', { protocol: 'sftp', outcome: 'failure', reason: 'AUTH_FAILED' })).toBe(1);
    expect(moved('filegate_logins_total', { protocol: 'ftp', outcome: 'success', reason: 'none' })).toBe(1);
    expect(moved('filegate_logins_total', { protocol: 'http', outcome: 'success', reason: 'none' })).toBe(1);
    expect(moved('filegate_logins_total', { protocol: 'http', outcome: 'failure', reason: 'AUTH_FAILED' })).toBe(1);
    expect(moved('filegate_transfer_bytes_total', { protocol: 'sftp', direction: 'download' })).toBe(up.length);
    expect(moved('filegate_transfer_files_total', { protocol: 'sftp', direction: 'download' })).toBe(1);
    expect(moved('filegate_transfer_bytes_total', { protocol: 'sftp', direction: 'upload' })).toBe(up.length);
    expect(moved('filegate_transfer_bytes_total', { protocol: 'ftp', direction: 'upload' })).toBe(down.length);
    expect(moved('filegate_transfer_bytes_total', { protocol: 'ftp', direction: 'download' })).toBe(down.length);
    expect(moved('filegate_transfer_files_total', { protocol: 'sftp', direction: 'upload' })).toBe(1);
    expect(moved('filegate_transfer_files_total', { protocol: 'ftp', direction: 'download' })).toBe(1);
    expect(moved('filegate_transfer_duration_seconds_count', { protocol: 'ftp', direction: 'upload' })).toBe(1);
    expect(during.value('filegate_transfer_duration_seconds_bucket', { protocol: 'sftp', direction: 'upload', le: '+Inf' })).toBe(
      during.value('filegate_transfer_duration_seconds_count', { protocol: 'sftp', direction: 'upload' }),
    );
    expect(moved('filegate_denied_operations_total', { operation: 'mkdir', reason: 'PERMISSION_DENIED' })).toBe(1);
    expect(during.types.get('filegate_event_loop_lag_seconds')).toBe('gauge');
    expect(during.value('filegate_event_loop_lag_seconds', { stat: 'max' })).toBeGreaterThan(0);
  });

  it('counts FTP write verbs refused under read_only as denied operations', async () => {
    const before = await scrape();
    const ftp = await RawFtp.connect(gw.gateway.addresses.ftp!.port);
    expect((await ftp.login('reader', PASSWORD)).code).toBe(230);
    for (const line of ['MFMT 20010203040506 any.txt', 'SITE CHMOD 600 any.txt', 'RNFR any.txt']) expect((await ftp.command(line)).code).toBe(550);
    ftp.close();
    const after = await scrape();
    const moved = (labels: Record<string, string>) => after.value('filegate_denied_operations_total', labels) - before.value('filegate_denied_operations_total', labels);
    expect(moved({ operation: 'setstat', reason: 'PERMISSION_DENIED' })).toBe(2);
    expect(moved({ operation: 'rename', reason: 'PERMISSION_DENIED' })).toBe(1);
  });

  it('counts lockout refusals', async () => {
    const before = await scrape();
    for (let i = 0; i < 6; i++) await expect(sshConnect(gw, 'reader', 'wrong')).rejects.toThrow();
    const after = await scrape();
    expect(after.value('filegate_lockout_refusals_total', { scope: 'user' }) - before.value('filegate_lockout_refusals_total', { scope: 'user' })).toBe(1);
    expect(
      after.value('filegate_logins_total', { protocol: 'sftp', outcome: 'failure', reason: 'AUTH_FAILED' }) -
        before.value('filegate_logins_total', { protocol: 'sftp', outcome: 'failure', reason: 'AUTH_FAILED' }),
    ).toBe(5);
  });

  it('answers /healthz and /readyz, and nothing else', async () => {
    expect(await (await fetch(`${base}/healthz`)).text()).toBe('ok\n');
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, failures: [] });
    expect((await fetch(`${base}/other`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('reports a failing readiness check with 503 and its reason', async () => {
    const sessions = new SessionManager({ users: new StaticUserDirectory([]) });
    const metrics = new GatewayMetrics(sessions);
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0 }, metrics, {
      listeners: async () => undefined,
      redis: async () => 'connection refused',
    });
    try {
      const response = await fetch(`http://127.0.0.1:${server.addresses.metrics!.port}/readyz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ ready: false, failures: [{ check: 'redis', reason: 'connection refused' }] });
    } finally {
      await server.close();
      metrics.close();
      sessions.close();
    }
  });
});
