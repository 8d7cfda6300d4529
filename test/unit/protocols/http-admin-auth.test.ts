/** The admin token: where it comes from, what a request must send, and the errors for a bad one. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config.js';
import { AdminToken, readAdminToken } from '../../../src/protocols/http/admin-auth.js';

const TOKEN = 'correct-horse-battery-staple';

describe('admin token', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'filegate-admin-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('accepts exactly "Bearer <token>"', () => {
    const token = new AdminToken(TOKEN);
    expect(token.accepts(`Bearer ${TOKEN}`)).toBe(true);
    expect(token.accepts(`bearer ${TOKEN}`)).toBe(true);
    for (const header of [undefined, '', 'Bearer', `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, TOKEN, `Basic ${TOKEN}`, `Bearer ${TOKEN} extra`]) {
      expect(token.accepts(header)).toBe(false);
    }
    token.replace('another-token-of-length');
    expect(token.accepts(`Bearer ${TOKEN}`)).toBe(false);
    expect(token.accepts('Bearer another-token-of-length')).toBe(true);
  });

  it('comes from adminToken or the first line of adminTokenFile (relative to the config file)', async () => {
    await writeFile(path.join(dir, 'token'), `${TOKEN}\nignored\n`);
    const config = parseConfig({ http: { adminTokenFile: 'token' } }, 'conf.json', dir);
    expect(config.http?.adminTokenFile).toBe(path.join(dir, 'token'));
    expect(await readAdminToken(config.http)).toBe(TOKEN);
    expect(await readAdminToken(parseConfig({ http: { adminToken: TOKEN } }).http)).toBe(TOKEN);
    expect(await readAdminToken(parseConfig({ http: {} }).http)).toBeUndefined();
    expect((await AdminToken.fromConfig(undefined)).enabled).toBe(false);
    const off = new AdminToken();
    expect(off.accepts('Bearer ')).toBe(false);
    off.replace(TOKEN);
    expect(off.enabled && off.accepts(`Bearer ${TOKEN}`)).toBe(true);
  });

  it('refuses short tokens, both keys at once and an unreadable file, naming the field', async () => {
    expect(() => parseConfig({ http: { adminToken: 'short' } }, 'c.json')).toThrow('c.json: field "http.adminToken": must be at least 16 characters');
    expect(() => parseConfig({ http: { adminToken: TOKEN, adminTokenFile: 'x' } }, 'c.json')).toThrow('field "http.adminToken": give adminToken or adminTokenFile, not both');
    await writeFile(path.join(dir, 'short'), 'abc\n');
    await expect(readAdminToken(parseConfig({ http: { adminTokenFile: 'short' } }, 'c', dir).http)).rejects.toThrow('at least 16 characters');
    await expect(readAdminToken(parseConfig({ http: { adminTokenFile: 'absent' } }, 'c', dir).http)).rejects.toThrow(
      `${path.join(dir, 'absent')}: field "http.adminTokenFile": cannot read the admin token`,
    );
  });
});
