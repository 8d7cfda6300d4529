/**
 * Unauthenticated connections end: the login deadline holds against a client that keeps sending
 * NOOP, and silent sockets on the implicit FTPS port count from accept (beyond the per-source cap
 * closed at once, the rest at the TLS handshake timeout) while a normal client still logs in.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawFtp } from '../helpers/ftp.js';
import { startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';

const PASSIVE = await passivePorts();
const PASSWORD = 'limits-secret';
const PER_SOURCE = 20;
const SILENT = 110;

describe('ftp login deadline and pre-handshake limits', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway({
      ftp: {
        host: '127.0.0.1',
        port: 0,
        passivePorts: PASSIVE,
        implicitTlsPort: 0,
        loginTimeoutSeconds: 2,
        tlsHandshakeTimeoutSeconds: 1,
        maxConnectionsPerSource: PER_SOURCE,
      },
      users: [await user('alice', PASSWORD)],
    });
  });
  afterAll(() => gw?.close());

  it('a client that sends NOOP but never logs in gets 421 and is closed at the deadline', async () => {
    const ftp = await RawFtp.connect(gw.gateway.addresses.ftp!.port);
    const started = Date.now();
    const replies: number[] = [];
    let last = 0;
    while (last !== 421) {
      ftp.send('NOOP');
      last = (await ftp.reply(5_000)).code;
      replies.push(last);
      if (last === 200) await new Promise((resolve) => setTimeout(resolve, 150));
      expect(Date.now() - started).toBeLessThan(5_000);
    }
    await ftp.closed();
    expect(replies.filter((code) => code === 200).length).toBeGreaterThan(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
  });

  it('a logged-in client is not cut by the deadline', async () => {
    const ftp = await RawFtp.connect(gw.gateway.addresses.ftp!.port);
    expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
    await new Promise((resolve) => setTimeout(resolve, 2_300));
    expect((await ftp.command('NOOP')).code).toBe(200);
    ftp.close();
  });

  it('a protected passive data connection that never starts TLS gets 425 at the handshake timeout', async () => {
    const ftp = await RawFtp.connect(gw.gateway.addresses.ftps!.port, { implicitTls: true });
    expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
    expect((await ftp.command('PBSZ 0')).code).toBe(200);
    expect((await ftp.command('PROT P')).code).toBe(200);
    const data = await ftp.openData(); // connected, but no ClientHello follows
    const started = Date.now();
    ftp.send('LIST');
    expect((await ftp.reply()).code).toBe(150);
    expect((await ftp.reply(5_000)).code).toBe(425);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(3_000);
    data.destroy();
    expect((await ftp.command('NOOP')).code).toBe(200);
    ftp.close();
  });

  it(`${SILENT} silent sockets on the implicit port: beyond the cap closed at once, the rest at the handshake timeout`, async () => {
    const port = gw.gateway.addresses.ftps!.port;
    const started = Date.now();
    const closedAt: number[] = [];
    const sockets = await Promise.all(
      Array.from({ length: SILENT }, () =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect({ port, host: '127.0.0.1' }, () => resolve(socket));
          socket.once('error', reject);
          socket.once('close', () => closedAt.push(Date.now() - started));
        }),
      ),
    );
    // A normal client from another address logs in meanwhile.
    const other = await RawFtp.connect(port, { implicitTls: true, localAddress: '127.0.0.2' });
    expect((await other.login('alice', PASSWORD)).code).toBe(230);
    other.close();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(closedAt.length).toBe(SILENT - PER_SOURCE);
    expect(Math.max(...closedAt)).toBeLessThan(900);
    const deadline = Date.now() + 5_000;
    while (closedAt.length < SILENT && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closedAt.length).toBe(SILENT);
    const late = closedAt.slice(SILENT - PER_SOURCE);
    expect(Math.min(...late)).toBeGreaterThanOrEqual(900);
    expect(Math.max(...late)).toBeLessThan(1_900); // the handshake timeout (1 s), before the login deadline (2 s)
    for (const socket of sockets) socket.destroy();
  });
});
