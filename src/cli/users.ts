/**
 * `filegate users add | set | remove | list`: edits the users file a running gateway reads on
 * SIGHUP. Every user-record field is a flag (`--read-only`, `--root-path teams/blue`,
 * `--max-dir-listing-size 100`, `--no-ssl-required`); a password is read from stdin or prompted for,
 * never taken from argv.
 */
import { loadConfigFile } from '../config.js';
import { diffUsers, hashPassword, userRecordSchema, type UserChanges, type UserRecord } from '../core/index.js';
import { readPassword } from './password-input.js';
import { newTotpSecret, totpEnrollment } from './totp.js';
import { editUsersFile, readUsersFile } from './users-file.js';

export const USERS_HELP = `Usage:
  filegate users list [--json]                 the users (no hashes or secrets)
  filegate users add NAME [--FIELD VALUE]...   a new user (root_path NAME unless given); the password
                                               is read from stdin or prompted for (a user with
                                               --public-keys needs none)
  filegate users set NAME [--FIELD VALUE]...   change fields; --password reads a new password
  filegate users remove NAME
Every command takes --config FILE (the users file it names) or --users FILE.
Fields: a boolean as --read-only, --read-only false or --no-read-only; others as --root-path VALUE;
--public-keys LINE (repeat it for several keys; set replaces the list); --totp (a new TOTP secret,
printed with a QR code) or --no-totp. Send SIGHUP to filegate afterwards to apply the change.`;

type Kind = 'boolean' | 'number' | 'string' | 'list';

/** Field name -> kind, from the schema's defaults: a new field in the schema is a flag at once. */
const FIELDS: ReadonlyMap<string, Kind> = new Map(
  Object.entries(userRecordSchema.parse({ username: 'x' }))
    .filter(([name]) => name !== 'username')
    .map(([name, value]) => [name, Array.isArray(value) ? 'list' : (typeof value as Kind)]),
);
const SECRET_FIELDS = new Set(['password_hash', 'totp_secret']);

interface Parsed {
  positionals: string[];
  fields: Map<string, unknown>;
  password: boolean;
  totp?: boolean;
  json: boolean;
  config?: string;
  users?: string;
}

export async function usersCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USERS_HELP);
    return 0;
  }
  const args = parseArgs(argv);
  const [action, name, ...extra] = args.positionals;
  const file = await usersFileOf(args);
  const wantsName = action === 'add' || action === 'set' || action === 'remove';
  if (!(wantsName || action === 'list') || (wantsName ? name === undefined : name !== undefined) || extra.length > 0) {
    throw new UsageError(`expected list, add NAME, set NAME or remove NAME`);
  }
  if (action === 'list') {
    const { records } = await readUsersFile(file);
    console.log(args.json ? JSON.stringify(records.map(publicView), null, 2) : listTable(records));
    return 0;
  }
  if ((action === 'remove' && (args.fields.size > 0 || args.password || args.totp !== undefined)) || (action === 'add' && args.totp === false)) {
    throw new UsageError(`${action}: unexpected options`);
  }
  let secret: string | undefined;
  const { before, after } = await editUsersFile(file, async (raw) => {
    const index = raw.findIndex((entry) => entry.username === name);
    if (action === 'remove') {
      if (index < 0) throw new UsageError(`no user "${name}" in ${file}`);
      return raw.filter((_, i) => i !== index);
    }
    if (action === 'add' && index >= 0) throw new UsageError(`user "${name}" already exists in ${file}`);
    if (action === 'set' && index < 0) throw new UsageError(`no user "${name}" in ${file}`);
    const entry: Record<string, unknown> = action === 'add' ? { username: name, root_path: name } : raw[index]!;
    for (const [field, value] of args.fields) entry[field] = value;
    const needsPassword = args.password || (action === 'add' && !args.fields.has('public_keys'));
    if (needsPassword) entry.password_hash = await hashPassword(await readPassword(`Password for ${name}: `));
    if (args.totp === true) entry.totp_secret = secret = newTotpSecret();
    if (args.totp === false) delete entry.totp_secret;
    return action === 'add' ? [...raw, entry] : raw;
  });
  console.log(describe(diffUsers(before, after), before, after));
  if (secret) console.log(totpEnrollment(secret, name!));
  console.log('Send SIGHUP to filegate (systemctl reload filegate) to apply.');
  return 0;
}

export class UsageError extends Error {}

