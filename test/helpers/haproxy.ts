/** A throwaway HAProxy process for tests: our own config file, our own ports, stopped by PID. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

export interface HaproxyRoute {
  /** Frontend port on 127.0.0.1, or an inclusive range (FTP passive ports; the backend keeps the port). */
  listen: number | [number, number];
  /** Backend servers `host:port` (or `host` alone for a range), each sent a PROXY v2 header unless `plain`. */
  servers: string[];
  plain?: boolean;
}

export interface Haproxy {
  process: ChildProcess;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound and released: good enough for a test's own processes). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts haproxy in TCP mode with one frontend+backend per route; resolves when every frontend listens. */
export async function startHaproxy(dir: string, routes: HaproxyRoute[]): Promise<Haproxy> {
  const sections = routes.map((route, i) => {
    const bind = Array.isArray(route.listen) ? `${route.listen[0]}-${route.listen[1]}` : String(route.listen);
    const servers = route.servers.map((server, j) => `  server s${j} ${server}${route.plain ? '' : ' send-proxy-v2'}`);
    return [`frontend f${i}`, `  bind 127.0.0.1:${bind}`, `  default_backend b${i}`, `backend b${i}`, '  balance roundrobin', ...servers].join('\n');
  });
  const config = [
    'global',
    '  maxconn 256',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    ...sections,
    '',
  ].join('\n');
  const file = path.join(dir, 'haproxy.cfg');
  await writeFile(file, config);
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  const first = routes.map((route) => (Array.isArray(route.listen) ? route.listen[0] : route.listen));
  const deadline = Date.now() + 10_000;
  for (const port of first) {
    while (!(await listening(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`haproxy did not start: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { process: child, stop };
}

/**
 * Whether something listens on 127.0.0.1:port, read from the kernel's socket table. Not by
 * connecting: a probe connection would be balanced to a backend like a client's (taking a turn of
 * the round robin), and one to a passive range is retried by HAProxy until the node happens to
 * listen on that port, where it would be taken for the client's data connection.
 */
async function listening(port: number): Promise<boolean> {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const table = await readFile('/proc/net/tcp', 'utf8');
  return table.split('\n').some((line) => {
    const fields = line.trim().split(/\s+/);
    return fields[1] === local && fields[3] === '0A'; // TCP_LISTEN
  });
}
