/**
 * The compose example's fleet without a Docker engine: each service gets its own network namespace
 * with the address examples/compose/compose.yaml gives it, on one bridge (what compose builds), and
 * runs what its image would: redis-server, `filegate serve` with examples/compose/node-a.json and
 * node-b.json, HAProxy with examples/haproxy.cfg unchanged. Only the node configs' container paths
 * (storage, certs, users file, admin token: volume mounts under compose) point into a temporary
 * directory. Clients sit beside HAProxy, where compose publishes its ports; the Dockerfile's own
 * HEALTHCHECK command runs in each node's namespace.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, user } from '../helpers/gateway.js';

const PASSWORD = 'fleet pw';
const TOKEN = 'fleet-admin-token-0123456789abcdef';
const PREFIX = `fg${process.pid % 100_000}`;
/** Service → address, as compose.yaml assigns them. */
const SERVICES = { lb: '10.0.0.10', a: '10.0.0.21', b: '10.0.0.22', redis: '10.0.0.30' } as const;
type Service = keyof typeof SERVICES;

const ns = (service: Service | 'hub') => `${PREFIX}-${service}`;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

/** Network namespaces need root (CAP_SYS_ADMIN); where they cannot be made the test is skipped. */
function canMakeNamespaces(): boolean {
  if (!hasCommand('ip') || !hasCommand('haproxy') || !hasCommand('redis-server') || !hasCommand('curl')) return false;
  try {
    ip('netns', 'add', `${PREFIX}-probe`);
    ip('netns', 'del', `${PREFIX}-probe`);
    return true;
  } catch {
    return false;
  }
}

