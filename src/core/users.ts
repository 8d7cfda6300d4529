/**
 * User records and where they come from. A daemon plugs in its own `UserDirectory`; the gateway ships
 * one backed by a JSON file (or an inline array). Records are validated when loaded: an error names
 * the file, the user and the field.
 */
import { z } from 'zod';
import { readJsonFile } from './json-file.js';
import { parsePasswordHash } from './passwords.js';

const SSH_KEY_TYPES = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;

/** A relative storage path with no way up or out: "", "alice", "teams/blue". */
const safeRelativePath = z
  .string()
  .refine((p) => !p.includes('\0'), 'must not contain NUL bytes')
  .refine((p) => !p.startsWith('/') && !/^[A-Za-z]:/.test(p), 'must be relative to the storage root')
  .refine((p) => !p.includes('\\'), 'must use "/" as the separator')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".."');

export const userRecordSchema = z.strictObject({
  username: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[^\s:/\\\0]+$/, 'must not contain spaces, ":", "/", "\\" or NUL'),
  password_hash: z
    .string()
    .refine((h) => parsePasswordHash(h) !== undefined, 'must be a scrypt hash from `filegate hash-password`')
    .optional(),
  totp_secret: z
    .string()
    .regex(/^[A-Z2-7]{16,}=*$/i, 'must be base32 (at least 16 characters)')
    .optional(),
  public_keys: z
    .array(
      z.string().refine((line) => parseAuthorizedKey(line) !== undefined, 'must be an OpenSSH public key line'),
    )
    .default([]),
  root_path: safeRelativePath.default(''),
  read_only: z.boolean().default(false),
  max_dir_listing_size: z.number().int().min(0).default(0),
  use_provided_modified_at: z.boolean().default(true),
  windows_mode_ftp: z.boolean().default(false),
  ssl_required: z.boolean().default(false),
  tls_disabled: z.boolean().default(false),
  sftp_insecure_ciphers: z.boolean().default(false),
  two_factor_setup_needed: z.boolean().default(false),
  allowed_2fa_method_sms: z.boolean().default(false),
  allowed_2fa_method_totp: z.boolean().default(true),
  allowed_2fa_method_u2f: z.boolean().default(false),
  allowed_2fa_method_yubi: z.boolean().default(false),
  multiple_regions: z.boolean().default(false),
  language: z.string().min(2).max(16).default('en'),
  site_id: z.number().int().min(0).default(1),
});

export type UserRecordInput = z.input<typeof userRecordSchema>;
export type UserRecord = z.output<typeof userRecordSchema>;

export interface UserDirectory {
  /** The user's record, or undefined when there is no such user. */
  findUser(username: string): Promise<UserRecord | undefined>;
}

export interface AuthorizedKey {
  type: string;
  blob: Buffer;
}

/** Parses one `authorized_keys` style line ("type base64 [comment]"); undefined if it is not one. */
export function parseAuthorizedKey(line: string): AuthorizedKey | undefined {
  const [type, data] = line.trim().split(/\s+/);
  if (!type || !data || !SSH_KEY_TYPES.test(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) return undefined;
  const blob = Buffer.from(data, 'base64');
  // The blob starts with the key type as an SSH string: a cheap check that the line is not garbage.
  if (blob.length < 4 + type.length || blob.toString('latin1', 4, 4 + type.length) !== type) return undefined;
  return { type, blob };
}

export class UserConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserConfigError';
  }
}

/** Validates raw user records; `source` (a file name or "config") goes into every error message. */
export function parseUserRecords(raw: unknown, source: string): UserRecord[] {
  if (!Array.isArray(raw)) throw new UserConfigError(`${source}: expected an array of user records`);
  const seen = new Set<string>();
  return raw.map((entry, index) => {
    const result = userRecordSchema.safeParse(entry);
    const name = (entry as { username?: unknown } | null)?.username;
    const who = typeof name === 'string' ? `user "${name}"` : `user #${index + 1}`;
    if (!result.success) {
      const issue = result.error.issues[0]!;
      const field = issue.path.length ? issue.path.join('.') : issue.code === 'unrecognized_keys' ? '' : '(record)';
      const unknownKeys = issue.code === 'unrecognized_keys' ? `unknown field "${issue.keys.join('", "')}"` : '';
      throw new UserConfigError(
        `${source}: ${who}: ${unknownKeys || `field "${field}": ${issue.message}`}`,
      );
    }
    if (seen.has(result.data.username)) throw new UserConfigError(`${source}: ${who}: duplicate username`);
    seen.add(result.data.username);
    if (!result.data.password_hash && result.data.public_keys.length === 0) {
      throw new UserConfigError(`${source}: ${who}: field "password_hash": a user needs a password_hash or public_keys`);
    }
    return result.data;
  });
}

/** A fixed list of users (inline config, tests, embedding). */
export class StaticUserDirectory implements UserDirectory {
  private byName: Map<string, UserRecord>;

  constructor(records: UserRecord[]) {
    this.byName = new Map(records.map((r) => [r.username, r]));
  }

  /** The records now in force. */
  records(): UserRecord[] {
    return [...this.byName.values()];
  }

  /** Swaps in validated records at once (reload): a login sees either the old set or the new one. */
  replace(records: UserRecord[]): void {
    this.byName = new Map(records.map((r) => [r.username, r]));
  }

  async findUser(username: string): Promise<UserRecord | undefined> {
    return this.byName.get(username);
  }
}

/** Users from a JSON file holding an array of records, validated once at start-up. */
/** The records of a users file; UserConfigError naming the file and the field on anything wrong. */
export async function readUserRecords(file: string): Promise<UserRecord[]> {
  const raw = await readJsonFile(file, 'users file', (message) => new UserConfigError(message));
  return parseUserRecords(raw, file);
}

export class JsonFileUserDirectory extends StaticUserDirectory {
  static async load(file: string): Promise<JsonFileUserDirectory> {
    return new JsonFileUserDirectory(await readUserRecords(file));
  }
}
