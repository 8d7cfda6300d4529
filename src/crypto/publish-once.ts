/**
 * Generated key material is shared by every process that starts on one certs directory at once
 * (`--workers N`, nodes on one volume): a file must appear whole or not at all, and the first one
 * written wins.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';

/**
 * Creates `file` with `data` unless it exists, atomically (a complete temporary file hard-linked into
 * place, which fails if the name is taken). Returns what `file` holds afterwards: ours, or the
 * content of whoever won the race.
 */
export async function publishOnce(file: string, data: string | Buffer, mode: number): Promise<Buffer> {
  const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, data, { mode, flag: 'wx' });
  try {
    await link(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(temp).catch(() => {});
  }
  return readFile(file);
}

/** Reads `file`, waiting up to `timeoutMs` for another process to publish it. */
export async function readWhenPublished(file: string, timeoutMs = 10_000): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const content = await readFile(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT' || Date.now() > deadline) throw err;
      return undefined;
    });
    if (content) return content;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
