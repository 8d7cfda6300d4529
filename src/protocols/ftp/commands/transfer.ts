/**
 * Commands that use a data connection: PASV/EPSV, PORT/EPRT, RETR, STOR/APPE/STOU, ABOR, and the
 * transfer parameters TYPE, MODE, STRU and REST (the listings are in listings.ts).
 * Each opens its file or listing through the core first, so a refusal (read_only, not found) is
 * answered before any data connection is used.
 */
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { isIPv4, isIPv6, type Socket } from 'node:net';
import { GatewayError, sendStream, type AtomicUpload } from '../../../core/index.js';
import { describeError } from '../../error-map.js';
import type { CommandTable, FtpCommand, FtpCommandContext } from './context.js';
import { FtpReply } from '../reply.js';
import { transferAborted, type DirectReceiver } from '../data-channel.js';
import { batchWrites } from '../upload-batches.js';


const UPLOAD_BATCH_BYTES = 2 * 1024 * 1024;
const UPLOAD_BATCH_WAIT_MS = 2;
/** Bytes the socket may run ahead of the disk, so reading goes on while a batch is being written. */
const UPLOAD_BUFFER_BYTES = 4 * UPLOAD_BATCH_BYTES;
/**
 * How long after the data EOF the control connection must stay open for an upload to be stored. A
 * killed client's kernel sends both FINs at once, and the control FIN, queued behind no data, is
 * not the later one; the check also waits for one more read of input after this time, so a loaded
 * event loop does not shorten it. It only has to cover the two packets' jitter, and every upload
 * waits for it.
 */
const UPLOAD_COMMIT_GRACE_MS = 10;

/** Streams `source` to the client. */
export function download(control: FtpCommandContext, source: Readable, opening: string): Promise<void> {
  return control.transferData(source, opening, async (data) => {
    data.resume(); // read (and drop) anything the client sends, so its close is seen
    await sendStream(source, data);
  });
}

/**
 * Stores what the client sends, in large writes (a TLS data connection, or where the data
 * connection cannot read into one buffer: see DirectReceiver).
 */
async function receive(control: FtpCommandContext, data: Socket, sink: Writable): Promise<void> {
  const received = pipeline(data, sink, { end: false });
  const batches = batchWrites(data, sink, { batchBytes: UPLOAD_BATCH_BYTES, maxWaitMs: UPLOAD_BATCH_WAIT_MS });
  try {
    await received;
  } finally {
    batches.stop();
  }
  await commit(control, sink);
}

/**
 * The bytes of each read of the data connection's one buffer are written at once where the file
 * takes synchronous writes (AtomicUpload.writeNow), else copied and queued like a stream's, reads
 * pausing while the queue is full.
 */
function directReceiver(sink: AtomicUpload): DirectReceiver {
  return { onRead: (chunk) => sink.writeNow(chunk) || sink.write(Buffer.from(chunk)) };
}

/** receive() for a data connection that reads through a DirectReceiver. */
async function receiveDirect(control: FtpCommandContext, data: Socket, sink: Writable, resume: () => void): Promise<void> {
  const onDrain = (): void => resume();
  const onError = (err: Error): void => void data.destroy(err);
  sink.on('drain', onDrain);
  sink.once('error', onError);
  try {
    data.resume();
    await finished(data, { writable: false });
  } finally {
    sink.off('drain', onDrain);
    sink.off('error', onError);
  }
  await commit(control, sink);
}

/**
 * The commit rule: a clean end of the data connection completes the upload only if the control
 * connection is still open UPLOAD_COMMIT_GRACE_MS later (or the client sends a command meanwhile).
 * A killed client closes both connections at once with a normal FIN, and its data EOF can be seen
 * first; then the upload is abandoned, and the transfer's failure destroys it with its temporary
 * file. The last bytes go to disk while the control connection is watched; only the commit
 * (rename or copy into place) waits for the verdict.
 */
async function commit(control: FtpCommandContext, sink: Writable): Promise<void> {
  // Listening from now on: a queued write can still fail (ENOSPC) while the control connection is watched.
  const stored = finished(sink);
  stored.catch(() => {}); // awaited below, or the transfer's failure destroys the upload
  if (!(await control.survives(UPLOAD_COMMIT_GRACE_MS))) throw transferAborted('control connection closed during the upload');
  sink.end();
  await stored;
}

type StoreMode = 'replace' | 'append' | 'unique';

/** STOU: the given name if free, else the first free `name.N`. */
async function uniquePath(control: FtpCommandContext, arg: string): Promise<string> {
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

async function store(control: FtpCommandContext, arg: string, mode: StoreMode): Promise<void> {
  let virtualPath: string;
  let sink: AtomicUpload;
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
  const receiver = directReceiver(sink);
  await control.transferData(sink, opening, (data) => (receiver.resume ? receiveDirect(control, data, sink, receiver.resume) : receive(control, data, sink)), receiver);
}

/** A decimal number up to `max` (address bytes, ports): huge or signed input is refused. */
function parseCount(text: string, max: number): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const value = Number(text);
  return value <= max ? value : undefined;
}

