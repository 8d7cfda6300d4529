/**
 * The guarded filesystem: every file operation of every protocol goes through one of these, one per
 * session. It alone applies the session's flags: `read_only`, the `root_path` jail, the
 * `max_dir_listing_size` cap, the `use_provided_modified_at` rule and the `windows_mode_ftp` line
 * endings. Adapters pass virtual paths in and get virtual paths and Stats out.
 */
import { constants, type Stats } from 'node:fs';
import { link, lstat, lutimes, mkdir, open, readdir, readlink, rename, rmdir, stat, statfs, symlink, unlink, utimes, chmod, truncate, type FileHandle } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { GatewayError, fromErrno } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Session } from '../session.js';
import { Jail, assertCreatable, normalizeVirtualPath } from './jail.js';
import { CrlfDecoder, LfToCrlf } from './line-endings.js';
import { AtomicUpload, writeFully } from './atomic-upload.js';
import { statEntries } from './entry-stats.js';
import { DirectoryPages } from './directory-pages.js';
import { FileReadStream } from './file-read-stream.js';

export interface FileInfo {
  name: string;
  stats: Stats;
}

/** How a file is opened (SFTP pflags, FTP verbs), without any protocol's constants. */
export interface OpenMode {
  read?: boolean;
  write?: boolean;
  append?: boolean;
  create?: boolean;
  truncate?: boolean;
  exclusive?: boolean;
}

/** Attributes a client asks to set (SFTP SETSTAT/FSETSTAT/open attrs, FTP MFMT/SITE CHMOD/UTIME). */
export interface AttributeChange {
  mode?: number;
  size?: number;
  atime?: Date;
  mtime?: Date;
  uid?: number;
  gid?: number;
}

export interface ReadOptions {
  start?: number;
  /** FTP TYPE A was requested. */
  ascii?: boolean;
  highWaterMark?: number;
}

export interface WriteOptions {
  start?: number;
  append?: boolean;
  ascii?: boolean;
  highWaterMark?: number;
}

const READ_CHUNK = 1024 * 1024;
/** `.NAME.filegate-PROCESS-RANDOM.part` (older versions wrote no PROCESS part). */
const UPLOAD_TEMP = /^\..+\.filegate-(?:[0-9a-f]{8}-)?[0-9a-f]{8}\.part$/;
/**
 * This process among every node sharing the storage (a shared filesystem): its temporary names
 * never collide with another's, so no node's abort or commit ever touches another node's upload.
 */
const PROCESS_TAG = createHash('sha256').update(`${hostname()}\0${process.pid}`).digest('hex').slice(0, 8);
const NO_FOLLOW = constants.O_NOFOLLOW;

/** Whether a directory entry appears in listings (in-progress uploads do not). */
function isListed(name: string): boolean {
  return !UPLOAD_TEMP.test(name);
}

/** The storage filesystem's capacity (SFTP statvfs@openssh.com). */
export interface StorageStats {
  blockSize: number;
  blocks: number;
  freeBlocks: number;
  availableBlocks: number;
  files: number;
  freeFiles: number;
  /** The session may not write (read_only). */
  readOnly: boolean;
}

/** The name an upload is written under until it completes (hidden from listings). */
export function uploadTempPath(realPath: string): string {
  return path.join(path.dirname(realPath), `.${path.basename(realPath)}.filegate-${PROCESS_TAG}-${randomBytes(4).toString('hex')}.part`);
}

/** Told of every completed transfer and every denied operation (the metrics): no user, no path. */
export interface FsObserver {
  transfer(protocol: string, direction: 'upload' | 'download', bytes: number, durationMs: number): void;
  denied(operation: string, reason: string): void;
}

export class GuardedFs {
  private readonly logger: Logger;
  /** Handle uploads still open, by final real path: a SETSTAT by path must reach them. */
  readonly openUploads = new Map<string, GuardedFile>();

  private constructor(
    readonly session: Session,
    private readonly jail: Jail,
    logger: Logger,
    private readonly observer: FsObserver | undefined,
  ) {
    this.logger = logger.child({ session: session.ref, username: session.username });
  }

  /** Opens the session's jail (`root_path` under `storageRoot`, created when missing). */
  static async forSession(session: Session, storageRoot: string, logger: Logger = silentLogger, observer?: FsObserver): Promise<GuardedFs> {
    return new GuardedFs(session, await Jail.open(storageRoot, session.root_path), logger, observer);
  }

