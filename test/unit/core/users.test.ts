/** User records: validation errors name the source, the user and the field; the JSON file loader. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  JsonFileUserDirectory,
  StaticUserDirectory,
  UserConfigError,
  hashPassword,
  parseAuthorizedKey,
  parseUserRecords,
} from '../../../src/core/index.js';
import { makeTempDir } from './fixtures.js';

const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop';
let hash: string;
let temp: Awaited<ReturnType<typeof makeTempDir>>;

beforeAll(async () => {
  hash = await hashPassword('pw');
  temp = await makeTempDir();
});
afterAll(() => temp.remove());

/** The message of the UserConfigError that parsing `records` throws. */
function parseError(records: unknown, source = 'users.json'): string {
  try {
    parseUserRecords(records, source);
  } catch (err) {
    expect(err).toBeInstanceOf(UserConfigError);
    return (err as Error).message;
  }
  throw new Error('expected parseUserRecords to throw');
}

describe('parseUserRecords', () => {
  it('fills in the documented defaults', () => {
    const [alice] = parseUserRecords([{ username: 'alice', password_hash: hash }], 'users.json');
    expect(alice).toMatchObject({
      username: 'alice',
      root_path: '',
      public_keys: [],
      read_only: false,
      max_dir_listing_size: 0,
      use_provided_modified_at: true,
      windows_mode_ftp: false,
      ssl_required: false,
      tls_disabled: false,
      sftp_insecure_ciphers: false,
      two_factor_setup_needed: false,
      allowed_2fa_method_totp: true,
      language: 'en',
      site_id: 1,
    });
  });

  it.each([
    ['an unknown key', { password_hash: 'HASH', colour: 'blue' }, 'colour'],
    ['a wrong type', { password_hash: 'HASH', read_only: 'yes' }, 'read_only'],
    ['a negative listing cap', { password_hash: 'HASH', max_dir_listing_size: -1 }, 'max_dir_listing_size'],
    ['a root_path with ..', { password_hash: 'HASH', root_path: 'alice/../bob' }, 'root_path'],
    ['a root_path that is only ..', { password_hash: 'HASH', root_path: '..' }, 'root_path'],
    ['an absolute root_path', { password_hash: 'HASH', root_path: '/etc' }, 'root_path'],
    ['a drive-letter root_path', { password_hash: 'HASH', root_path: 'C:/data' }, 'root_path'],
    ['a backslash root_path', { password_hash: 'HASH', root_path: 'a\\..\\b' }, 'root_path'],
    ['a bad password_hash', { password_hash: 'plaintext' }, 'password_hash'],
    ['a bad public key', { public_keys: ['ssh-ed25519 not-base64!'] }, 'public_keys'],
    ['a key line of the wrong type', { public_keys: [ED25519.replace('ssh-ed25519', 'ssh-rsa')] }, 'public_keys'],
    ['a bad TOTP secret', { password_hash: 'HASH', totp_secret: 'not base32!' }, 'totp_secret'],
    ['no credential at all', {}, 'password_hash'],
  ])('refuses %s, naming source, user and field', (_what, fields, field) => {
    const record = { username: 'alice', ...fields } as Record<string, unknown>;
    if (record.password_hash === 'HASH') record.password_hash = hash;
    const message = parseError([record]);
    expect(message).toContain('users.json');
    expect(message).toContain('"alice"');
    expect(message).toContain(field);
  });

  it('names a user without a usable username by position', () => {
    const message = parseError([{ username: 'ok', password_hash: hash }, { username: 'bad name', password_hash: hash }]);
    expect(message).toContain('"bad name"');
    expect(message).toContain('username');
    expect(parseError([{ username: 'ok', password_hash: hash }, { password_hash: hash }])).toContain('#2');
  });

  it('refuses a duplicate username', () => {
    const message = parseError([
      { username: 'alice', password_hash: hash },
      { username: 'alice', public_keys: [ED25519] },
    ]);
    expect(message).toMatch(/users\.json.*"alice".*duplicate/);
  });

  it('refuses anything but an array', () => {
    expect(parseError({ username: 'alice' })).toContain('users.json');
    expect(parseError(null)).toContain('array');
  });

  it('accepts a public-key-only user and nested root paths', () => {
    const [bob] = parseUserRecords([{ username: 'bob', public_keys: [ED25519], root_path: 'teams/blue' }], 'users.json');
    expect(bob!.root_path).toBe('teams/blue');
    expect(bob!.password_hash).toBeUndefined();
  });
});

describe('parseAuthorizedKey', () => {
  it('reads type and blob of an OpenSSH key line', () => {
    const key = parseAuthorizedKey(ED25519);
    expect(key?.type).toBe('ssh-ed25519');
    expect(key?.blob.toString('latin1', 4, 15)).toBe('ssh-ed25519');
  });

  it.each(['', 'ssh-ed25519', 'ssh-ed25519 @@@@', 'ssh-dss AAAAB3NzaC1kc3MAAACB', `ssh-rsa ${ED25519.split(' ')[1]}`])('refuses %j', (line) => {
    expect(parseAuthorizedKey(line)).toBeUndefined();
  });
});

describe('user directories', () => {
  it('finds users by exact name', async () => {
    const users = new StaticUserDirectory(parseUserRecords([{ username: 'alice', password_hash: hash }], 'x'));
    expect((await users.findUser('alice'))?.username).toBe('alice');
    expect(await users.findUser('Alice')).toBeUndefined();
    expect(await users.findUser('__proto__')).toBeUndefined();
  });

  it('loads a JSON users file', async () => {
    const file = path.join(temp.dir, 'users.json');
    await writeFile(file, JSON.stringify([{ username: 'alice', password_hash: hash }]));
    const users = await JsonFileUserDirectory.load(file);
    expect((await users.findUser('alice'))?.password_hash).toBe(hash);
  });

  it('names the file when it is missing', async () => {
    const file = path.join(temp.dir, 'missing.json');
    await expect(JsonFileUserDirectory.load(file)).rejects.toThrow(UserConfigError);
    await expect(JsonFileUserDirectory.load(file)).rejects.toThrow(file);
  });

  it('names the file when it is not JSON', async () => {
    const file = path.join(temp.dir, 'broken.json');
    await writeFile(file, '[{"username": "alice",');
    await expect(JsonFileUserDirectory.load(file)).rejects.toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid JSON`));
  });

  it('names the file, user and field when a record is bad', async () => {
    const file = path.join(temp.dir, 'bad-record.json');
    await writeFile(file, JSON.stringify([{ username: 'carol', password_hash: hash, read_only: 1 }]));
    const error = await JsonFileUserDirectory.load(file).then(() => undefined, (e: Error) => e);
    expect(error?.message).toContain(file);
    expect(error?.message).toContain('"carol"');
    expect(error?.message).toContain('read_only');
  });
});
