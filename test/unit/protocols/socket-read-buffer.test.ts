import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { readIntoBuffer, socketReadBufferSupported } from '../../../src/protocols/socket-read-buffer.js';

/** A loopback server (accepted sockets paused, as the FTP passive listeners make them) and its first accepted socket. */
async function acceptedPair(): Promise<{ server: Server; accepted: Socket; client: Socket }> {
  const server = createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const acceptedP = once(server, 'connection') as Promise<[Socket]>;
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await once(client, 'connect');
  const [accepted] = await acceptedP;
  servers.push(server);
  clients.push(client);
  return { server, accepted, client };
}

const servers: Server[] = [];
const clients: Socket[] = [];
afterEach(() => {
  clients.splice(0).forEach((client) => client.destroy());
  servers.splice(0).forEach((server) => server.close());
});

describe('reads into one reused buffer (the private-field module)', () => {
  it('passes the start-up self-check on Node 20 only, the version it was written for', () => {
    expect(socketReadBufferSupported).toBe(process.versions.node.startsWith('20.'));
  });

  it.skipIf(socketReadBufferSupported)('declines every socket on another Node version', async () => {
    const { accepted } = await acceptedPair();
    expect(readIntoBuffer(accepted, Buffer.alloc(4096), () => true)).toBeUndefined();
  });

  it.runIf(socketReadBufferSupported)("delivers every byte in order through the caller's one buffer, ends, and keeps the server's count right", async () => {
    const { server, accepted, client } = await acceptedPair();
    const buffer = Buffer.alloc(16 * 1024);
    const received: Buffer[] = [];
    let sameBuffer = true;
    const direct = readIntoBuffer(accepted, buffer, (chunk) => {
      sameBuffer &&= chunk.buffer === buffer.buffer && chunk.byteOffset === buffer.byteOffset;
      received.push(Buffer.from(chunk));
      return true;
    });
    expect(direct).toBeDefined();
    const sent = randomBytes(1024 * 1024 + 17);
    client.end(sent);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toHaveLength(0); // paused until the caller resumes it
    direct!.socket.resume();
    await once(direct!.socket, 'end');
    expect(sameBuffer).toBe(true);
    expect(received.length).toBeGreaterThan(1);
    expect(Buffer.concat(received).equals(sent)).toBe(true);
    direct!.socket.destroy();
    // The moved-from Socket was closed: the server's connection count is back to zero, so close() completes.
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  });

  it.runIf(socketReadBufferSupported)('stops reading when the callback returns false, until resume()', async () => {
    const { accepted, client } = await acceptedPair();
    let total = 0;
    let calls = 0;
    const direct = readIntoBuffer(accepted, Buffer.alloc(4096), (chunk) => {
      total += chunk.length;
      calls++;
      return calls !== 2;
    })!;
    const sent = randomBytes(2 * 1024 * 1024);
    client.end(sent);
    direct.socket.resume();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(calls).toBe(2); // nothing more while stopped
    expect(total).toBeLessThan(sent.length);
    direct.resume();
    await once(direct.socket, 'end');
    expect(total).toBe(sent.length);
  });

  it.runIf(socketReadBufferSupported)('destroys the socket with the error a callback throws', async () => {
    const { accepted, client } = await acceptedPair();
    const direct = readIntoBuffer(accepted, Buffer.alloc(4096), () => {
      throw new Error('disk full');
    })!;
    const failed = once(direct.socket, 'error');
    client.write('data');
    direct.socket.resume();
    const [err] = (await failed) as [Error];
    expect(err.message).toBe('disk full');
    await once(direct.socket, 'close');
  });

  it.runIf(socketReadBufferSupported)('declines a socket that is already being read, and leaves it working', async () => {
    const { accepted, client } = await acceptedPair();
    accepted.resume();
    expect(readIntoBuffer(accepted, Buffer.alloc(4096), () => true)).toBeUndefined();
    const chunks: Buffer[] = [];
    accepted.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.end('still here');
    await once(accepted, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('still here');
  });
});
