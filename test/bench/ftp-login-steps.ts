/**
 * Where a short FTP session's time goes, step by step, as a client sees it: the same commands curl
 * sends for `curl ftp://user:pass@host/dir/` (greeting, USER, PASS, PWD, CWD, EPSV, TYPE A, LIST,
 * QUIT), each timed from sending the command to its final reply. Used by the FTP benchmark for
 * every server alike.
 */
import net from 'node:net';

export const STEPS = ['greeting', 'USER', 'PASS', 'PWD', 'CWD', 'EPSV', 'TYPE', 'LIST', 'QUIT'] as const;
export type Step = (typeof STEPS)[number];

export interface SessionTarget {
  port: number;
  username: string;
  password: string;
  /** Directory to list, relative to where the login lands. */
  dir: string;
}

/** One session; milliseconds per step. LIST runs from the command to the 226 with the data read. */
export async function timeSession(target: SessionTarget): Promise<Record<Step, number>> {
  const times = {} as Record<Step, number>;
  let started = performance.now();
  const control = net.connect(target.port, '127.0.0.1');
  control.setNoDelay(true);
  const replies = replyReader(control);
  const step = async (name: Step, line: string | undefined, ...expected: number[]): Promise<string> => {
    started = performance.now();
    if (line !== undefined) control.write(`${line}\r\n`);
    const reply = await replies.next();
    if (!expected.includes(Number(reply.slice(0, 3)))) throw new Error(`${name}: expected ${expected.join(' or ')}, got ${reply}`);
    times[name] = performance.now() - started;
    return reply;
  };
  try {
    await step('greeting', undefined, 220);
    // vsftpd lets an anonymous user in on USER alone (no_anon_password).
    if ((await step('USER', `USER ${target.username}`, 331, 230)).startsWith('331')) await step('PASS', `PASS ${target.password}`, 230);
    else times.PASS = 0;
    await step('PWD', 'PWD', 257);
    await step('CWD', `CWD ${target.dir}`, 250);
    const epsv = await step('EPSV', 'EPSV', 229);
    const port = Number(/\(\|\|\|(\d+)\|\)/.exec(epsv)![1]);
    await step('TYPE', 'TYPE A', 200);
    const data = net.connect(port, '127.0.0.1');
    const listing = new Promise<number>((resolve, reject) => {
      let bytes = 0;
      data.on('data', (chunk: Buffer) => (bytes += chunk.length));
      data.once('end', () => resolve(bytes));
      data.once('error', reject);
    });
    await new Promise((resolve) => data.once('connect', resolve));
    const listStarted = performance.now();
    control.write('LIST\r\n');
    const opening = await replies.next();
    if (!opening.startsWith('150') && !opening.startsWith('125')) throw new Error(`LIST: ${opening}`);
    const [done] = await Promise.all([replies.next(), listing]);
    if (!done.startsWith('226')) throw new Error(`LIST: ${done}`);
    times.LIST = performance.now() - listStarted;
    data.destroy();
    await step('QUIT', 'QUIT', 221);
  } finally {
    control.destroy();
  }
  return times;
}

/** Final reply lines (multi-line replies skipped to their last line), in order. */
function replyReader(socket: net.Socket): { next(): Promise<string> } {
  let buffer = '';
  const ready: string[] = [];
  let waiting: ((line: string) => void) | undefined;
  let failed: Error | undefined;
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf('\r\n')) !== -1) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!/^\d{3} /.test(line)) continue;
      if (waiting) {
        const resolve = waiting;
        waiting = undefined;
        resolve(line);
      } else ready.push(line);
    }
  });
  socket.on('error', (err) => (failed = err));
  return {
    next() {
      if (ready.length > 0) return Promise.resolve(ready.shift()!);
      if (failed) return Promise.reject(failed);
      return new Promise((resolve) => (waiting = resolve));
    },
  };
}
