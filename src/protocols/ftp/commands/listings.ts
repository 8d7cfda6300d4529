/**
 * LIST, NLST and MLSD: streamed from the directory page by page (the core keeps the order, the
 * jail and the max_dir_listing_size cap), so no listing is built whole in memory before it is
 * sent. A name holding a control character is left out: it could forge lines a client acts on.
 */
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Stats } from 'node:fs';
import { GatewayError, hasControlCharacter, type DirectoryPages, type FileInfo } from '../../../core/index.js';
import { lsLine, mlsxFacts } from '../listing.js';
import type { CommandTable, FtpCommand, FtpCommandContext } from './context.js';
import { download } from './transfer.js';

type ListFormat = 'ls' | 'names' | 'mlsd';

/** Entries per page: the unit of one chunk of listing text. */
const PAGE_ENTRIES = 512;
/** Entries STAT <path> shows at most. */
export const STAT_MAX_LINES = 10_000;
/** Memory for the names of one directory scan (see DirectoryPages). */
const SCAN_WINDOW_BYTES = 4 * 1024 * 1024;

/** What a listing shows for a symlink: inside the jail, what it points to, so clients can follow it. */
async function shownStats(control: FtpCommandContext, virtualPath: string, stats: Stats): Promise<Stats> {
  return control.files.stat(virtualPath).catch(() => stats);
}

/** The entries of a listing, page by page. Opening it is where refusals (not found, MLSD of a file) happen. */
async function listingPages(control: FtpCommandContext, virtualPath: string, format: ListFormat): Promise<Iterable<FileInfo[]> | AsyncIterable<FileInfo[]>> {
  let pages: DirectoryPages;
  try {
    pages = await control.files.openDirectory(virtualPath); // the common case first: no stat of its own
  } catch (err) {
    if (format === 'mlsd' || !(err instanceof GatewayError) || err.code !== 'NOT_A_DIRECTORY') throw err;
    return [[{ name: path.posix.basename(virtualPath), stats: await control.files.stat(virtualPath) }]]; // LIST/NLST of a file
  }
  return (async function* () {
    try {
      for (;;) {
        const page = await pages.page(PAGE_ENTRIES, SCAN_WINDOW_BYTES);
        if (page.length === 0) return;
        yield page;
      }
    } finally {
      pages.close(); // the directory's descriptor, however the listing ends
    }
  })();
}

/** The text of a listing, one chunk per page. */
async function* listingText(control: FtpCommandContext, virtualPath: string, format: ListFormat): AsyncGenerator<string> {
  const canWrite = control.mayWrite;
  const now = Date.now();
  for await (const page of await listingPages(control, virtualPath, format)) {
    let text = '';
    for (const { name, stats } of page) {
      if (hasControlCharacter(name)) continue;
      if (format === 'names') {
        text += `${name}\r\n`;
        continue;
      }
      const shown = stats.isSymbolicLink() ? await shownStats(control, path.posix.join(virtualPath, name), stats) : stats;
      text += format === 'ls' ? `${lsLine(name, shown, now)}\r\n` : `${mlsxFacts(shown, canWrite)} ${name}\r\n`;
    }
    yield text;
  }
}

/** The lines of a listing for a reply on the control connection (STAT path). */
export async function listingLines(control: FtpCommandContext, virtualPath: string): Promise<{ lines: string[]; complete: boolean }> {
  const lines: string[] = [];
  const text = listingText(control, virtualPath, 'ls');
  for await (const chunk of text) {
    lines.push(...chunk.split('\r\n').slice(0, -1));
    // A reply on the control connection is built whole: beyond this, LIST (streamed) is the way.
    if (lines.length >= STAT_MAX_LINES) {
      await text.return(undefined); // closes the directory
      return { lines: lines.slice(0, STAT_MAX_LINES), complete: false };
    }
  }
  return { lines, complete: true };
}

/** LIST/NLST take `ls` options (`LIST -la`) some clients send; they are ignored, as vsftpd does. */
function withoutListOptions(arg: string): string {
  return arg.replace(/^(-[a-zA-Z]+\s*)+/, '');
}

function listing(format: ListFormat): FtpCommand {
  return {
    async run(control, arg) {
      const target = format === 'mlsd' ? arg : withoutListOptions(arg);
      const text = listingText(control, control.path(target === '' ? '.' : target), format);
      // The first page is read before the data connection is used: refusals come first.
      const first = await text.next();
      const source = Readable.from(
        (async function* () {
          if (first.done) return;
          yield Buffer.from(first.value, 'utf8');
          for await (const chunk of text) yield Buffer.from(chunk, 'utf8');
        })(),
      );
      try {
        await download(control, source, 'Here comes the directory listing.');
      } finally {
        await text.return(undefined); // a listing never read to its end still lets its directory go
      }
    },
  };
}

export const listingCommands: CommandTable = {
  LIST: listing('ls'),
  NLST: listing('names'),
  MLSD: listing('mlsd'),
};
