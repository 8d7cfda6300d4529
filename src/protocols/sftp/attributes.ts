/** SFTP v3 wire shapes <-> core shapes: open flags, ATTRS, `ls -l` style long names. */
import type { Stats } from 'node:fs';
import type { AttributeChange, OpenMode } from '../../core/index.js';
import { OPEN_FLAG, type WireAttributes } from './codec.js';

export function toOpenMode(pflags: number): OpenMode {
  return {
    read: (pflags & OPEN_FLAG.READ) !== 0,
    write: (pflags & OPEN_FLAG.WRITE) !== 0,
    append: (pflags & OPEN_FLAG.APPEND) !== 0,
    create: (pflags & OPEN_FLAG.CREAT) !== 0,
    truncate: (pflags & OPEN_FLAG.TRUNC) !== 0,
    exclusive: (pflags & OPEN_FLAG.EXCL) !== 0,
  };
}

/** The change a client asks for; times arrive in seconds and only as an atime/mtime pair. */
export function toAttributeChange(attrs: WireAttributes): AttributeChange {
  const change: AttributeChange = {};
  if (attrs.mode !== undefined) change.mode = attrs.mode;
  if (attrs.size !== undefined) change.size = attrs.size;
  if (attrs.mtime !== undefined) {
    change.mtime = new Date(attrs.mtime * 1000);
    change.atime = new Date((attrs.atime ?? attrs.mtime) * 1000);
  }
  if (attrs.uid !== undefined) change.uid = attrs.uid;
  if (attrs.gid !== undefined) change.gid = attrs.gid;
  return change;
}

export function toWireAttributes(stats: Stats): WireAttributes {
  return {
    mode: stats.mode,
    uid: stats.uid,
    gid: stats.gid,
    size: stats.size,
    atime: Math.floor(stats.atimeMs / 1000),
    mtime: Math.floor(stats.mtimeMs / 1000),
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SIX_MONTHS_MS = 182 * 24 * 60 * 60 * 1000;

/** The `ls -l` line OpenSSH's sftp-server sends as a READDIR long name (numeric owner and group). */
export function longName(name: string, stats: Stats, now = Date.now()): string {
  const mtime = stats.mtime;
  const recent = Math.abs(now - stats.mtimeMs) < SIX_MONTHS_MS;
  const day = String(mtime.getDate()).padStart(2, ' ');
  const when = recent
    ? `${MONTHS[mtime.getMonth()]} ${day} ${pad2(mtime.getHours())}:${pad2(mtime.getMinutes())}`
    : `${MONTHS[mtime.getMonth()]} ${day}  ${mtime.getFullYear()}`;
  const owner = String(stats.uid).padEnd(8).slice(0, 8);
  const group = String(stats.gid).padEnd(8).slice(0, 8);
  return `${modeString(stats)} ${String(stats.nlink).padStart(3)} ${owner} ${group} ${String(stats.size).padStart(8)} ${when} ${name}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function modeString(stats: Stats): string {
  const type = stats.isDirectory() ? 'd' : stats.isSymbolicLink() ? 'l' : stats.isFIFO() ? 'p' : stats.isSocket() ? 's'
    : stats.isCharacterDevice() ? 'c' : stats.isBlockDevice() ? 'b' : '-';
  const m = stats.mode;
  const bit = (mask: number, ch: string): string => (m & mask ? ch : '-');
  const exec = (mask: number, special: number, set: string, unset: string): string =>
    m & special ? (m & mask ? set : unset) : m & mask ? 'x' : '-';
  return (
    type +
    bit(0o400, 'r') + bit(0o200, 'w') + exec(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') + bit(0o020, 'w') + exec(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') + bit(0o002, 'w') + exec(0o001, 0o1000, 't', 'T')
  );
}
