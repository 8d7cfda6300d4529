/**
 * Uploads on a filesystem that takes no synchronous writes (ramfs here, standing in for NFS, SMB or
 * FUSE: not on SyncIo's list of local filesystems). A plain upload still reads into one reused
 * buffer, but every read's bytes are copied and queued through the thread pool, and reads pause
 * while the queue is full (8 MiB). The gateway runs in a private mount namespace with its storage
 * on a ramfs mounted there, so nothing outside the test sees the mount. Needs root (unshare, mount).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { Client } from 'basic-ftp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { user } from '../helpers/gateway.js';
import { passivePorts } from '../helpers/passive-ports.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/processes.js';

const PASSWORD = 'queued-uploads';
const isRoot = process.getuid?.() === 0;
/** Mounts a ramfs on the storage directory ($0) in the new mount namespace, makes the user's root, then runs the gateway. */
const onRamfs = (storage: string): string[] => ['unshare', '--mount', 'sh', '-c', 'mount -t ramfs none "$0" && mkdir "$0/alice" && exec "$@"', storage];

describe.skipIf(!isRoot)('FTP uploads where writes are queued (not a local filesystem)', () => {
  let dir: string;
  let node: GatewayProcess;
  const client = new Client(30_000);
  const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
  const download = async (name: string): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    await client.downloadTo(new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) }), name);
    return Buffer.concat(chunks);
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'filegate-queued-'));
    const storage = path.join(dir, 'storage');
    execFileSync('mkdir', [storage]);
    node = await startGatewayProcess(
      { storage, users: [await user('alice', PASSWORD)], ftp: { host: '127.0.0.1', port: 0, passivePorts: await passivePorts() } },
      ['ftp'],
      [],
      1,
      [],
      'source',
      onRamfs(storage),
    );
    await client.access({ host: '127.0.0.1', port: node.ports.ftp!, user: 'alice', password: PASSWORD });
  }, 90_000);

  afterAll(async () => {
    client.close();
    await node?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('the storage really is a filesystem SyncIo leaves to the thread pool', () => {
    // The same check the gateway makes, run on a file in a ramfs of its own namespace.
    const script = `import('${path.resolve('src/core/fs/sync-io.ts')}').then(({ SyncIo }) => console.log(new SyncIo({ fd: require('node:fs').openSync(process.argv[1], 'r') }).allowed))`;
    const verdict = execFileSync(
      'unshare',
      ['--mount', 'sh', '-c', 'mount -t ramfs none "$0" && echo x > "$0/f" && exec "$@"', dir, process.execPath, '--import', 'tsx', '-e', script, path.join(dir, 'f')],
      { encoding: 'utf8' },
    );
    expect(verdict.trim()).toBe('false');
  });

  it('stores a 24 MiB upload byte for byte (reads paused and resumed around a full queue), then an append to it', async () => {
    const first = randomBytes(24 * 1024 * 1024 + 5);
    await client.uploadFrom(Readable.from([first]), 'big.bin');
    expect(sha(await download('big.bin'))).toBe(sha(first));

    const more = randomBytes(3 * 1024 * 1024);
    await client.appendFrom(Readable.from([more]), 'big.bin');
    expect(sha(await download('big.bin'))).toBe(sha(Buffer.concat([first, more])));
    expect((await client.list()).map((entry) => entry.name)).toEqual(['big.bin']); // no temporary file left
  });
});
