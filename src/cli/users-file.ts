/**
 * Safe edits of a users file: one editor at a time (a lock file), the whole new content validated by
 * the same rules as start-up, then written to a temporary file, flushed and renamed over the old one,
 * so a running gateway's reload never reads half a file.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { UserConfigError, parseUserRecords, readJsonFile, type UserRecord } from '../core/index.js';

export interface UsersFile {
  /** The records as written in the file (defaults not filled in): what gets written back. */
  raw: Record<string, unknown>[];
  /** The same records validated. */
  records: UserRecord[];
}

export async function readUsersFile(file: string): Promise<UsersFile> {
  const raw = await readJsonFile(file, 'users file', (message) => new UserConfigError(message));
  const records = parseUserRecords(raw, file);
  return { raw: raw as Record<string, unknown>[], records };
}

/**
 * Runs `edit` on the file's current records under the lock and writes its result; returns the
 * records before and after. Nothing is written when `edit` or the validation throws.
 */
export async function editUsersFile(
  file: string,
  edit: (raw: Record<string, unknown>[]) => Record<string, unknown>[] | Promise<Record<string, unknown>[]>,
): Promise<{ before: UserRecord[]; after: UserRecord[] }> {
  const lock = `${file}.lock`;
  const held = await open(lock, 'wx', 0o600).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') throw new UserConfigError(`${file}: another edit is in progress (remove ${lock} if none is)`);
    throw err;
  });
  try {
    const current = await readUsersFile(file);
    const raw = await edit(structuredClone(current.raw));
    const after = parseUserRecords(raw, file);
    await replaceFile(file, `${JSON.stringify(raw, null, 2)}\n`);
    return { before: current.records, after };
  } finally {
    await held.close();
    await unlink(lock).catch(() => {});
  }
}

async function replaceFile(file: string, content: string): Promise<void> {
  const mode = (await stat(file)).mode & 0o777;
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
    await handle.close();
    await rename(temp, file);
  } catch (err) {
    await handle.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw err;
  }
  // The rename itself must survive a crash too.
  const dir = await open(path.dirname(file), 'r');
  await dir.sync().finally(() => dir.close());
}
