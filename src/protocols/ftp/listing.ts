/**
 * Directory listing formats: `ls -l` lines for LIST and STAT, RFC 3659 facts for MLSD/MLST, and
 * the RFC 3659 time-val (YYYYMMDDHHMMSS, UTC) used by MDTM, MFMT and SITE UTIME.
 */
import type { Stats } from 'node:fs';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const HALF_YEAR_MS = 182 * 24 * 3600_000;

const RWX = ['---', '--x', '-w-', '-wx', 'r--', 'r-x', 'rw-', 'rwx'];
/** Date columns by minute (and whether recent): entries of one directory mostly share a few. */
const dateColumns = new Map<number, string>();
const DATE_CACHE_LIMIT = 4096;

/** One `ls -l` line. Owner and group are not the server's uids (they would leak nothing useful). */
export function lsLine(name: string, stats: Stats, now = Date.now()): string {
  const type = stats.isDirectory() ? 'd' : stats.isSymbolicLink() ? 'l' : '-';
  const mode = stats.mode;
  const perms = RWX[(mode >> 6) & 7]! + RWX[(mode >> 3) & 7]! + RWX[mode & 7]!;
  return `${type}${perms} 1 ftp ftp ${String(stats.size).padStart(12)} ${dateColumn(stats.mtimeMs, now)} ${name}`;
}

/** `Mon DD HH:MM` within half a year of now, else `Mon DD  YYYY` (UTC), as ls prints it. */
function dateColumn(mtimeMs: number, now: number): string {
  const recent = Math.abs(now - mtimeMs) < HALF_YEAR_MS;
  const minute = Math.floor(mtimeMs / 60_000);
  const key = recent ? minute : -minute - 1;
  let column = dateColumns.get(key);
  if (column === undefined) {
    const m = new Date(minute * 60_000);
    const pad2 = (n: number): string => String(n).padStart(2, '0');
    const when = recent ? `${pad2(m.getUTCHours())}:${pad2(m.getUTCMinutes())}` : ` ${m.getUTCFullYear()}`;
    column = `${MONTHS[m.getUTCMonth()]} ${String(m.getUTCDate()).padStart(2)} ${when}`;
    if (dateColumns.size >= DATE_CACHE_LIMIT) dateColumns.clear();
    dateColumns.set(key, column);
  }
  return column;
}

/**
 * RFC 3659 facts for one entry. `perm` says what this session may do, so a read-only session's
 * entries carry no write permissions.
 */
export function mlsxFacts(stats: Stats, writable: boolean): string {
  const type = stats.isDirectory() ? 'dir' : stats.isFile() ? 'file' : 'OS.unix=symlink';
  const perm = stats.isDirectory() ? `el${writable ? 'cdfmp' : ''}` : `r${writable ? 'adfw' : ''}`;
  return `type=${type};size=${stats.size};modify=${ftpTime(stats.mtime)};perm=${perm};`;
}

export function ftpTime(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** Parses YYYYMMDDHHMMSS[.fff] (UTC); undefined when malformed or not a real date. */
export function parseFtpTime(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,3}))?$/.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms));
  return ftpTime(date) === m.slice(1, 7).join('') ? date : undefined;
}