  /** A client path made absolute and normal against `cwd`; no storage access. */
  resolvePath(input: string, cwd = '/'): string {
    return normalizeVirtualPath(input, cwd);
  }

  /** Canonical virtual path with symlinks (inside the jail) resolved; unresolvable paths come back normalised. */
  realpath(input: string): Promise<string> {
    return this.guard('realpath', input, async (virtualPath) => {
      try {
        return this.jail.toVirtual(await this.jail.resolve(virtualPath)) ?? virtualPath;
      } catch (err) {
        if (fromErrno(err).code === 'NOT_FOUND') return virtualPath;
        throw err;
      }
    });
  }

  stat(input: string): Promise<Stats> {
    return this.guard('stat', input, async (v) => stat(await this.jail.resolve(v)));
  }

  lstat(input: string): Promise<Stats> {
    return this.guard('lstat', input, async (v) => lstat(await this.jail.resolve(v, false)));
  }

  /** Size of a file; in FTP ASCII mode only when `windows_mode_ftp` makes transfers byte-exact. */
  size(input: string, options: { ascii?: boolean } = {}): Promise<number> {
    return this.guard('size', input, async (v) => {
      if (options.ascii && !this.session.windows_mode_ftp) {
        throw new GatewayError('UNSUPPORTED', 'SIZE in ASCII mode', { text: 'size_in_ascii' });
      }
      const stats = await stat(await this.jail.resolve(v));
      if (stats.isDirectory()) throw new GatewayError('IS_A_DIRECTORY', 'SIZE of a directory', { text: 'is_a_directory' });
      return stats.size;
    });
  }

  /**
   * A directory's entries sorted by name, at most `max_dir_listing_size` of them (0 = all), with
   * lstat results (a symlink is listed as itself). In-progress uploads are hidden.
   */
  list(input: string): Promise<FileInfo[]> {
    return this.guard('list', input, async (v) => {
      const dirRealPath = await this.jail.resolve(v);
      const names = (await readdir(dirRealPath)).filter(isListed).sort(byName);
      const cap = this.session.max_dir_listing_size;
      const shown = cap > 0 ? names.slice(0, cap) : names;
      if (shown.length < names.length) {
        this.logger.info({ event: 'listing_truncated', path: v, shown: shown.length, total: names.length }, 'listing capped');
      }
      return statEntries(dirRealPath, shown); // an entry that vanished since readdir is left out
    });
  }

  /**
   * A directory to list page by page (SFTP READDIR): the order and cap of list(), in bounded memory
   * (see DirectoryPages).
   */
  openDirectory(input: string): Promise<DirectoryPages> {
    return this.guard('list', input, async (v) => {
      const dirRealPath = await this.jail.resolve(v);
      if (!(await stat(dirRealPath)).isDirectory()) throw new GatewayError('NOT_A_DIRECTORY', 'listing of a file', { text: 'not_a_directory' });
      return new DirectoryPages(dirRealPath, this.session.max_dir_listing_size, isListed);
    });
  }

  /** Capacity of the filesystem holding the session's files. */
  storageStats(input: string): Promise<StorageStats> {
    return this.guard('statvfs', input, async (v) => {
      const s = await statfs(await this.jail.resolve(v));
      return { blockSize: s.bsize, blocks: s.blocks, freeBlocks: s.bfree, availableBlocks: s.bavail, files: s.files, freeFiles: s.ffree, readOnly: !this.writable };
    });
  }

  /** Opens a file for handle-based I/O (SFTP). Writes are refused under read_only before anything opens. */
  open(input: string, mode: OpenMode, attrs: AttributeChange = {}): Promise<GuardedFile> {
    const writing = Boolean(mode.write || mode.append || mode.create || mode.truncate);
    return this.guard(writing ? 'open-write' : 'open-read', input, async (v) => {
      if (writing) this.assertWritable();
      if (mode.create) assertCreatable(v);
      const createMode = attrs.mode !== undefined ? attrs.mode & 0o777 : 0o644;
      const file = await this.openHandle(v, mode, writing, createMode);
      // Times sent with OPEN (WinSCP, `put -p`) count as an FSETSTAT: applied at close, if allowed.
      if (writing && attrs.mtime !== undefined) {
        await file.setAttributes({ atime: attrs.atime, mtime: attrs.mtime }).catch(async (err: unknown) => {
          await file.abort();
          throw err;
        });
      }
      return file;
    });
  }

