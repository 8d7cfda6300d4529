/**
 * Two gateway nodes behind a real HAProxy in TCP mode with `send-proxy-v2`, as in examples/haproxy.cfg:
 * SFTP, FTP (control and passive data) and HTTP logins work through it, and each node sees the
 * client's own address (127.0.0.5 here), not the balancer's (127.0.0.1).
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Client as SshClient } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../helpers/clients.js';
import { RawFtp, connectData, readAll } from '../helpers/ftp.js';
import { hasCommand, startGateway, user, type TestGateway } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';
import { freePort, startHaproxy, type Haproxy } from '../helpers/haproxy.js';

const PASSWORD = 'balanced-secret-1';
const CLIENT = '127.0.0.5';
/** Passive ranges per node; HAProxy listens on the same ports on 127.0.0.1 and keeps the port. */
const PASSIVE_A = await passivePorts();
const PASSIVE_B = await passivePorts();

describe.skipIf(!hasCommand('haproxy'))('two nodes behind HAProxy with PROXY protocol v2', () => {
  const nodes: TestGateway[] = [];
  const logs = [memoryLogger(), memoryLogger()];
  let haproxy: Haproxy;
  const front = { sftp: 0, ftp: 0, http: 0 };

  beforeAll(async () => {
    const users = [await user('alice', PASSWORD)];
    for (const [i, host] of ['127.0.0.2', '127.0.0.3'].entries()) {
      nodes.push(
        await startGateway(
          {
            trustedProxies: ['127.0.0.1/32'],
            sftp: { host, port: 0, proxyProtocol: 'required' },
            ftp: { host, port: 0, proxyProtocol: 'required', passivePorts: i === 0 ? PASSIVE_A : PASSIVE_B, pasvUrl: '127.0.0.1' },
            http: { host, port: 0, proxyProtocol: 'required' },
            users,
          },
          { logger: logs[i]!.logger },
        ),
      );
    }
    front.sftp = await freePort();
    front.ftp = await freePort();
    front.http = await freePort();
    const backends = (name: 'sftp' | 'ftp' | 'http'): string[] =>
      nodes.map((node) => `${node.gateway.addresses[name]!.address}:${node.gateway.addresses[name]!.port}`);
    haproxy = await startHaproxy(nodes[0]!.dir, [
      { listen: front.sftp, servers: backends('sftp') },
      { listen: front.ftp, servers: backends('ftp') },
      { listen: front.http, servers: backends('http') },
      // Passive data goes to the node that offered the port, with no header: the node accepts it
      // from the balancer's address, the one its control connection comes from.
      { listen: PASSIVE_A, servers: ['127.0.0.2'], plain: true },
      { listen: PASSIVE_B, servers: ['127.0.0.3'], plain: true },
    ]);
  });
  afterAll(async () => {
    await haproxy?.stop();
    await Promise.all(nodes.map((node) => node.close()));
  });

  const remotes = async (protocol: string): Promise<string[][]> =>
    Promise.all(nodes.map(async (node) => (await node.gateway.sessions.list()).filter((s) => s.protocol === protocol).map((s) => s.remote_address)));

  it('SFTP: round robin over both nodes, each session at the client address', async () => {
    const clients: SshClient[] = [];
    for (let i = 0; i < 2; i++) {
      const ssh = new SshClient();
      await new Promise<void>((resolve, reject) => {
        ssh.once('ready', resolve).once('error', reject);
        ssh.connect({ host: '127.0.0.1', port: front.sftp, localAddress: CLIENT, username: 'alice', password: PASSWORD, readyTimeout: 10_000 });
      });
      ssh.on('error', () => {});
      clients.push(ssh);
    }
    try {
      expect(await remotes('sftp')).toEqual([[CLIENT], [CLIENT]]);
    } finally {
      for (const ssh of clients) ssh.end();
    }
  });

  it('FTP: control and passive data through the balancer on both nodes', async () => {
    const ftps: RawFtp[] = [];
    for (let i = 0; i < 2; i++) {
      const ftp = await RawFtp.connect(front.ftp, { localAddress: CLIENT });
      expect((await ftp.login('alice', PASSWORD)).code).toBe(230);
      const reply = await ftp.command('PASV');
      expect(reply.text).toMatch(/\(127,0,0,1,/);
      const [, p1, p2] = /,(\d+),(\d+)\)/.exec(reply.text)!;
      const data = await connectData(Number(p1) * 256 + Number(p2), CLIENT);
      ftp.send('LIST');
      expect((await ftp.reply()).code).toBe(150);
      await readAll(data);
      expect((await ftp.reply()).code).toBe(226);
      ftps.push(ftp);
    }
    expect(await remotes('ftp')).toEqual([[CLIENT], [CLIENT]]);
    for (const ftp of ftps) ftp.close();
  });

  it('HTTP: login through the balancer; a refusal is logged with the client address', async () => {
    const post = (password: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify({ username: 'alice', password });
        const req = http.request(
          { host: '127.0.0.1', port: front.http, localAddress: CLIENT, method: 'POST', path: '/api/rest/v1/sessions', headers: { 'content-type': 'application/json' } },
          (res) => {
            res.resume();
            res.once('end', () => resolve(res.statusCode!));
          },
        );
        req.once('error', reject);
        req.end(body);
      });
    expect(await post(PASSWORD)).toBe(201);
    expect(await post('wrong')).toBe(401);
    const refusals = logs.flatMap((log) => log.events.filter((e) => e.event === 'login' && e.outcome === 'failure'));
    expect(refusals.map((e) => e.remote)).toEqual([CLIENT]);
  });

  it('a node refuses a PROXY header that does not come from the balancer', async () => {
    const direct = net.connect({ host: '127.0.0.2', port: nodes[0]!.gateway.addresses.ftp!.port, localAddress: '127.0.0.6' });
    direct.write('PROXY TCP4 203.0.113.9 127.0.0.2 1 21\r\n');
    const received: Buffer[] = [];
    direct.on('data', (chunk: Buffer) => received.push(chunk));
    await new Promise<void>((resolve) => direct.once('close', () => resolve()));
    expect(Buffer.concat(received).toString()).toBe('');
  });
});

describe.skipIf(!hasCommand('haproxy'))('examples/haproxy.cfg', () => {
  it('is a configuration HAProxy accepts', () => {
    const out = execFileSync('haproxy', ['-c', '-f', fileURLToPath(new URL('../../examples/haproxy.cfg', import.meta.url))], { encoding: 'utf8' });
    expect(out).toMatch(/valid/);
  });
});