/** PORT h1,h2,h3,h4,p1,p2 (RFC 959). */
function parsePort(arg: string): { host: string; port: number } | undefined {
  const parts = arg.trim().split(',');
  if (parts.length !== 6) return undefined;
  const numbers = parts.map((part) => parseCount(part.trim(), 255));
  if (numbers.some((n) => n === undefined)) return undefined;
  const [a, b, c, d, p1, p2] = numbers as number[];
  return { host: `${a}.${b}.${c}.${d}`, port: p1! * 256 + p2! };
}

/** EPRT |1|h|port| or |2|h|port| (RFC 2428); any delimiter in 33..126. */
function parseEprt(arg: string): { host: string; port: number } | undefined {
  const text = arg.trim();
  const delimiter = text[0];
  if (!delimiter || delimiter.charCodeAt(0) < 33 || delimiter.charCodeAt(0) > 126) return undefined;
  const fields = text.split(delimiter);
  if (fields.length !== 5 || fields[0] !== '' || fields[4] !== '') return undefined;
  const [, family, host, portText] = fields as [string, string, string, string];
  const port = parseCount(portText, 65535);
  if (port === undefined) return undefined;
  if (family === '1' && isIPv4(host)) return { host, port };
  if (family === '2' && isIPv6(host)) return { host, port };
  return undefined;
}

function active(parse: (arg: string) => { host: string; port: number } | undefined, usage: string): FtpCommand {
  return {
    keepsRestOffset: true,
    run(control, arg) {
      if (!control.config.activeMode) throw new FtpReply(502, 'Active mode is off: use PASV or EPSV.');
      const target = parse(arg);
      if (!target) throw new FtpReply(501, usage);
      control.data.setActive(target.host, target.port);
      control.reply(200, 'Active data connection set.');
    },
  };
}

export const transferCommands: CommandTable = {
  PASV: {
    keepsRestOffset: true,
    async run(control) {
      control.data.assertNotEpsvAll();
      const address = await control.data.passiveAddress(control.localAddress);
      const port = await control.data.offerPassive(control.dataProtected);
      control.reply(227, `Entering Passive Mode (${address.replace(/\./g, ',')},${port >> 8},${port & 255}).`);
    },
  },

  EPSV: {
    keepsRestOffset: true,
    async run(control, arg) {
      const protocol = arg.trim().toUpperCase();
      if (protocol === 'ALL') {
        control.data.epsvAll = true;
        return control.reply(200, 'EPSV ALL accepted: only EPSV from now on.');
      }
      if (protocol !== '' && protocol !== '1' && protocol !== '2') throw new FtpReply(522, 'Network protocol not supported, use (1,2).');
      const port = await control.data.offerPassive(control.dataProtected);
      control.reply(229, `Entering Extended Passive Mode (|||${port}|).`);
    },
  },

  PORT: active(parsePort, 'Usage: PORT h1,h2,h3,h4,p1,p2.'),
  EPRT: active(parseEprt, 'Usage: EPRT |1|address|port| or |2|address|port|.'),

  TYPE: {
    keepsRestOffset: true,
    run(control, arg) {
      const type = arg.trim().toUpperCase();
      if (/^A( N)?$/.test(type)) control.ascii = true;
      else if (type === 'I' || /^L ?8$/.test(type)) control.ascii = false;
      else throw new FtpReply(504, 'Only TYPE A, I and L 8 are supported.');
      control.reply(200, `Switch to "${control.ascii ? 'ascii' : 'binary'}" transfer mode.`);
    },
  },

  MODE: {
    keepsRestOffset: true,
    run(control, arg) {
      if (arg.trim().toUpperCase() !== 'S') throw new FtpReply(504, 'Only MODE S is supported.');
      control.reply(200, 'Mode set to S.');
    },
  },

  STRU: {
    keepsRestOffset: true,
    run(control, arg) {
      if (arg.trim().toUpperCase() !== 'F') throw new FtpReply(504, 'Only STRU F is supported.');
      control.reply(200, 'Structure set to F.');
    },
  },

  REST: {
    keepsRestOffset: true,
    run(control, arg) {
      // Any count is taken; the core refuses one that is not a safe integer at RETR/STOR (550).
      const digits = /^\d{1,32}$/.exec(arg.trim());
      if (!digits) throw new FtpReply(501, 'REST needs a byte count of 0 or more.');
      const offset = Number(digits[0]);
      control.setRestOffset(offset);
      control.reply(350, `Restarting next transfer at ${offset}.`);
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

  ABOR: {
    // With a transfer running, ABOR is taken out of the queue (control.ts); here none is.
    run(control) {
      control.data.withdraw();
      control.reply(225, 'No transfer to abort.');
    },
  },
};
