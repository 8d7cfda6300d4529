/**
 * The protocol-neutral conformance cases: login, read_only, the jail, the listing cap, the mtime
 * rule and TOTP, written once and run against every adapter (`*.conformance.test.ts`).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpVerifier } from '../../../src/core/index.js';
import { TOTP_SECRET, startGateway, user, type TestGateway } from '../../helpers/gateway.js';
import type { FileClient, ProtocolDriver } from './drivers.js';

const PASSWORD = 'correct horse battery';

export function runConformance(driver: ProtocolDriver): void {
  describe(`${driver.name} conformance`, () => {
    let gw: TestGateway;
    const home = (name: string): string => path.join(gw.storage, name);

    beforeAll(async () => {
      gw = await startGateway({
        ...driver.listeners(),
        users: await Promise.all([
          user('alice', PASSWORD),
          user('reader', PASSWORD, { read_only: true }),
          user('capped', PASSWORD, { max_dir_listing_size: 3 }),
          user('keeper', PASSWORD, { use_provided_modified_at: false }),
          user('totp', PASSWORD, { totp_secret: TOTP_SECRET }),
        ]),
      });
      for (const name of ['alice', 'reader', 'capped', 'keeper', 'totp']) await mkdir(home(name), { recursive: true });
      await writeFile(home('reader/existing.txt'), 'keep me\n');
      for (const n of ['e', 'b', 'd', 'a', 'c']) await writeFile(home(`capped/${n}.txt`), n);
      await writeFile(path.join(gw.storage, 'secret-outside.txt'), 'outside the jail');
      await symlink(gw.storage, home('alice/escape'));
    });
    afterAll(() => gw?.close());

    const withClient = async <T>(username: string, run: (client: FileClient) => Promise<T>, otp?: string): Promise<T> => {
      const client = await driver.connect(gw, { username, password: PASSWORD, otp });
      try {
        return await run(client);
      } finally {
        await client.close();
      }
    };

    it('logs in with the right password and refuses a wrong one or an unknown user', async () => {
      await withClient('alice', async (c) => expect(await c.list('/')).toBeInstanceOf(Array));
      await expect(driver.connect(gw, { username: 'alice', password: 'wrong' })).rejects.toThrow();
      await expect(driver.connect(gw, { username: 'nobody', password: PASSWORD })).rejects.toThrow();
    });

    it('round-trips 1 MiB byte for byte', async () => {
      const data = randomBytes(1024 * 1024);
      await withClient('alice', async (c) => {
        await c.upload('/round.bin', data);
        expect((await c.download('/round.bin')).equals(data)).toBe(true);
      });
    });

    it('read_only refuses every write and allows reads and listings', async () => {
      await withClient('reader', async (c) => {
        expect((await c.download('/existing.txt')).toString()).toBe('keep me\n');
        expect(await c.list('/')).toEqual(['existing.txt']);
        await expect(c.upload('/new.txt', Buffer.from('x'))).rejects.toThrow();
        await expect(c.mkdir('/dir')).rejects.toThrow();
        await expect(c.remove('/existing.txt')).rejects.toThrow();
        await expect(c.rename('/existing.txt', '/moved.txt')).rejects.toThrow();
        await expect(c.setModifiedTime('/existing.txt', new Date('2001-02-03T04:05:06Z'))).rejects.toThrow();
      });
      expect(await readdir(home('reader'))).toEqual(['existing.txt']);
      expect((await stat(home('reader/existing.txt'))).mtime.getUTCFullYear()).not.toBe(2001);
    });

    it('never leaves root_path: .., absolute paths and symlinks pointing out', async () => {
      await withClient('alice', async (c) => {
        expect(await c.list('/../../..')).toEqual(await c.list('/'));
        await expect(c.download('/../secret-outside.txt')).rejects.toThrow();
        await expect(c.download(`${gw.storage}/secret-outside.txt`)).rejects.toThrow();
        await expect(c.download('/escape/secret-outside.txt')).rejects.toThrow();
        await expect(c.upload('/escape/planted.txt', Buffer.from('x'))).rejects.toThrow();
        await c.upload('/../../landed.txt', Buffer.from('inside'));
      });
      expect(await readdir(gw.storage)).not.toContain('planted.txt');
      expect(await readdir(gw.storage)).not.toContain('landed.txt');
      expect((await stat(home('alice/landed.txt'))).size).toBe(6);
    });

    it('caps listings at max_dir_listing_size, sorted by name', async () => {
      await withClient('capped', async (c) => expect(await c.list('/')).toEqual(['a.txt', 'b.txt', 'c.txt']));
    });

    it('applies a provided mtime only with use_provided_modified_at', async () => {
      const when = new Date('2001-02-03T04:05:06Z');
      await withClient('alice', async (c) => {
        await c.upload('/dated.txt', Buffer.from('x'));
        await c.setModifiedTime('/dated.txt', when);
      });
      expect((await stat(home('alice/dated.txt'))).mtime.getTime()).toBe(when.getTime());
      await withClient('keeper', async (c) => {
        await c.upload('/dated.txt', Buffer.from('x'));
        await c.setModifiedTime('/dated.txt', when); // accepted, ignored
      });
      expect(Math.abs((await stat(home('keeper/dated.txt'))).mtime.getTime() - Date.now())).toBeLessThan(60_000);
    });

    it('TOTP: password alone refused, password + code accepted once, a replayed code refused', async () => {
      await expect(driver.connect(gw, { username: 'totp', password: PASSWORD })).rejects.toThrow();
      const code = TotpVerifier.generate(TOTP_SECRET);
      await withClient('totp', async (c) => expect(await c.list('/')).toEqual([]), code);
      await expect(driver.connect(gw, { username: 'totp', password: PASSWORD, otp: code })).rejects.toThrow();
    });
  });
}
