/**
 * Commands that use a data connection: PASV/EPSV, RETR, STOR/APPE/STOU, LIST/NLST/MLSD, and ABOR.
 * Each opens its file or listing through the core first, so a refusal (read_only, not found) is
 * answered before any data connection is used.
 */
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Socket } from 'node:net';
import type { Stats } from 'node:fs';
import { GatewayError, type FileInfo } from '../../../core/index.js';
import { describeError } from '../../error-map.js';
import type { FtpControl } from '../control.js';
import { lsLine, mlsxFacts } from '../listing.js';
import { FtpReply } from '../reply.js';
import { transferAborted } from '../data-channel.js';
import { UploadBatches } from '../upload-batches.js';
import type { CommandTable, FtpCommand } from './index.js';

const UPLOAD_BATCH_BYTES = 2 * 1024 * 1024;
const UPLOAD_BATCH_WAIT_MS = 2;
/** Bytes the socket may run ahead of the disk, so reading goes on while a batch is being written. */
const UPLOAD_BUFFER_BYTES = 4 * UPLOAD_BATCH_BYTES;
/** How long after the data EOF the control connection must stay open for an upload to be stored. */
const UPLOAD_COMMIT_GRACE_MS = 100;

/** Streams `source` to the client. */
function download(control: FtpControl, source: Readable, opening: string): Promise<void> {
  return control.transferData(source, opening, async (data) => {
    data.resume(); // read (and drop) anything the client sends, so its close is seen
    await pipeline(source, data);
  });
}

/**
 * Stores what the client sends, in large writes. The commit rule: a clean end of the data
 * connection completes the upload only if the control connection is still open
 * UPLOAD_COMMIT_GRACE_MS later (or the client sends a command meanwhile). A killed client closes
 * both connections at once with a normal FIN, and its data EOF can be seen first; then the upload
 * is abandoned, and the pipeline's error destroys it with its temporary file.
 */
function receive(control: FtpControl, data: Socket, sink: Writable): Promise<void> {
  const batches = new UploadBatches({
    batchBytes: UPLOAD_BATCH_BYTES,
    maxWaitMs: UPLOAD_BATCH_WAIT_MS,
    beforeEnd: async () =>
      (await control.survives(UPLOAD_COMMIT_GRACE_MS)) ? undefined : transferAborted('control connection closed during the upload'),
  });
  return pipeline(data, batches, sink);
}

type StoreMode = 'replace' | 'append' | 'unique';

/** STOU: the given name if free, else the first free `name.N`. */
async function uniquePath(control: FtpControl, arg: string): Promise<string> {
  const base = control.files.resolvePath(arg === '' ? 'upload' : arg, control.cwd);
  for (let n = 0; n < 100; n++) {
    const candidate = n === 0 ? base : `${base}.${n}`;
    const exists = await control.files.lstat(candidate).then(
      () => true,
      (err: GatewayError) => (err.code === 'NOT_FOUND' ? false : Promise.reject(err)),
    );
    if (!exists) return candidate;
  }
  throw new FtpReply(553, 'Could not find a unique file name.');
}

async function store(control: FtpControl, arg: string, mode: StoreMode): Promise<void> {
  let virtualPath: string;
  let sink: Writable;
  try {
    virtualPath = mode === 'unique' ? await uniquePath(control, arg) : control.path(arg);
    sink = await control.files.openWriteStream(virtualPath, {
      start: control.takeRestOffset(),
      append: mode === 'append',
      ascii: control.ascii,
      highWaterMark: UPLOAD_BUFFER_BYTES,
    });
  } catch (err) {
    const described = describeError(err, control.lang);
    if (described.ftpStore !== undefined) throw new FtpReply(described.ftpStore, described.message);
    throw err;
  }
  const opening = mode === 'unique' ? `FILE: ${path.posix.basename(virtualPath)}` : 'Ready to receive data.';
  await control.transferData(sink, opening, (data) => receive(control, data, sink));
}

type ListFormat = 'ls' | 'names' | 'mlsd';

/** What a listing shows for an entry: a symlink inside the jail as what it points to, so clients can follow it. */
async function shownStats(control: FtpControl, virtualPath: string, stats: Stats): Promise<Stats> {
  if (!stats.isSymbolicLink()) return stats;
  return control.files.stat(virtualPath).catch(() => stats);
}

/** The lines of a listing (the core applies the jail and the max_dir_listing_size cap). */
export async function listingLines(control: FtpControl, virtualPath: string, format: ListFormat): Promise<string[]> {
  const files = control.files;
  const stats = await files.stat(virtualPath);
  let entries: FileInfo[];
  if (stats.isDirectory()) entries = await files.list(virtualPath);
  else if (format === 'mlsd') throw new GatewayError('NOT_A_DIRECTORY', 'MLSD of a file', { text: 'not_a_directory' });
  else entries = [{ name: path.posix.basename(virtualPath), stats }];
  const canWrite = control.mayWrite;
  const now = Date.now();
  return Promise.all(
    entries.map(async ({ name, stats: own }) => {
      if (format === 'names') return name;
      const shown = await shownStats(control, path.posix.join(virtualPath, name), own);
      return format === 'ls' ? lsLine(name, shown, now) : `${mlsxFacts(shown, canWrite)} ${name}`;
    }),
  );
}

/** LIST/NLST take `ls` options (`LIST -la`) some clients send; they are ignored, as vsftpd does. */
function withoutListOptions(arg: string): string {
  return arg.replace(/^(-[a-zA-Z]+\s*)+/, '');
}

function listing(format: ListFormat): FtpCommand {
  return {
    async run(control, arg) {
      const target = format === 'mlsd' ? arg : withoutListOptions(arg);
      const lines = await listingLines(control, control.path(target === '' ? '.' : target), format);
      const text = lines.map((line) => `${line}\r\n`).join('');
      await download(control, Readable.from([Buffer.from(text, 'utf8')]), 'Here comes the directory listing.');
    },
  };
}

export const transferCommands: CommandTable = {
  PASV: {
    async run(control) {
      const address = await control.data.passiveAddress(control.socket.localAddress);
      const port = await control.data.offerPassive(control.dataProtected);
      control.reply(227, `Entering Passive Mode (${address.replace(/\./g, ',')},${port >> 8},${port & 255}).`);
    },
  },

  EPSV: {
    async run(control, arg) {
      const protocol = arg.trim().toUpperCase();
      if (protocol === 'ALL') return control.reply(200, 'EPSV ALL accepted.');
      if (protocol !== '' && protocol !== '1' && protocol !== '2') throw new FtpReply(522, 'Network protocol not supported, use (1,2).');
      const port = await control.data.offerPassive(control.dataProtected);
      control.reply(229, `Entering Extended Passive Mode (|||${port}|).`);
    },
  },

  RETR: {
    async run(control, arg) {
      const source = await control.files.openReadStream(control.path(arg), { start: control.takeRestOffset(), ascii: control.ascii });
      await download(control, source, 'Opening data connection.');
    },
  },

  STOR: { run: (control, arg) => store(control, arg, 'replace') },
  APPE: { run: (control, arg) => store(control, arg, 'append') },
  STOU: { run: (control, arg) => store(control, arg, 'unique') },

  LIST: listing('ls'),
  NLST: listing('names'),
  MLSD: listing('mlsd'),

  ABOR: {
    // With a transfer running, ABOR is taken out of the queue (control.ts); here none is.
    run(control) {
      control.data.withdraw();
      control.reply(225, 'No transfer to abort.');
    },
  },
};
