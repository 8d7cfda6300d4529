/**
 * The jail: maps client-visible virtual paths (POSIX, `/` = the session's root) to the storage,
 * without a window between checking a path and using it. A real path that was checked and then
 * handed to a second system call can be changed in between (a directory renamed away and a symlink
 * to the outside renamed into its place); so no real path is ever handed out. Every operation
 * walks the path one component at a time through directory descriptors opened with
 * O_PATH|O_DIRECTORY|O_NOFOLLOW, each name looked up relative to the descriptor of its parent
 * (Linux's `/proc/self/fd/N/name` gives openat(2) semantics to every path-taking call), and the
 * final call names its entry relative to the final parent's descriptor. The kernel never follows a
 * symlink for us: the walk reads each link and resolves its target inside the jail itself.
 * Virtual and real paths never share a variable: `virtualPath` vs `realPath`.
 */
import { closeSync, constants, fstatSync, lstat, open, readlink, readlinkSync, statSync, type Stats } from 'node:fs';
import { mkdir, open as openHandle, realpath, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { GatewayError } from '../errors.js';

const MAX_PATH_LENGTH = 4096;
/**
 * The directory whose entries name this process's descriptors (magic links to what each one holds).
 * By pid rather than through /proc/self, which every call would otherwise have the kernel resolve
 * too (a tenth of a cached lstat) -- but only where /proc/self is that pid: a /proc mounted for
 * another PID namespace would name another process's descriptors.
 */
const PROC_FD = ((): string => {
  try {
    if (readlinkSync('/proc/self') === String(process.pid)) return `/proc/${process.pid}/fd`;
  } catch {
    // no /proc: assertJailSupported() refuses to start
  }
  return '/proc/self/fd';
})();
/** Linux's O_PATH (not in fs.constants; the same value on every architecture Node runs on). */
export const O_PATH = 0o10000000;
const DIRECTORY = O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** Symlinks followed in one walk before it gives up (the kernel's own limit). */
const MAX_HOPS = 40;

/** Normalises a client path against `cwd`: "\" counts as "/", ".." stops at the root. */
export function normalizeVirtualPath(input: string, cwd = '/'): string {
  if (input.includes('\0')) throw new GatewayError('BAD_PATH', 'NUL byte in path', { text: 'bad_path' });
  if (input.length > MAX_PATH_LENGTH) throw new GatewayError('BAD_PATH', 'path too long', { text: 'bad_path' });
  const slashed = input.replace(/\\/g, '/');
  const joined = slashed.startsWith('/') ? slashed : `${cwd}/${slashed}`;
  const normal = path.posix.normalize(`/${joined}`); // a leading "/" makes normalize drop ".." at the top
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

/** C0 control characters (CR, LF, TAB, ESC, ...): in a name they could forge listing lines and replies. */
const CONTROL_CHARACTER = /[\x00-\x1f]/;

/**
 * Refuses a new name (file, directory, link, rename target) holding a control character, on every
 * protocol. Existing such names stay reachable (to rename or delete them).
 */
export function assertCreatable(virtualPath: string): void {
  if (CONTROL_CHARACTER.test(path.posix.basename(virtualPath))) {
    throw new GatewayError('BAD_PATH', 'control character in a new name', { text: 'bad_path' });
  }
}

/** Whether a directory entry's name holds a control character (listings leave such names out). */
export function hasControlCharacter(name: string): boolean {
  return CONTROL_CHARACTER.test(name);
}

/**
 * Fails closed where the jail cannot work: it needs Linux's /proc/<pid>/fd (a container without
 * /proc mounted, or another OS). Checked at start-up and by every jail that opens.
 */
export function assertJailSupported(): void {
  const supported = process.platform === 'linux' && statSync(PROC_FD, { throwIfNoEntry: false })?.isDirectory() === true;
  if (!supported) {
    throw new Error(`the storage jail needs Linux with /proc mounted (${PROC_FD} is missing on ${process.platform}); refusing to serve files without it`);
  }
}

/** A path naming exactly what an open descriptor holds, for calls that take a path (chmod, statfs, opendir). */
export function descriptorPath({ fd }: { fd: number }): string {
  return `${PROC_FD}/${fd}`;
}

/**
 * A directory of the jail held open by descriptor. Calls name it, and entries in it, through
 * /proc/self/fd: the kernel resolves those against the directory held, wherever it has moved since.
 * The descriptor is closed exactly once, by whoever holds the HeldDir, and only after the last call
 * that uses one of its paths has finished (a closed number can be reused by any other open).
 */
export class HeldDir {
  constructor(
    readonly fd: number,
    /** Where it was reached, symlinks resolved: the directory's own virtual path. */
    readonly virtualPath: string,
  ) {}

  /** The directory itself (the kernel follows the magic link to exactly this directory). */
  get path(): string {
    return descriptorPath(this);
  }

  /** An entry of this directory, looked up relative to the descriptor as openat(2) would. */
  entry(name: string): string {
    return `${PROC_FD}/${this.fd}/${name}`;
  }

  /** The virtual path of an entry of this directory. */
  virtualOf(name: string): string {
    return this.virtualPath === '/' ? `/${name}` : `${this.virtualPath}/${name}`;
  }

  close(): void {
    closeSync(this.fd); // a directory or O_PATH descriptor: closing it never waits for I/O
  }
}

/**
 * What a walk reached: the directory holding the final name, and that name (undefined when the
 * path names the jail's root itself, which has no parent inside the jail). The holder closes `dir`.
 */
export interface Entry {
  dir: HeldDir;
  name: string | undefined;
}

/** A walk's end with every symlink followed, the last one too: `stats` is undefined when nothing is there. */
export interface Found extends Entry {
  stats: Stats | undefined;
  /** The virtual path reached, symlinks resolved. */
  virtualPath: string;
}

/** Returned by a walk's last step: the final name is a symlink, to be followed. */
const FOLLOW = Symbol('follow');
type LastStep<T> = (dir: HeldDir, name: string) => Promise<T | typeof FOLLOW>;

export class Jail {
  private constructor(
    readonly rootRealPath: string,
    /** The root directory's identity: a root renamed away and replaced is not followed. */
    private readonly rootId: { dev: number; ino: number },
  ) {}

  /**
   * Opens (creating if needed) `rootPath` under `storageRealPath`. A root that passes through a
   * symlink inside the storage is refused: with nested roots (`teams` and `teams/bob`), a user of
   * the outer one could otherwise point the inner one at any directory it likes.
   */
  static async open(storageRealPath: string, rootPath: string): Promise<Jail> {
    assertJailSupported();
    const root = path.resolve(storageRealPath, rootPath);
    await mkdir(root, { recursive: true });
    const rootRealPath = await realpath(root);
    if (rootRealPath !== root) {
      throw new GatewayError('PERMISSION_DENIED', `root_path ${rootPath} passes through a symlink`, { text: 'permission_denied' });
    }
    const { dev, ino } = await stat(rootRealPath);
    return new Jail(rootRealPath, { dev, ino });
  }

  private contains(realPath: string): boolean {
    return realPath === this.rootRealPath || realPath.startsWith(this.rootRealPath + path.sep);
  }

  /** The virtual path of a real path inside the jail, or undefined when it is outside. */
  private toVirtual(realPath: string): string | undefined {
    if (!this.contains(realPath)) return undefined;
    const relative = path.relative(this.rootRealPath, realPath);
    return `/${relative.split(path.sep).join('/')}`.replace(/\/$/, '') || '/';
  }

  /**
   * Where a symlink in the directory `dirVirtualPath` leads, as a virtual path. A relative target is
   * taken from the link's directory, an absolute one as a real path (what older versions stored);
   * either must land inside the jail, `..` taken lexically as in client paths. A target outside,
   * even one that would come back in through the outside, is refused: outside looks absent.
   */
  linkTarget(dirVirtualPath: string, target: string): string {
    const virtualPath = this.toVirtual(path.resolve(path.join(this.rootRealPath, dirVirtualPath), target));
    if (virtualPath === undefined) throw outside(`${dirVirtualPath} -> ${target}`);
    return virtualPath;
  }

  /** The directory `virtualPath` names, every symlink on the way followed inside the jail. */
  async directory(virtualPath: string): Promise<HeldDir> {
    return (await this.walk(virtualPath)).dir;
  }

  /** The entry `virtualPath` names, in its directory; the last component is not followed (lstat, unlink, rename). */
  entry(virtualPath: string): Promise<Entry> {
    return this.walk(virtualPath, async () => undefined);
  }

  /** What `virtualPath` leads to with every symlink followed, the last too, and its stats if it exists. */
  async find(virtualPath: string): Promise<Found> {
    const { dir, name, value } = await this.walk(virtualPath, lstatLast);
    const found = { dir, name, stats: value, virtualPath: name === undefined ? dir.virtualPath : dir.virtualOf(name) };
    if (name === undefined) found.stats = fstatSync(dir.fd);
    return found;
  }

  /**
   * The canonical virtual path: every symlink that exists on the way resolved inside the jail, and
   * the part from the first missing directory on kept as it is (where a new link may point).
   */
  async resolve(virtualPath: string): Promise<string> {
    const { dir, name, rest } = await this.walk(virtualPath, lstatLast, true);
    dir.close();
    if (rest) return path.posix.join(dir.virtualPath, ...rest);
    return name === undefined ? dir.virtualPath : dir.virtualOf(name);
  }

  /**
   * Opens what `virtualPath` leads to, every symlink followed inside the jail, with open(2) `flags`
   * (O_NOFOLLOW added: a final symlink is read and followed here, never by the kernel). With
   * O_CREAT a new file is made at the place the path leads to. Returns the open handle and its
   * directory, which the caller closes.
   */
  async openFile(virtualPath: string, flags: number, mode = 0o644): Promise<Entry & { handle: FileHandle }> {
    const { dir, name, value } = await this.walk(virtualPath, async (at, last) => {
      let handle;
      try {
        handle = await openHandle(at.entry(last), flags | constants.O_NOFOLLOW, mode);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ELOOP') return FOLLOW;
        // O_EXCL does not follow a symlink: one in the way is followed first, as for any other open.
        if (code === 'EEXIST' && (await lstatAsync(at.entry(last)).catch(() => undefined))?.isSymbolicLink()) return FOLLOW;
        throw err;
      }
      // O_PATH opens a symlink itself instead of failing.
      if (flags & O_PATH && (await handle.stat()).isSymbolicLink()) {
        await handle.close();
        return FOLLOW;
      }
      return handle;
    });
    if (value !== undefined) return { dir, name, handle: value };
    // The path named the root: only a handle that neither writes nor creates can be had on it.
    try {
      if (flags & (constants.O_WRONLY | constants.O_RDWR | constants.O_CREAT)) throw errno('EISDIR', virtualPath);
      return { dir, name, handle: await openHandle(dir.path, flags & ~constants.O_NOFOLLOW) };
    } catch (err) {
      dir.close();
      throw err;
    }
  }

  /**
   * The walk. From the root, each component is opened as a directory relative to its parent; one
   * that is a symlink is read and its target resolved inside the jail, and the walk starts again
   * from the root along the target followed by the components still to go. With `last`, the final
   * component is not opened as a directory but handed to `last` in its directory, which answers
   * with a value or asks for the name to be followed as a symlink. With `missingTail`, a directory
   * that does not exist ends the walk, and the components from there on come back as `rest`.
   * Every descriptor but the one returned is closed on the way, errors included.
   */
  private async walk<T>(
    virtualPath: string,
    last?: LastStep<T>,
    missingTail = false,
  ): Promise<{ dir: HeldDir; name: string | undefined; value: T | undefined; rest?: string[] }> {
    let pending = components(virtualPath);
    let hops = 0;
    let dir = await this.openRoot();
    try {
      while (pending.length > 0) {
        const name = pending[0]!;
        let link: string | undefined;
        if (last && pending.length === 1) {
          const value = await last(dir, name);
          if (value !== FOLLOW) return { dir, name, value };
          link = await readlinkAsync(dir.entry(name)).catch(ifCode('EINVAL', undefined)); // replaced since: ask again
        } else {
          let fd: number;
          try {
            fd = await openAsync(dir.entry(name), DIRECTORY);
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            if (code === 'ENOENT' && missingTail) return { dir, name: undefined, value: undefined, rest: pending };
            if (code !== 'ENOTDIR') throw err;
            // Not a directory: a symlink to follow, or really not a directory.
            link = await readlinkAsync(dir.entry(name)).catch(() => Promise.reject(err));
          }
          if (link === undefined) {
            dir = this.move(dir, new HeldDir(fd!, dir.virtualOf(name)));
            pending = pending.slice(1);
            continue;
          }
        }
        if (++hops > MAX_HOPS) throw errno('ELOOP', virtualPath);
        if (link === undefined) continue;
        pending = [...components(this.linkTarget(dir.virtualPath, link)), ...pending.slice(1)];
        dir = this.move(dir, await this.openRoot());
      }
      return { dir, name: undefined, value: undefined };
    } catch (err) {
      dir.close();
      throw err;
    }
  }

  /** Moves the walk on to `next`, closing where it was. */
  private move(from: HeldDir, next: HeldDir): HeldDir {
    from.close();
    return next;
  }

  /** The root, opened by its real path and proven to be the directory the jail opened on. */
  private async openRoot(): Promise<HeldDir> {
    const fd = await openAsync(this.rootRealPath, DIRECTORY);
    const { dev, ino } = fstatSync(fd);
    if (dev !== this.rootId.dev || ino !== this.rootId.ino) {
      closeSync(fd);
      throw outside('/ (the root was replaced)');
    }
    return new HeldDir(fd, '/');
  }
}

/** A last step that lstats the final name and follows it if it is a symlink (undefined: nothing there). */
async function lstatLast(dir: HeldDir, name: string): Promise<Stats | undefined | typeof FOLLOW> {
  const stats = await lstatAsync(dir.entry(name)).catch(ifMissing(undefined));
  return stats?.isSymbolicLink() ? FOLLOW : stats;
}

function components(virtualPath: string): string[] {
  return virtualPath.split('/').filter(Boolean);
}

/** The callback-style calls, promised: no FileHandle objects for descriptors the walk closes itself. */
function openAsync(target: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => open(target, flags, (err, fd) => (err ? reject(err) : resolve(fd))));
}

function lstatAsync(target: string): Promise<Stats> {
  return new Promise((resolve, reject) => lstat(target, (err, stats) => (err ? reject(err) : resolve(stats))));
}

function readlinkAsync(target: string): Promise<string> {
  return new Promise((resolve, reject) => readlink(target, (err, link) => (err ? reject(err) : resolve(link))));
}

/** A rejection handler that turns errno `code` into `value`. */
function ifCode<T>(code: string, value: T): (err: unknown) => T {
  return (err) => {
    if ((err as NodeJS.ErrnoException).code === code) return value;
    throw err;
  };
}

function ifMissing<T>(value: T): (err: unknown) => T {
  return ifCode('ENOENT', value);
}

function errno(code: string, virtualPath: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${virtualPath}`), { code });
}

/** Outside the jail looks exactly like absent: the client learns nothing about the real tree. */
function outside(virtualPath: string): GatewayError {
  return new GatewayError('NOT_FOUND', `path escapes the jail: ${virtualPath}`, { text: 'not_found' });
}