  private async openHandle(v: string, mode: OpenMode, writing: boolean, createMode: number): Promise<GuardedFile> {
    const realPath = await this.jail.resolve(v);
    // A fresh whole-file upload goes to a temporary name and appears only when it completes.
    const atomic = Boolean(mode.write && mode.create && mode.truncate && !mode.read && !mode.append && !mode.exclusive);
    if (atomic) {
      await assertNotDirectory(realPath);
      const tempPath = uploadTempPath(realPath);
      const handle = await open(tempPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NO_FOLLOW, createMode);
      return new GuardedFile(this, handle, v, realPath, tempPath, true);
    }
    let flags = NO_FOLLOW;
    flags |= mode.read && (mode.write || mode.append) ? constants.O_RDWR : mode.write || mode.append ? constants.O_WRONLY : constants.O_RDONLY;
    if (mode.append) flags |= constants.O_APPEND;
    if (mode.create) flags |= constants.O_CREAT;
    if (mode.truncate) flags |= constants.O_TRUNC;
    if (mode.exclusive) flags |= constants.O_EXCL;
    const handle = await open(realPath, flags, createMode);
    if (!writing && (await handle.stat()).isDirectory()) {
      await handle.close();
      throw new GatewayError('IS_A_DIRECTORY', 'open of a directory', { text: 'is_a_directory' });
    }
    return new GuardedFile(this, handle, v, realPath, undefined, writing);
  }

  /**
   * A stream of a file's bytes from `start` (FTP RETR), converted to CRLF for TYPE A unless
   * windows_mode_ftp. Send it with `sendStream`: an unconverted file then reuses its buffers.
   */
  openReadStream(input: string, options: ReadOptions = {}): Promise<Readable> {
    return this.guard('download', input, async (v) => {
      assertOffset(options.start ?? 0);
      const realPath = await this.jail.resolve(v);
      const handle = await open(realPath, constants.O_RDONLY | NO_FOLLOW);
      if ((await handle.stat()).isDirectory()) {
        await handle.close();
        throw new GatewayError('IS_A_DIRECTORY', 'download of a directory', { text: 'is_a_directory' });
      }
      const started = Date.now();
      const source = new FileReadStream(handle, options.start ?? 0, options.highWaterMark ?? READ_CHUNK, (bytes) => this.logTransfer('download', v, bytes, started));
      if (!this.convertsLineEndings(options.ascii)) return source;
      const converted = new LfToCrlf({ highWaterMark: options.highWaterMark ?? READ_CHUNK });
      source.once('error', (err) => converted.destroy(err));
      converted.once('close', () => source.destroy());
      return source.pipe(converted);
    });
  }

  /**
   * A stream that stores what is written to it (FTP STOR/APPE/REST+STOR). It lands under a
   * temporary name and reaches the real file only when the stream ends cleanly (renamed into place,
   * or copied into it for append and offset writes); an aborted one leaves the real file untouched. TYPE A input is converted CRLF -> LF unless windows_mode_ftp.
   */
  openWriteStream(input: string, options: WriteOptions = {}): Promise<Writable> {
    return this.guard('upload', input, async (v) => {
      this.assertWritable();
      assertCreatable(v);
      const start = options.start ?? 0;
      assertOffset(start);
      const realPath = await this.jail.resolve(v);
      await assertNotDirectory(realPath);
      const inPlace = options.append || start > 0;
      // The real file is touched only when the upload completes (AtomicUpload).
      const tempPath = uploadTempPath(realPath);
      const handle = await open(tempPath, NO_FOLLOW | constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o644);
      return new AtomicUpload({
        handle,
        realPath,
        tempPath,
        inPlace: inPlace ? { start: options.append ? undefined : start, flags: NO_FOLLOW | constants.O_WRONLY | constants.O_CREAT } : undefined,
        highWaterMark: options.highWaterMark ?? READ_CHUNK,
        // Converted inside the one stream, so 'finish' still means stored and destroy() still discards.
        decoder: this.convertsLineEndings(options.ascii) ? new CrlfDecoder() : undefined,
        onDone: (bytes, started) => this.logTransfer('upload', v, bytes, started),
      });
    });
  }

  mkdir(input: string, mode = 0o755): Promise<void> {
    return this.guard('mkdir', input, async (v) => {
      this.assertWritable();
      assertCreatable(v);
      await mkdir(await this.jail.resolve(v), mode & 0o777);
    });
  }

