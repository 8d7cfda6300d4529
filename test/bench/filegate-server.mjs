/**
 * filegate for the benchmarks, in a process of its own: the built package (dist/, what `filegate`
 * and embedders run), so that no TypeScript loader sits in the measured process, and so that the
 * benchmark's own hashing and file generation do not share its heap. Reads a config object as JSON
 * from argv[2], prints `{"port": N}` once listening, and closes when its stdin ends (no signal
 * handlers needed). A line "memory" on stdin is answered with process.memoryUsage() as one JSON
 * line (after a full collection when run with --expose-gc).
 */
import { createInterface } from 'node:readline';
import { createGateway } from '../../dist/index.js';

const gateway = await createGateway(JSON.parse(process.argv[2]));
process.stdout.write(`${JSON.stringify({ port: gateway.addresses.sftp?.port ?? gateway.addresses.ftp?.port })}\n`);
const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  if (line.trim() !== 'memory') return;
  globalThis.gc?.();
  process.stdout.write(`${JSON.stringify(process.memoryUsage())}\n`);
});
commands.once('close', () => void gateway.close());
