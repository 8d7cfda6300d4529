/**
 * The jail: maps client-visible virtual paths (POSIX, `/` = the session's root) to real paths and
 * back, and proves that every real path it hands out lies inside the root after symlinks resolve.
 * Virtual and real paths never share a variable: `virtualPath` vs `realPath`.
 */
import { lstat, mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { GatewayError } from '../errors.js';

const MAX_PATH_LENGTH = 4096;

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

export class Jail {
  private constructor(readonly rootRealPath: string) {}

  /** Opens (creating if needed) `rootPath` under `storageRealPath`. */
  static async open(storageRealPath: string, rootPath: string): Promise<Jail> {
    const root = path.resolve(storageRealPath, rootPath);
    await mkdir(root, { recursive: true });
    return new Jail(await realpath(root));
  }

  contains(realPath: string): boolean {
    return realPath === this.rootRealPath || realPath.startsWith(this.rootRealPath + path.sep);
  }

  /** The virtual path of a real path inside the jail, or undefined when it is outside. */
  toVirtual(realPath: string): string | undefined {
    if (!this.contains(realPath)) return undefined;
    const relative = path.relative(this.rootRealPath, realPath);
    return `/${relative.split(path.sep).join('/')}`.replace(/\/$/, '') || '/';
  }

  /**
   * The real path for a normalised virtual path, with every symlink resolved and proven inside the
   * jail. `followLast: false` resolves only the parent (for lstat, remove, rename, readlink), so the
   * link itself is addressed. Paths that do not exist yet resolve through their nearest existing
   * ancestor; a dangling symlink on the way is refused (creating through it could land outside).
   */
  async resolve(virtualPath: string, followLast = true): Promise<string> {
    const segments = virtualPath.split('/').filter(Boolean);
    if (!followLast && segments.length > 0) {
      const last = segments.pop()!;
      const parent = await this.resolve(`/${segments.join('/')}`, true);
      return path.join(parent, last);
    }
    try {
      const resolved = await realpath(path.join(this.rootRealPath, ...segments));
      if (this.contains(resolved)) return resolved; // the common case: one syscall
      throw outside(virtualPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let existing = this.rootRealPath;
    let index = 0;
    for (; index < segments.length; index++) {
      const candidate = path.join(existing, segments[index]!);
      let resolved: string;
      try {
        resolved = await realpath(candidate);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        if (await exists(candidate)) throw outside(virtualPath); // a dangling symlink
        break;
      }
      if (!this.contains(resolved)) throw outside(virtualPath);
      existing = resolved;
    }
    return path.join(existing, ...segments.slice(index));
  }
}

async function exists(realPath: string): Promise<boolean> {
  try {
    await lstat(realPath);
    return true;
  } catch {
    return false;
  }
}

/** Outside the jail looks exactly like absent: the client learns nothing about the real tree. */
function outside(virtualPath: string): GatewayError {
  return new GatewayError('NOT_FOUND', `path escapes the jail: ${virtualPath}`, { text: 'not_found' });
}