  rmdir(input: string): Promise<void> {
    return this.guard('rmdir', input, async (v) => {
      this.assertWritable();
      if (v === '/') throw new GatewayError('PERMISSION_DENIED', 'rmdir of the root', { text: 'permission_denied' });
      await rmdir(await this.jail.resolve(v, false));
    });
  }

  remove(input: string): Promise<void> {
    return this.guard('remove', input, async (v) => {
      this.assertWritable();
      const realPath = await this.jail.resolve(v, false);
      if ((await lstat(realPath)).isDirectory()) throw new GatewayError('IS_A_DIRECTORY', 'remove of a directory', { text: 'is_a_directory' });
      await unlink(realPath);
    });
  }

  /** Renames; with `overwrite: false` (SFTP v3 RENAME) an existing target is refused. */
  rename(fromInput: string, toInput: string, options: { overwrite?: boolean } = {}): Promise<void> {
    return this.guard('rename', fromInput, async (fromVirtual) => {
      this.assertWritable();
      const toVirtual = normalizeVirtualPath(toInput);
      assertCreatable(toVirtual);
      if (fromVirtual === '/' || toVirtual === '/') throw new GatewayError('PERMISSION_DENIED', 'rename of the root', { text: 'permission_denied' });
      const fromReal = await this.jail.resolve(fromVirtual, false);
      const toReal = await this.jail.resolve(toVirtual, false);
      await lstat(fromReal);
      if (options.overwrite === false && (await lstat(toReal).then(() => true, () => false))) {
        throw new GatewayError('ALREADY_EXISTS', 'rename target exists', { text: 'already_exists' });
      }
      await rename(fromReal, toReal);
    });
  }

  /**
   * Creates `linkInput` pointing at `targetInput`; the target must resolve inside the jail. The link
   * stores the absolute real target: a relative one would point elsewhere, possibly outside the
   * jail, once the client moves the link (or its directory) up a level.
   */
  symlink(targetInput: string, linkInput: string): Promise<void> {
    return this.guard('symlink', linkInput, async (linkVirtual) => {
      this.assertWritable();
      assertCreatable(linkVirtual);
      const linkReal = await this.jail.resolve(linkVirtual, false);
      const targetVirtual = normalizeVirtualPath(targetInput, path.posix.dirname(linkVirtual));
      await symlink(await this.jail.resolve(targetVirtual), linkReal);
    });
  }

  /**
   * A hard link `linkInput` to `existingInput`, both inside the jail. A symlink is linked as itself
   * (link(2) does not follow it), so the new name leads where the symlink leads: through the jail.
   */
  hardlink(existingInput: string, linkInput: string): Promise<void> {
    return this.guard('hardlink', existingInput, async (existingVirtual) => {
      this.assertWritable();
      const existingReal = await this.jail.resolve(existingVirtual, false);
      const linkVirtual = normalizeVirtualPath(linkInput);
      assertCreatable(linkVirtual);
      const linkReal = await this.jail.resolve(linkVirtual, false);
      if ((await lstat(existingReal)).isDirectory()) throw new GatewayError('IS_A_DIRECTORY', 'hard link to a directory', { text: 'is_a_directory' });
      await link(existingReal, linkReal);
    });
  }

  /** A link's target as a virtual path; targets outside the jail are reported as absent. */
  readlink(input: string): Promise<string> {
    return this.guard('readlink', input, async (v) => {
      const linkReal = await this.jail.resolve(v, false);
      const target = path.resolve(path.dirname(linkReal), await readlink(linkReal));
      const targetVirtual = this.jail.toVirtual(target);
      if (targetVirtual === undefined) throw new GatewayError('NOT_FOUND', 'link target outside the jail', { text: 'not_found' });
      return targetVirtual;
    });
  }

  /** SETSTAT by path. Returns the stats after the change (FTP MFMT reports the real mtime). */
  setAttributes(input: string, change: AttributeChange): Promise<Stats> {
    return this.guard('setstat', input, async (v) => {
      const realPath = await this.jail.resolve(v);
      const upload = this.openUploads.get(realPath);
      if (upload) {
        await upload.setAttributes(change);
        return upload.stat();
      }
      const current = await stat(realPath);
      const effective = this.effectiveChange(current, change);
      if (effective.mode !== undefined) await chmod(realPath, effective.mode);
      if (effective.size !== undefined) await truncate(realPath, effective.size);
      if (effective.mtime !== undefined) await utimes(realPath, effective.atime ?? current.atime, effective.mtime);
      return stat(realPath);
    });
  }

