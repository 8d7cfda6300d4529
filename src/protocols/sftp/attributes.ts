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

/**
 * The `ls -l` lines OpenSSH's sftp-server sends as READDIR long names (numeric owner and group),
 * for the entries of one reply. Entries mostly share owners, groups and often the minute they were
 * written: those parts are formatted once (local time fields cost a time-zone lookup each).
 */
export class LongNames {
  private readonly times = new Map<number, string>();
  private readonly ids = new Map<number, string>();
  private readonly modes = new Map<number, string>();
  private readonly scratch = new Date(0);

  constructor(private readonly now = Date.now()) {}

  format(name: string, stats: Stats): string {
    const owner = this.id(stats.uid);
    const group = this.id(stats.gid);
    let mode = this.modes.get(stats.mode);
    if (mode === undefined) this.modes.set(stats.mode, (mode = modeString(stats.mode)));
    return `${mode} ${String(stats.nlink).padStart(3)} ${owner} ${group} ${String(stats.size).padStart(8)} ${this.time(stats.mtimeMs)} ${name}`;
  }

  private id(id: number): string {
    let text = this.ids.get(id);
    if (text === undefined) this.ids.set(id, (text = String(id).padEnd(8).slice(0, 8)));
    return text;
  }

  private time(mtimeMs: number): string {
    const minute = Math.floor(mtimeMs / 60_000);
    let text = this.times.get(minute);
    if (text !== undefined) return text;
    const mtime = this.scratch;
    mtime.setTime(minute * 60_000);
    const day = String(mtime.getDate()).padStart(2, ' ');
    text =
      Math.abs(this.now - mtime.getTime()) < SIX_MONTHS_MS
        ? `${MONTHS[mtime.getMonth()]} ${day} ${pad2(mtime.getHours())}:${pad2(mtime.getMinutes())}`
        : `${MONTHS[mtime.getMonth()]} ${day}  ${mtime.getFullYear()}`;
    this.times.set(minute, text);
    return text;
  }
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** File type letters by the S_IFMT bits of a mode. */
const TYPE_LETTER = new Map([
  [0o040000, 'd'], [0o120000, 'l'], [0o010000, 'p'], [0o140000, 's'], [0o020000, 'c'], [0o060000, 'b'],
]);

function modeString(m: number): string {
  const type = TYPE_LETTER.get(m & 0o170000) ?? '-';
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