function parseArgs(argv: string[]): Parsed {
  const parsed: Parsed = { positionals: [], fields: new Map(), password: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      parsed.positionals.push(arg);
      continue;
    }
    const [flag, inline] = splitInline(arg.slice(2));
    const next = (): string => {
      if (inline !== undefined) return inline;
      const value = argv[++i];
      if (value === undefined) throw new UsageError(`--${flag} needs a value`);
      return value;
    };
    if (flag === 'config' || flag === 'users') parsed[flag] = next();
    else if (flag === 'json' || flag === 'password') parsed[flag] = true;
    else if (flag === 'totp' || flag === 'no-totp') parsed.totp = flag === 'totp';
    else {
      const negated = flag.startsWith('no-');
      const field = (negated ? flag.slice(3) : flag).replace(/-/g, '_');
      const kind = FIELDS.get(field);
      if (!kind || SECRET_FIELDS.has(field)) throw new UsageError(`unknown option --${flag}`);
      if (kind === 'boolean') {
        const explicit = inline ?? (argv[i + 1] === 'true' || argv[i + 1] === 'false' ? argv[++i] : undefined);
        if (explicit !== undefined && explicit !== 'true' && explicit !== 'false') throw new UsageError(`--${flag}: true or false`);
        parsed.fields.set(field, negated ? false : explicit !== 'false');
      } else if (negated) {
        throw new UsageError(`unknown option --${flag}`);
      } else if (kind === 'number') {
        const text = next();
        const value = Number(text);
        if (text.trim() === '' || !Number.isFinite(value)) throw new UsageError(`--${flag}: "${text}" is not a number`);
        parsed.fields.set(field, value);
      } else if (kind === 'list') {
        parsed.fields.set(field, [...((parsed.fields.get(field) as string[] | undefined) ?? []), next()]);
      } else parsed.fields.set(field, next());
    }
  }
  return parsed;
}

function splitInline(flag: string): [string, string | undefined] {
  const eq = flag.indexOf('=');
  return eq < 0 ? [flag, undefined] : [flag.slice(0, eq), flag.slice(eq + 1)];
}

async function usersFileOf(args: Parsed): Promise<string> {
  if (args.users !== undefined) return args.users;
  if (args.config === undefined) throw new UsageError('give --config FILE or --users FILE');
  const config = await loadConfigFile(args.config);
  if (typeof config.users !== 'string') throw new UsageError(`${args.config}: its users are inline; edit them there or point "users" at a file`);
  return config.users;
}

/** "added", "removed" and field-by-field changes; secrets only as "changed". */
function describe(changes: UserChanges, before: UserRecord[], after: UserRecord[]): string {
  const lines = [
    ...changes.added.map((name) => `added user "${name}"`),
    ...changes.removed.map((name) => `removed user "${name}"`),
  ];
  for (const { username, fields } of changes.changed) {
    const old = before.find((r) => r.username === username)!;
    const now = after.find((r) => r.username === username)!;
    for (const field of fields) {
      const key = field as keyof UserRecord;
      lines.push(
        SECRET_FIELDS.has(field)
          ? `user "${username}": ${field} ${now[key] === undefined ? 'removed' : old[key] === undefined ? 'set' : 'changed'}`
          : `user "${username}": ${field} ${JSON.stringify(old[key])} -> ${JSON.stringify(now[key])}`,
      );
    }
  }
  return lines.length > 0 ? lines.join('\n') : 'nothing changed';
}

/** A record without its secrets, with what kind of login it has. */
function publicView(record: UserRecord): Record<string, unknown> {
  const { password_hash, totp_secret, public_keys, ...rest } = record;
  return { ...rest, password: password_hash !== undefined, totp: totp_secret !== undefined, public_keys: public_keys.length };
}

function listTable(records: UserRecord[]): string {
  if (records.length === 0) return 'no users';
  const rows = [
    ['USERNAME', 'ROOT PATH', 'LOGIN', 'FLAGS'],
    ...records.map((r) => [
      r.username,
      r.root_path === '' ? '/' : r.root_path,
      [r.password_hash && 'password', r.public_keys.length > 0 && `${r.public_keys.length} key(s)`, r.totp_secret && 'totp'].filter(Boolean).join('+'),
      (['read_only', 'ssl_required', 'tls_disabled', 'sftp_insecure_ciphers', 'windows_mode_ftp', 'two_factor_setup_needed'] as const)
        .filter((flag) => r[flag])
        .join(','),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
