/**
 * filegate for the benchmarks, in a process of its own (as deployed, and so that the benchmark's own
 * hashing and file generation do not share its heap). Reads a config object as JSON from argv[2],
 * prints `{"port": N}` once listening, and closes when its stdin ends (no signal handlers needed).
 */
import { createGateway } from '../../src/gateway.js';

const gateway = await createGateway(JSON.parse(process.argv[2]!));
process.stdout.write(`${JSON.stringify({ port: gateway.addresses.sftp?.port ?? gateway.addresses.ftp?.port })}\n`);
process.stdin.resume();
process.stdin.once('end', () => void gateway.close());
