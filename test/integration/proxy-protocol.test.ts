/**
 * PROXY protocol on every listener, driven by real clients over sockets that first write the header
 * a load balancer would: the address it carries is the one sessions, limits and logs see.
 */
import net, { type Socket } from 'node:net';
import { Client as SshClient } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../helpers/clients.js';
import { RawFtp, readAll, writeAll } from '../helpers/ftp.js';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';

const PASSWORD = 'proxy-secret-1';
const PASSIVE = await passivePorts();

/** A socket to `port` that has already sent `header`. */
async function connectWithHeader(port: number, header: string | Buffer): Promise<Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(header);
  return socket;
}

const v1 = (client: string, port: number): string => `PROXY TCP4 ${client} 127.0.0.1 ${port} 1\r\n`;

function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    socket.on('data', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** An HTTP login over `socket`; resolves with the status line's code and the body. */
async function httpLogin(socket: Socket, password: string): Promise<{ status: number; body: string }> {
  const body = JSON.stringify({ username: 'alice', password });
  socket.write(
    `POST /api/rest/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
  );
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString();
  return { status: Number(text.slice(9, 12)), body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

describe('PROXY protocol, required, from a trusted proxy', () => {
  let gw: TestGateway;
  const log = memoryLogger();

  beforeAll(async () => {
    gw = await startGateway(
      {
        trustedProxies: ['127.0.0.1/32'],
        sftp: { host: '127.0.0.1', port: 0, proxyProtocol: 'required' },
        ftp: { host: '127.0.0.1', port: 0, passivePorts: PASSIVE, proxyProtocol: 'required' },
        http: { host: '127.0.0.1', port: 0, proxyProtocol: 'required' },
        users: [await user('alice', PASSWORD)],
        lockout: { maxFailures: 100, maxFailuresPerSource: 3 },
      },
      { logger: log.logger },
    );
  });
  afterAll(() => gw?.close());

  it('SFTP: the session carries the address of a v2 header', async () => {
    const header = Buffer.concat([
      Buffer.from('0d0a0d0a000d0a515549540a2111000c', 'hex'),
      Buffer.from([198, 51, 100, 20, 127, 0, 0, 1, 0x9c, 0x40, 0x00, 0x16]),
    ]);
    const sock = await connectWithHeader(gw.gateway.addresses.sftp!.port, header);
    const ssh = new SshClient();
    await new Promise<void>((resolve, reject) => {
      ssh.once('ready', resolve).once('error', reject);
      ssh.connect({ sock, username: 'alice', password: PASSWORD, readyTimeout: 10_000 });
    });
    try {
      const sessions = await gw.gateway.sessions.list();
      expect(sessions.map((s) => [s.protocol, s.remote_address])).toContainEqual(['sftp', '198.51.100.20']);
    } finally {
      ssh.end();
    }
  });

  it('FTP: login and a passive transfer, the session at the header address', async () => {
    const ftp = await RawFtp.connect(gw.gateway.addresses.ftp!.port, { proxyHeader: v1('203.0.113.30', 40001) });
    expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
    const data = await ftp.openData();
    ftp.send('STOR p.txt');
    expect((await ftp.reply()).code).toBe(150);
    await writeAll(data, Buffer.from('via a proxy'));
    data.end();
    expect((await ftp.reply()).code).toBe(226);
    const download = await ftp.openData();
    ftp.send('RETR p.txt');
    expect((await readAll(download)).toString()).toBe('via a proxy');
    expect((await ftp.reply()).code).toBe(150);
    expect((await ftp.reply()).code).toBe(226);
    const sessions = await gw.gateway.sessions.list();
    expect(sessions.map((s) => [s.protocol, s.remote_address])).toContainEqual(['ftp', '203.0.113.30']);
    ftp.close();
  });

  it('HTTP: failures count against the header address, and the source lock holds there only', async () => {
    const port = gw.gateway.addresses.http!.port;
    for (let i = 0; i < 3; i++) {
      const res = await httpLogin(await connectWithHeader(port, v1('203.0.113.40', 40002 + i)), `wrong-${i}`);
      expect(res.status).toBe(401);
    }
    const locked = await httpLogin(await connectWithHeader(port, v1('203.0.113.40', 40010)), PASSWORD);
    expect(locked.status).not.toBe(201);
    expect(locked.body).toMatch(/too many|lock/i);
    const elsewhere = await httpLogin(await connectWithHeader(port, v1('203.0.113.41', 40011)), PASSWORD);
    expect(elsewhere.status).toBe(201);
    const refusals = log.events.filter((e) => e.event === 'login' && e.outcome === 'failure');
    expect(refusals.length).toBe(4);
    for (const refusal of refusals) expect(refusal.remote).toBe('203.0.113.40');
  });

  it('closes a connection without a header, and one with a bad header', async () => {
    const ftp = await connectWithHeader(gw.gateway.addresses.ftp!.port, 'USER alice\r\n');
    expect(await closedWithin(ftp, 3000)).toBe(true);
    const sftp = await connectWithHeader(gw.gateway.addresses.sftp!.port, 'PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\n');
    expect(await closedWithin(sftp, 3000)).toBe(true);
    const http = await connectWithHeader(gw.gateway.addresses.http!.port, Buffer.from('0d0a0d0a000d0a515549540a2f11000c', 'hex'));
    expect(await closedWithin(http, 3000)).toBe(true);
  });
});

describe('PROXY protocol from an address that is not a trusted proxy', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway({
      trustedProxies: ['192.0.2.1/32'],
      sftp: { host: '127.0.0.1', port: 0, proxyProtocol: 'required' },
      ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts(), proxyProtocol: 'optional' },
      http: { host: '127.0.0.1', port: 0, proxyProtocol: 'optional' },
      users: [await user('alice', PASSWORD)],
    });
  });
  afterAll(() => gw?.close());

  it('required: closed at once, header or not', async () => {
    const socket = await connectWithHeader(gw.gateway.addresses.sftp!.port, v1('203.0.113.50', 1));
    expect(await closedWithin(socket, 1000)).toBe(true);
  });

  it('optional: a header it sends is refused by the protocol, which ends the connection', async () => {
    const http = await httpLogin(await connectWithHeader(gw.gateway.addresses.http!.port, v1('203.0.113.51', 1)), PASSWORD);
    expect(http.status).toBe(400);
    const ftp = await connectWithHeader(gw.gateway.addresses.ftp!.port, Buffer.from('0d0a0d0a000d0a515549540a2111000c7f0000017f00000100010001', 'hex'));
    expect(await closedWithin(ftp, 3000)).toBe(true);
    expect(await gw.gateway.sessions.list()).toEqual([]);
  });

  it('optional: a client without a header is served as usual, at its own address', async () => {
    const ftp = await RawFtp.connect(gw.gateway.addresses.ftp!.port);
    expect((await ftp.command('USER alice')).code).toBe(331);
    expect((await ftp.command(`PASS ${PASSWORD}`)).code).toBe(230);
    const sessions = await gw.gateway.sessions.list();
    expect(sessions.map((s) => s.remote_address)).toEqual(['127.0.0.1']);
    ftp.socket.destroy();
  });
});
