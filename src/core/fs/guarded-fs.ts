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
import type { Readable } from 'node:stream';
import { GatewayError, fromErrno } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Session } from '../session.js';
import { Jail, O_PATH, assertCreatable, descriptorPath, normalizeVirtualPath, type Entry, type Found, type HeldDir } from './jail.js';
import { CrlfDecoder, LfToCrlf } from './line-endings.js';
import { AtomicUpload, writeFully } from './atomic-upload.js';
import { statEntries } from './entry-stats.js';
import { DirectoryPages } from './directory-pages.js';
import { FileReadStream } from './file-read-stream.js';
import { SyncIo } from './sync-io.js';

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

/** The name an upload is written under, beside its final name, until it completes (hidden from listings). */
export function uploadTempName(name: string): string {
  return `.${name}.filegate-${PROCESS_TAG}-${randomBytes(4).toString('hex')}.part`;
}

/** Told of every completed transfer and every denied operation (the metrics): no user, no path. */
export interface FsObserver {
  transfer(protocol: string, direction: 'upload' | 'download', bytes: number, durationMs: number): void;
  denied(operation: string, reason: string): void;
}

export class GuardedFs {
  private readonly logger: Logger;
  /** Handle uploads still open, by final virtual path (symlinks resolved): a SETSTAT by path must reach them. */
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
        return await this.jail.resolve(virtualPath);
      } catch (err) {
        if (fromErrno(err).code === 'NOT_FOUND') return virtualPath;
        throw err;
      }
    });
  }

  stat(input: string): Promise<Stats> {
    return this.guard('stat', input, (v) => this.inFound(v, async ({ stats }) => stats ?? missing(v)));
  }

  lstat(input: string): Promise<Stats> {
    return this.guard('lstat', input, (v) => this.inEntry(v, lstatEntry));
  }

  /** Size of a file; in FTP ASCII mode only when `windows_mode_ftp` makes transfers byte-exact. */
  size(input: string, options: { ascii?: boolean } = {}): Promise<number> {
    return this.guard('size', input, async (v) => {
      if (options.ascii && !this.session.windows_mode_ftp) {
        throw new GatewayError('UNSUPPORTED', 'SIZE in ASCII mode', { text: 'size_in_ascii' });
      }
      const stats = await this.inFound(v, async ({ stats }) => stats ?? missing(v));
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
      const dir = await this.jail.directory(v);
      try {
        const names = (await readdir(dir.path)).filter(isListed).sort(byName);
        const cap = this.session.max_dir_listing_size;
        const shown = cap > 0 ? names.slice(0, cap) : names;
        if (shown.length < names.length) {
          this.logger.info({ event: 'listing_truncated', path: v, shown: shown.length, total: names.length }, 'listing capped');
        }
        return await statEntries(dir.path, shown); // an entry that vanished since readdir is left out
      } finally {
        dir.close();
      }
    });
  }

  /**
   * A directory to list page by page (SFTP READDIR): the order and cap of list(), in bounded memory
   * (see DirectoryPages). It holds the directory open until its close().
   */
  openDirectory(input: string): Promise<DirectoryPages> {
    return this.guard('list', input, async (v) => {
      const cap = this.session.max_dir_listing_size;
      const truncated = () => this.logger.info({ event: 'listing_truncated', path: v, shown: cap }, 'listing capped');
      return new DirectoryPages(await this.jail.directory(v), cap, isListed, truncated);
    });
  }

  /** Capacity of the filesystem holding the session's files. */
  storageStats(input: string): Promise<StorageStats> {
    return this.guard('statvfs', input, async (v) => {
      const { dir, handle } = await this.jail.openFile(v, O_PATH);
      dir.close();
      try {
        const s = await statfs(descriptorPath(handle));
        return { blockSize: s.bsize, blocks: s.blocks, freeBlocks: s.bfree, availableBlocks: s.bavail, files: s.files, freeFiles: s.ffree, readOnly: !this.writable };
      } finally {
        await handle.close();
      }
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
    // A fresh whole-file upload goes to a temporary name and appears only when it completes.
    const atomic = Boolean(mode.write && mode.create && mode.truncate && !mode.read && !mode.append && !mode.exclusive);
    if (atomic) {
      const { dir, name, virtualPath } = await this.uploadPlace(v);
      try {
        const temp = uploadTempName(name);
        const handle = await open(dir.entry(temp), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NO_FOLLOW, createMode);
        return new GuardedFile(this, handle, v, { dir, name, temp, virtualPath });
      } catch (err) {
        dir.close();
        throw err;
      }
    }
    let flags = mode.read && (mode.write || mode.append) ? constants.O_RDWR : mode.write || mode.append ? constants.O_WRONLY : constants.O_RDONLY;
    if (mode.append) flags |= constants.O_APPEND;
    if (mode.create) flags |= constants.O_CREAT;
    if (mode.truncate) flags |= constants.O_TRUNC;
    if (mode.exclusive) flags |= constants.O_EXCL;
    const { dir, handle } = await this.jail.openFile(v, flags, createMode);
    dir.close();
    if (!writing && (await handle.stat()).isDirectory()) {
      await handle.close();
      throw new GatewayError('IS_A_DIRECTORY', 'open of a directory', { text: 'is_a_directory' });
    }
    return new GuardedFile(this, handle, v, undefined, writing);
  }

  /**
   * Where an upload to `v` lands: the directory (held open: the temporary file and the final name
   * must be in the one directory the path led to) and the final name, a symlink followed.
   */
  private async uploadPlace(v: string): Promise<{ dir: HeldDir; name: string; virtualPath: string }> {
    const found = await this.jail.find(v);
    if (found.name === undefined || found.stats?.isDirectory()) {
      found.dir.close();
      throw new GatewayError('IS_A_DIRECTORY', 'upload onto a directory', { text: 'is_a_directory' });
    }
    return { dir: found.dir, name: found.name, virtualPath: found.virtualPath };
  }

  /**
   * A stream of a file's bytes from `start` (FTP RETR), converted to CRLF for TYPE A unless
   * windows_mode_ftp. Send it with `sendStream`: an unconverted file then reuses its buffers.
   */
  openReadStream(input: string, options: ReadOptions = {}): Promise<Readable> {
    return this.guard('download', input, async (v) => {
      assertOffset(options.start ?? 0);
      const { dir, handle } = await this.jail.openFile(v, constants.O_RDONLY);
      dir.close();
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
  openWriteStream(input: string, options: WriteOptions = {}): Promise<AtomicUpload> {
    return this.guard('upload', input, async (v) => {
      this.assertWritable();
      assertCreatable(v);
      const start = options.start ?? 0;
      assertOffset(start);
      const { dir, name } = await this.uploadPlace(v);
      const inPlace = options.append || start > 0;
      // The real file is touched only when the upload completes (AtomicUpload).
      const temp = uploadTempName(name);
      let handle: FileHandle;
      try {
        handle = await open(dir.entry(temp), NO_FOLLOW | constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o644);
      } catch (err) {
        dir.close();
        throw err;
      }
      return new AtomicUpload({
        handle,
        finalPath: dir.entry(name),
        tempPath: dir.entry(temp),
        release: () => dir.close(),
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
      await this.inFound(v, async ({ dir, name }) => mkdir(name === undefined ? dir.path : dir.entry(name), mode & 0o777));
    });
  }

  rmdir(input: string): Promise<void> {
    return this.guard('rmdir', input, async (v) => {
      this.assertWritable();
      if (v === '/') throw new GatewayError('PERMISSION_DENIED', 'rmdir of the root', { text: 'permission_denied' });
      await this.inEntry(v, ({ dir, name }) => rmdir(dir.entry(name!)));
    });
  }

  remove(input: string): Promise<void> {
    return this.guard('remove', input, async (v) => {
      this.assertWritable();
      await this.inEntry(v, async (entry) => {
        if ((await lstatEntry(entry)).isDirectory()) throw new GatewayError('IS_A_DIRECTORY', 'remove of a directory', { text: 'is_a_directory' });
        await unlink(entry.dir.entry(entry.name!));
      });
    });
  }

  /** Renames; with `overwrite: false` (SFTP v3 RENAME) an existing target is refused. */
  rename(fromInput: string, toInput: string, options: { overwrite?: boolean } = {}): Promise<void> {
    return this.guard('rename', fromInput, async (fromVirtual) => {
      this.assertWritable();
      const toVirtual = normalizeVirtualPath(toInput);
      assertCreatable(toVirtual);
      if (fromVirtual === '/' || toVirtual === '/') throw new GatewayError('PERMISSION_DENIED', 'rename of the root', { text: 'permission_denied' });
      await this.inEntry(fromVirtual, (from) =>
        this.inEntry(toVirtual, async (to) => {
          const fromPath = from.dir.entry(from.name!);
          const toPath = to.dir.entry(to.name!);
          await lstat(fromPath);
          if (options.overwrite === false && (await lstat(toPath).then(() => true, () => false))) {
            throw new GatewayError('ALREADY_EXISTS', 'rename target exists', { text: 'already_exists' });
          }
          await rename(fromPath, toPath);
        }),
      );
    });
  }

  /**
   * Creates `linkInput` pointing at `targetInput`; the target must resolve inside the jail. The
   * link stores its target relative to the link's own directory: nothing of the host's paths (nor
   * their length, which a link's size would tell) is written. Moved elsewhere later, it leads where
   * its relative path leads from there, inside the jail or nowhere (the walk never follows a target
   * outside).
   */
  symlink(targetInput: string, linkInput: string): Promise<void> {
    return this.guard('symlink', linkInput, async (linkVirtual) => {
      this.assertWritable();
      assertCreatable(linkVirtual);
      const targetVirtual = normalizeVirtualPath(targetInput, path.posix.dirname(linkVirtual));
      await this.inEntry(linkVirtual, async ({ dir, name }) => {
        if (name === undefined) throw new GatewayError('ALREADY_EXISTS', 'symlink over the root', { text: 'already_exists' });
        const target = await this.jail.resolve(targetVirtual);
        await symlink(path.posix.relative(dir.virtualPath, target) || '.', dir.entry(name));
      });
    });
  }

  /**
   * A hard link `linkInput` to `existingInput`, both inside the jail. A symlink is linked as itself
   * (link(2) does not follow it), so the new name leads where the symlink leads: through the jail.
   */
  hardlink(existingInput: string, linkInput: string): Promise<void> {
    return this.guard('hardlink', existingInput, async (existingVirtual) => {
      this.assertWritable();
      const linkVirtual = normalizeVirtualPath(linkInput);
      assertCreatable(linkVirtual);
      await this.inEntry(existingVirtual, (existing) =>
        this.inEntry(linkVirtual, async (created) => {
          if ((await lstatEntry(existing)).isDirectory()) throw new GatewayError('IS_A_DIRECTORY', 'hard link to a directory', { text: 'is_a_directory' });
          if (created.name === undefined) throw new GatewayError('ALREADY_EXISTS', 'hard link over the root', { text: 'already_exists' });
          await link(existing.dir.entry(existing.name!), created.dir.entry(created.name));
        }),
      );
    });
  }

  /** A link's target as a virtual path; targets outside the jail are reported as absent. */
  readlink(input: string): Promise<string> {
    return this.guard('readlink', input, (v) =>
      this.inEntry(v, async ({ dir, name }) => {
        if (name === undefined) throw new GatewayError('UNSUPPORTED', 'readlink of the root', { text: 'unsupported' });
        return this.jail.linkTarget(dir.virtualPath, await readlink(dir.entry(name)));
      }),
    );
  }

  /** SETSTAT by path. Returns the stats after the change (FTP MFMT reports the real mtime). */
  setAttributes(input: string, change: AttributeChange): Promise<Stats> {
    return this.guard('setstat', input, async (v) => {
      const found = await this.jail.find(v);
      let handle: FileHandle;
      try {
        const upload = this.openUploads.get(found.virtualPath);
        if (upload) {
          await upload.setAttributes(change);
          return await upload.stat();
        }
        if (!found.stats) missing(v);
        // The change is made through a descriptor of the very file that was found (O_PATH opens
        // any file, whatever its mode): a name swapped for a symlink meanwhile is not followed.
        handle = found.name === undefined ? await open(found.dir.path, O_PATH) : await open(found.dir.entry(found.name), O_PATH | NO_FOLLOW);
      } finally {
        found.dir.close();
      }
      try {
        const current = await handle.stat();
        if (current.isSymbolicLink()) missing(v);
        const file = descriptorPath(handle);
        const effective = this.effectiveChange(current, change);
        if (effective.mode !== undefined) await chmod(file, effective.mode);
        if (effective.size !== undefined) await truncate(file, effective.size);
        if (effective.mtime !== undefined) await utimes(file, effective.atime ?? current.atime, effective.mtime);
        return await handle.stat();
      } finally {
        await handle.close();
      }
    });
  }

  /**
   * SETSTAT without following a final symlink (lsetstat@openssh.com). A symlink's times can be
   * set; its mode and size cannot (Linux has no lchmod), so such a change is refused.
   */
  setLinkAttributes(input: string, change: AttributeChange): Promise<void> {
    return this.guard('lsetstat', input, async (v) => {
      const isLink = await this.inEntry(v, async (entry) => {
        const current = await lstatEntry(entry);
        if (!current.isSymbolicLink()) return false;
        const effective = this.effectiveChange(current, change);
        if (effective.mode !== undefined || effective.size !== undefined) {
          throw new GatewayError('UNSUPPORTED', 'mode or size of a symlink', { text: 'unsupported' });
        }
        if (effective.mtime !== undefined) await lutimes(entry.dir.entry(entry.name!), effective.atime ?? current.atime, effective.mtime);
        return true;
      });
      if (!isLink) await this.setAttributes(v, change);
    });
  }

  /** Runs `use` on the entry `v` names (last component not followed), then lets its directory go. */
  private inEntry<T>(v: string, use: (entry: Entry) => Promise<T>): Promise<T> {
    return holding(this.jail.entry(v), use);
  }

  /** Runs `use` on what `v` leads to (every symlink followed), then lets its directory go. */
  private inFound<T>(v: string, use: (found: Found) => Promise<T>): Promise<T> {
    return holding(this.jail.find(v), use);
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

  private assertWritable(): void {
    if (!this.writable) throw new GatewayError('PERMISSION_DENIED', 'read_only session', { text: 'read_only' });
  }

  /**
   * Refuses `operation` on `input` under read_only before anything is looked at, as an operation
   * refused here is (audited as denied, counted): for protocol verbs that are writes whatever they
   * would change (FTP MFMT, SITE CHMOD, RNFR).
   */
  checkWritable(operation: string, input: string): Promise<void> {
    return this.guard(operation, input, async () => this.assertWritable());
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

/** A whole-file upload through a handle: its temporary name and final name in the directory held open. */
interface HandleUpload {
  dir: HeldDir;
  name: string;
  temp: string;
  /** The final virtual path, symlinks resolved (the key in openUploads). */
  virtualPath: string;
}

/** An open file (an SFTP handle). Whole-file uploads are renamed into place on close. */
export class GuardedFile {
  private pendingTimes: { atime?: Date; mtime: Date } | undefined;
  private bytes = 0;
  private readonly started = Date.now();
  private closed = false;
  readonly writable: boolean;
  private readonly syncIo: SyncIo;

  constructor(
    private readonly owner: GuardedFs,
    private readonly handle: FileHandle,
    readonly virtualPath: string,
    private readonly upload: HandleUpload | undefined,
    writable = upload !== undefined,
  ) {
    this.writable = writable;
    this.syncIo = new SyncIo(handle);
    if (upload) owner.openUploads.set(upload.virtualPath, this);
  }

  /**
   * Fills `buffer` from `position`; resolves with the byte count (0 at end of file). The caller
   * owns the buffer (an SFTP reply, a recycled block): allocating a transfer's whole size again in
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
      return this.syncIo.tryRead(buffer, position) ?? (await this.handle.read(buffer, 0, buffer.length, position)).bytesRead;
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
    const upload = this.upload;
    try {
      if (this.pendingTimes) await this.handle.utimes(this.pendingTimes.atime ?? new Date(), this.pendingTimes.mtime);
      await this.handle.close();
      if (upload) await rename(upload.dir.entry(upload.temp), upload.dir.entry(upload.name));
      if (this.writable || this.bytes > 0) this.owner.logTransfer(this.writable ? 'upload' : 'download', this.virtualPath, this.bytes, this.started);
    } catch (err) {
      if (upload) await unlink(upload.dir.entry(upload.temp)).catch(() => {});
      throw fromErrno(err);
    } finally {
      upload?.dir.close();
    }
  }

  private forget(): void {
    const key = this.upload?.virtualPath;
    if (key !== undefined && this.owner.openUploads.get(key) === this) this.owner.openUploads.delete(key);
  }

  /** The connection went away before CLOSE: an unfinished upload is discarded. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.forget();
    await this.handle.close().catch(() => {});
    if (this.upload) {
      await unlink(this.upload.dir.entry(this.upload.temp)).catch(() => {});
      this.upload.dir.close();
    }
  }
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Runs `use` on what a walk reached, then closes the directory it holds, whatever `use` does. */
async function holding<E extends Entry, T>(reached: Promise<E>, use: (reached: E) => Promise<T>): Promise<T> {
  const entry = await reached;
  try {
    return await use(entry);
  } finally {
    entry.dir.close();
  }
}

/** lstat of an entry; the root (no name) is the directory held itself. */
function lstatEntry({ dir, name }: Entry): Promise<Stats> {
  return name === undefined ? stat(dir.path) : lstat(dir.entry(name));
}

/** Refuses like a missing file does. */
function missing(virtualPath: string): never {
  throw new GatewayError('NOT_FOUND', `no such file or directory: ${virtualPath}`, { text: 'not_found' });
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