  /**
   * SETSTAT without following a final symlink (lsetstat@openssh.com). A symlink's times can be
   * set; its mode and size cannot (Linux has no lchmod), so such a change is refused.
   */
  setLinkAttributes(input: string, change: AttributeChange): Promise<void> {
    return this.guard('lsetstat', input, async (v) => {
      const realPath = await this.jail.resolve(v, false);
      const current = await lstat(realPath);
      if (!current.isSymbolicLink()) {
        await this.setAttributes(v, change);
        return;
      }
      const effective = this.effectiveChange(current, change);
      if (effective.mode !== undefined || effective.size !== undefined) {
        throw new GatewayError('UNSUPPORTED', 'mode or size of a symlink', { text: 'unsupported' });
      }
      if (effective.mtime !== undefined) await lutimes(realPath, effective.atime ?? current.atime, effective.mtime);
    });
  }

  /**
   * The part of a requested change that will really be applied: times only with
   * use_provided_modified_at (else silently dropped), uid/gid never. Under read_only a change that
   * would alter anything is refused; one that alters nothing is accepted.
   */
  effectiveChange(current: Stats, change: AttributeChange): AttributeChange {
    const effective: AttributeChange = {};
    // Permission bits only: every stored file belongs to the gateway's account, so a client must
    // never set setuid/setgid/sticky on it.
    if (change.mode !== undefined && (change.mode & 0o777) !== (current.mode & 0o777)) effective.mode = change.mode & 0o777;
    if (change.size !== undefined && change.size !== current.size) effective.size = change.size;
    if (this.session.use_provided_modified_at && change.mtime !== undefined && !sameSecond(change.mtime, current.mtime)) {
      effective.mtime = change.mtime;
      effective.atime = change.atime;
    }
    if (Object.keys(effective).length > 0) this.assertWritable();
    return effective;
  }

  /** Whether this session may change anything (listings report it, e.g. FTP MLSx `perm` facts). */
  get writable(): boolean {
    return !this.session.read_only;
  }

  assertWritable(): void {
    if (!this.writable) throw new GatewayError('PERMISSION_DENIED', 'read_only session', { text: 'read_only' });
  }

  /** Whether FTP TYPE A converts line endings for this session (never under windows_mode_ftp). */
  convertsLineEndings(ascii: boolean | undefined): boolean {
    return Boolean(ascii) && !this.session.windows_mode_ftp;
  }

  logTransfer(direction: 'upload' | 'download', virtualPath: string, bytes: number, started: number): void {
    const durationMs = Date.now() - started;
    this.logger.info({ event: 'transfer', direction, path: virtualPath, bytes, duration_ms: durationMs }, 'transfer complete');
    this.observer?.transfer(this.session.origin.protocol, direction, bytes, durationMs);
  }

  /** Normalises the path, runs the operation, turns every failure into a GatewayError and audits denials. */
  private async guard<T>(op: string, input: string, run: (virtualPath: string) => Promise<T>): Promise<T> {
    let virtualPath = input;
    try {
      virtualPath = normalizeVirtualPath(input);
      return await run(virtualPath);
    } catch (err) {
      const error = fromErrno(err);
      if (error.code === 'PERMISSION_DENIED' || error.code === 'BAD_PATH') {
        this.logger.warn({ event: 'denied', op, path: virtualPath, reason: error.code, detail: error.message }, 'operation denied');
        this.observer?.denied(op, error.code);
      }
      throw error;
    }
  }
}

/** An open file (an SFTP handle). Whole-file uploads are renamed into place on close. */
export class GuardedFile {
  private pendingTimes: { atime?: Date; mtime: Date } | undefined;
  private bytes = 0;
  private readonly started = Date.now();
  private closed = false;

  constructor(
    private readonly owner: GuardedFs,
    private readonly handle: FileHandle,
    readonly virtualPath: string,
    private readonly realPath: string,
    private readonly tempPath: string | undefined,
    readonly writable: boolean,
  ) {
    if (tempPath) owner.openUploads.set(realPath, this);
  }

  /** Up to `length` bytes at `position`; an empty buffer at end of file. */
  async read(length: number, position: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    return buffer.subarray(0, await this.readInto(buffer, position));
  }

