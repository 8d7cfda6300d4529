/**
 * filegate with one FTP user, as a process of its own for the FTP benchmark (like its peer, vsftpd):
 * the benchmark's own hashing and file handling then never share an event loop or a heap with it.
 *   node --import tsx filegate-ftp-server.ts DIR      (password in BENCH_FTP_PASSWORD)
 * Prints {"port": N} once listening; stops on SIGTERM.
 */
import path from 'node:path';
import { hashPassword } from '../../src/core/index.js';
import { createGateway } from '../../src/gateway.js';

const dir = process.argv[2]!;
const gateway = await createGateway({
  storage: path.join(dir, 'data'),
  certsDir: path.join(dir, 'certs'),
  ftp: { host: '127.0.0.1', port: 0, passivePorts: [31800, 31849] },
  users: [{ username: 'bench', password_hash: await hashPassword(process.env.BENCH_FTP_PASSWORD!), root_path: 'bench' }],
});
process.stdout.write(`${JSON.stringify({ port: gateway.addresses.ftp!.port })}\n`);
process.once('SIGTERM', () => void gateway.close().then(() => process.exit(0)));