function buildNetwork(): void {
  ip('netns', 'add', ns('hub'));
  ip('-n', ns('hub'), 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', ns('hub'), 'link', 'set', 'br0', 'up');
  for (const [service, address] of Object.entries(SERVICES) as [Service, string][]) {
    const hostSide = `${PREFIX}${service}`;
    ip('netns', 'add', ns(service));
    ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns(service));
    ip('link', 'set', hostSide, 'netns', ns('hub'));
    ip('-n', ns('hub'), 'link', 'set', hostSide, 'master', 'br0', 'up');
    ip('-n', ns(service), 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    ip('-n', ns(service), 'link', 'set', 'eth0', 'up');
    ip('-n', ns(service), 'link', 'set', 'lo', 'up');
  }
}

function removeNetwork(): void {
  for (const service of [...Object.keys(SERVICES), 'hub'] as (Service | 'hub')[]) {
    try {
      ip('netns', 'del', ns(service));
    } catch {
      // never made
    }
  }
}

interface Running {
  child: ChildProcess;
  output: string[];
}

/** Runs a command inside a service's namespace; its output lines are collected. */
function runIn(service: Service, command: string[]): Running {
  const child = spawn('ip', ['netns', 'exec', ns(service), ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const collect = (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return { child, output };
}

/** Runs a command to its end inside a namespace. */
function execIn(service: Service, command: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns(service), ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function stop(running: Running | undefined): Promise<void> {
  if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
  const exited = new Promise((resolve) => running.child.once('exit', resolve));
  running.child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  running.child.kill('SIGKILL');
}

describe.skipIf(!canMakeNamespaces())('the compose fleet, as written, in network namespaces', () => {
  let dir: string;
  const running: Partial<Record<Service, Running>> = {};
  const curl = (...args: string[]) => execIn('lb', ['curl', '--silent', '--show-error', '--max-time', '20', ...args]);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'filegate-fleet-'));
    await Promise.all(['data', 'certs'].map((volume) => mkdir(path.join(dir, volume))));
    await writeFile(path.join(dir, 'users.json'), JSON.stringify([await user('alice', PASSWORD, { root_path: '' })]));
    await writeFile(path.join(dir, 'admin-token'), TOKEN, { mode: 0o600 });
    // The container paths the volumes mount, mapped into the temporary directory; nothing else changes.
    const mounts: Record<string, string> = {
      '/var/lib/filegate/data': path.join(dir, 'data'),
      '/var/lib/filegate/certs': path.join(dir, 'certs'),
      '/etc/filegate/users.json': path.join(dir, 'users.json'),
      '/etc/filegate/admin-token': path.join(dir, 'admin-token'),
    };
    const configs: Record<'a' | 'b', string> = { a: '', b: '' };
    for (const node of ['a', 'b'] as const) {
      const text = await readFile(path.resolve(`examples/compose/node-${node}.json`), 'utf8');
      const mapped = Object.entries(mounts).reduce((config, [from, to]) => config.replaceAll(`"${from}"`, JSON.stringify(to)), text);
      expect(mapped.match(/"\/(etc|var)\//g)).toBeNull();
      configs[node] = path.join(dir, `node-${node}.json`);
      await writeFile(configs[node], mapped);
    }

    buildNetwork();
    // compose.yaml's redis command, bound to its service address.
    running.redis = runIn('redis', ['redis-server', '--save', '', '--appendonly', 'no', '--bind', SERVICES.redis, '--protected-mode', 'no', '--dir', dir]);
    await until('redis', () => running.redis!.output.some((line) => line.includes('Ready to accept connections')), 10_000);
    // Node b starts once node a is healthy (it shares a's generated host keys and certificate).
    const dockerfile = await readFile(path.resolve('examples/docker/Dockerfile'), 'utf8');
    const healthcheck = JSON.parse(/^\s+CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    for (const node of ['a', 'b'] as const) {
      running[node] = runIn(node, [process.execPath, '--import', 'tsx', path.resolve('src/cli.ts'), 'serve', '--config', configs[node]]);
      await until(`node ${node} healthy`, async () => (await execIn(node, [process.execPath, ...healthcheck.slice(1)])).code === 0);
    }
    running.lb = runIn('lb', ['haproxy', '-db', '-f', path.resolve('examples/haproxy.cfg')]);
    // Up once both nodes pass HAProxy's own health checks (which speak PROXY, as the nodes demand).
    let last = '';
    await until('haproxy serving', async () => {
      const probe = await curl('-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:8080/api/rest/v1/admin/sessions');
      last = probe.stdout + probe.stderr;
      return probe.stdout === '401';
    }).catch((err: Error) => {
      throw new Error(`${err.message}; last probe: ${last}; haproxy: ${running.lb!.output.slice(-10).join('\n')}`);
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(Object.values(running).map((service) => stop(service)));
    removeNetwork();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves SFTP, FTP (passive through the balancer) and HTTP; both nodes see the client, not the balancer', async () => {
    const file = path.join(dir, 'hello.txt');
    await writeFile(file, 'hello through the fleet\n');
    const put = await curl('--insecure', '-u', `alice:${PASSWORD}`, '-T', file, 'sftp://127.0.0.1:22/hello.txt');
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    // pasvUrl 127.0.0.1 and each node's own passive range bring the data connection back to it.
    for (let i = 0; i < 4; i++) {
      const get = await curl('-u', `alice:${PASSWORD}`, 'ftp://127.0.0.1:21/hello.txt');
      expect(get).toMatchObject({ code: 0, stdout: 'hello through the fleet\n' });
    }
    const login = await curl('-i', '-H', 'Content-Type: application/json', '-d', JSON.stringify({ username: 'alice', password: PASSWORD }), 'http://127.0.0.1:8080/api/rest/v1/sessions');
    expect(login.stdout).toMatch(/^HTTP\/1\.1 201 /);

    const listed = await curl('-H', `Authorization: Bearer ${TOKEN}`, 'http://127.0.0.1:8080/api/rest/v1/admin/sessions');
    const sessions = JSON.parse(listed.stdout) as { protocol: string; remote_address: string; node: string }[];
    expect(sessions.find((s) => s.protocol === 'http')).toMatchObject({ remote_address: '127.0.0.1' });
    const logins = [...running.a!.output, ...running.b!.output].filter((line) => line.includes('"event":"login"') && line.includes('"outcome":"success"'));
    expect(logins.length).toBeGreaterThanOrEqual(6);
    for (const line of logins) expect(JSON.parse(line)).toMatchObject({ remote: '127.0.0.1' });
    // leastconn/roundrobin spread the logins: both nodes served some.
    expect(running.a!.output.some((line) => line.includes('"event":"login"'))).toBe(true);
    expect(running.b!.output.some((line) => line.includes('"event":"login"'))).toBe(true);
  }, 60_000);
});
