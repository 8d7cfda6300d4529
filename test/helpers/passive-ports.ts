/**
 * FTP passive port ranges for tests. Test files run in parallel processes, often beside another
 * suite's, so a fixed range per file collides. A range is a block of ports below the kernel's
 * ephemeral ports (32768 and up, where outgoing connections take their source ports and would squat
 * a range): the process claims a random free block by listening on its first port for as long as
 * it lives, and the block's other ports are the range.
 */
import net from 'node:net';

const FIRST = 10_000;
const EPHEMERAL = 32_768;
const BLOCK = 64;

function bind(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server));
  });
}

const close = (server: net.Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

/** A passive range of 63 ports that no other test process holds and nothing listens on now. */
export async function passivePorts(): Promise<[number, number]> {
  const blocks = Math.floor((EPHEMERAL - FIRST) / BLOCK);
  for (let attempt = 0; attempt < 100; attempt++) {
    const claim = FIRST + Math.floor(Math.random() * blocks) * BLOCK;
    const sentinel = await bind(claim);
    if (!sentinel) continue;
    const range: [number, number] = [claim + 1, claim + BLOCK - 1];
    const probes = await Promise.all(Array.from({ length: BLOCK - 1 }, (_, i) => bind(range[0] + i)));
    await Promise.all(probes.map((probe) => probe && close(probe)));
    if (probes.every(Boolean)) {
      sentinel.unref();
      return range;
    }
    await close(sentinel);
  }
  throw new Error('no free block of passive ports below the ephemeral range');
}