  /**
   * Fills `buffer` from `position`; resolves with the byte count (0 at end of file). For callers
   * that recycle their buffers (SFTP read-ahead): allocating a transfer's whole size again in
   * short-lived Buffers makes V8 collect far more often, full collections included.
   */
  async readInto(buffer: Buffer, position: number): Promise<number> {
    const bytesRead = await this.prefetch(buffer, position);
    this.bytes += bytesRead;
    return bytesRead;
  }

  /**
   * readInto() for a cache ahead of the client (SFTP read-ahead): the bytes count toward the
   * transfer only once the cache hands them out (served()), so a block fetched twice or never asked
   * for does not inflate the logged and measured size.
   */
  async prefetch(buffer: Buffer, position: number): Promise<number> {
    assertOffset(position);
    try {
      return (await this.handle.read(buffer, 0, buffer.length, position)).bytesRead;
    } catch (err) {
      throw fromErrno(err);
    }
  }

  /** Prefetched bytes handed to the client. */
  served(bytes: number): void {
    this.bytes += bytes;
  }

  async write(data: Buffer, position: number): Promise<void> {
    if (!this.writable) throw new GatewayError('PERMISSION_DENIED', 'write to a handle opened for reading', { text: 'permission_denied' });
    assertOffset(position, data.length);
    try {
      await writeFully(this.handle, data, position);
      this.bytes += data.length;
    } catch (err) {
      throw fromErrno(err);
    }
  }

  async stat(): Promise<Stats> {
    try {
      return await this.handle.stat();
    } catch (err) {
      throw fromErrno(err);
    }
  }

  /** fsync(2) of the file's data (fsync@openssh.com). */
  async sync(): Promise<void> {
    try {
      await this.handle.sync();
    } catch (err) {
      throw fromErrno(err);
    }
  }

  /** FSETSTAT. Times on a file being written are applied at close, after the last write. */
  async setAttributes(change: AttributeChange): Promise<void> {
    try {
      const effective = this.owner.effectiveChange(await this.handle.stat(), change);
      if (effective.mode !== undefined) await this.handle.chmod(effective.mode);
      if (effective.size !== undefined) await this.handle.truncate(effective.size);
      if (effective.mtime !== undefined) {
        if (this.writable) this.pendingTimes = { atime: effective.atime, mtime: effective.mtime };
        else await this.handle.utimes(effective.atime ?? new Date(), effective.mtime);
      }
    } catch (err) {
      throw fromErrno(err);
    }
  }

  /** Completes the file: pending times applied, a temporary upload renamed into place. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.forget();
    try {
      if (this.pendingTimes) await this.handle.utimes(this.pendingTimes.atime ?? new Date(), this.pendingTimes.mtime);
      await this.handle.close();
      if (this.tempPath) await rename(this.tempPath, this.realPath);
      if (this.writable || this.bytes > 0) this.owner.logTransfer(this.writable ? 'upload' : 'download', this.virtualPath, this.bytes, this.started);
    } catch (err) {
      if (this.tempPath) await unlink(this.tempPath).catch(() => {});
      throw fromErrno(err);
    }
  }

  private forget(): void {
    if (this.owner.openUploads.get(this.realPath) === this) this.owner.openUploads.delete(this.realPath);
  }

  /** The connection went away before CLOSE: an unfinished upload is discarded. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.forget();
    await this.handle.close().catch(() => {});
    if (this.tempPath) await unlink(this.tempPath).catch(() => {});
  }
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sameSecond(a: Date, b: Date): boolean {
  return Math.floor(a.getTime() / 1000) === Math.floor(b.getTime() / 1000);
}

/**
 * Node reads and writes at the *current* file position when given one that is not a safe integer
 * (an SFTP uint64 offset, FTP `REST 1e20`), and its read streams throw on such a start after the
 * file is open: refused before any I/O.
 */
function assertOffset(position: number, length = 0): void {
  if (!Number.isSafeInteger(position) || position < 0 || !Number.isSafeInteger(position + length)) {
    throw new GatewayError('UNSUPPORTED', `file offset out of range: ${position}`, { text: 'unsupported' });
  }
}

async function assertNotDirectory(realPath: string): Promise<void> {
  const existing = await stat(realPath).catch(() => undefined);
  if (existing?.isDirectory()) throw new GatewayError('IS_A_DIRECTORY', 'upload onto a directory', { text: 'is_a_directory' });
}
