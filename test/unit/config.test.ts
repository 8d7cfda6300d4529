/** The config file: errors name the field, unknown keys are refused, relative paths follow the file. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config.js';
import { DEFAULT_LOCKOUT, DEFAULT_PASSWORD_CACHE, hashPassword } from '../../src/core/index.js';
import { makeTempDir } from './core/fixtures.js';

let temp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
  temp = await makeTempDir();
});
afterAll(() => temp.remove());

function configError(raw: unknown): string {
  try {
    parseConfig(raw, 'conf.json', '/base');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected parseConfig to throw');
}

describe('parseConfig', () => {
  it('applies the documented defaults; absent listeners stay off', () => {
    const config = parseConfig({}, 'conf.json', '/base');
    expect(config.storage).toBe('/base/data');
    expect(config.certsDir).toBe('/base/certs');
    expect(config.lockout).toEqual(DEFAULT_LOCKOUT);
    expect(config.passwordCache).toEqual({ enabled: true, ttlSeconds: 600, maxEntries: 10_000 });
    expect(DEFAULT_PASSWORD_CACHE).toEqual(config.passwordCache);
    expect(config.insecure).toEqual({ sshCiphers: false, tlsVersions: false });
    expect(config.sftp).toBeUndefined();
    expect(config.ftp).toBeUndefined();
    expect(config.http).toBeUndefined();
  });

  it('fills listener defaults when a block is present', () => {
    const config = parseConfig({ sftp: {}, ftp: {} }, 'conf.json', '/base');
    expect(config.sftp).toMatchObject({ host: '127.0.0.1', port: 2222, hostKeys: [] });
    expect(config.ftp).toMatchObject({ host: '127.0.0.1', port: 2121, passivePorts: [30000, 30100], requireTls: false });
  });

  it.each([
    [{ sftp: { port: 'x' } }, 'sftp.port'],
    [{ sftp: { port: 70000 } }, 'sftp.port'],
    [{ ftp: { passivePorts: [31000, 30000] } }, 'ftp.passivePorts'],
    [{ ftp: { tls: { cert: 'c.pem' } } }, 'ftp.tls.key'],
    [{ lockout: { maxFailures: 0 } }, 'lockout.maxFailures'],
    [{ passwordCache: { enabled: 'no' } }, 'passwordCache.enabled'],
    [{ passwordCache: { ttlSeconds: 0 } }, 'passwordCache.ttlSeconds'],
    [{ passwordCache: { ttlSeconds: 86_401 } }, 'passwordCache.ttlSeconds'],
    [{ passwordCache: { maxEntries: 0 } }, 'passwordCache.maxEntries'],
    [{ passwordCache: { maxEntries: 1.5 } }, 'passwordCache.maxEntries'],
    [{ insecure: { sshCiphers: 'yes' } }, 'insecure.sshCiphers'],
    [{ logLevel: 'loud' }, 'logLevel'],
    [{ storage: 5 }, 'storage'],
  ])('names the field of a bad value (%j)', (raw, field) => {
    const message = configError(raw);
    expect(message).toMatch(/^conf\.json: /);
    expect(message).toContain(`"${field}"`);
  });

  it('says the bounds of passwordCache numbers', () => {
    expect(configError({ passwordCache: { ttlSeconds: 86_401 } })).toBe('conf.json: field "passwordCache.ttlSeconds": must be at most 86400 (a day)');
    expect(configError({ passwordCache: { maxEntries: 0 } })).toBe('conf.json: field "passwordCache.maxEntries": must be at least 1');
  });

  it.each([
    [{ colour: 'blue' }, 'colour', undefined],
    [{ sftp: { prot: 22 } }, 'prot', 'sftp'],
    [{ ftp: { tls: { cert: 'c', key: 'k', ca: 'x' } } }, 'ca', 'ftp.tls'],
    [{ lockout: { maxFailure: 3 } }, 'maxFailure', 'lockout'],
  ])('refuses an unknown key (%j)', (raw, key, where) => {
    const message = configError(raw);
    expect(message).toContain(`unknown key "${key}"`);
    if (where) expect(message).toContain(`"${where}"`);
  });

  it('validates inline user records, naming the user and field', () => {
    // Thrown as the core's UserConfigError (not ConfigError); the message is what the CLI prints.
    expect(() => parseConfig({ users: [{ username: 'alice', public_keys: [], read_only: 'no' }] }, 'conf.json', '/base')).toThrow(
      /^conf\.json: users: user "alice": field "read_only"/,
    );
  });

  it('resolves every relative path against the base directory and keeps absolute ones', () => {
    const config = parseConfig(
      {
        storage: 'store',
        users: '../users.json',
        certsDir: '/etc/filegate/certs',
        sftp: { hostKeys: ['keys/host_ed25519', '/abs/host_rsa'] },
        ftp: { tls: { cert: 'tls/cert.pem', key: './tls/key.pem' } },
      },
      'conf.json',
      '/srv/gw',
    );
    expect(config.storage).toBe('/srv/gw/store');
    expect(config.users).toBe('/srv/users.json');
    expect(config.certsDir).toBe('/etc/filegate/certs');
    expect(config.sftp?.hostKeys).toEqual(['/srv/gw/keys/host_ed25519', '/abs/host_rsa']);
    expect(config.ftp?.tls).toEqual({ cert: '/srv/gw/tls/cert.pem', key: '/srv/gw/tls/key.pem' });
  });
});

describe('parseConfig: PROXY protocol', () => {
  it('needs trustedProxies once a listener turns it on', () => {
    expect(() => parseConfig({ ftp: { proxyProtocol: 'required' } }, 'conf.json')).toThrow(
      'conf.json: field "trustedProxies": proxyProtocol is on for a listener, so trustedProxies must name the load balancers',
    );
    const config = parseConfig({ ftp: { proxyProtocol: 'optional' }, trustedProxies: ['10.0.0.0/8', '::1'] });
    expect(config.ftp?.proxyProtocol).toBe('optional');
    expect(config.sftp).toBeUndefined();
  });

  it('names a malformed trusted proxy', () => {
    expect(() => parseConfig({ trustedProxies: ['10.0.0.0/8', 'lb.example.com'] }, 'conf.json')).toThrow(
      'conf.json: field "trustedProxies.1": not an IP address or CIDR block',
    );
  });

  it('refuses an unknown mode', () => {
    expect(() => parseConfig({ http: { proxyProtocol: 'on' } }, 'conf.json')).toThrow(/field "http.proxyProtocol"/);
  });
});

describe('loadConfigFile', () => {
  it('anchors relative paths at the config file’s directory, not the working directory', async () => {
    const dir = path.join(temp.dir, 'etc');
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, 'filegate.json');
    await writeFile(file, JSON.stringify({ storage: './data', users: 'users.json', http: { port: 0 } }));
    const config = await loadConfigFile(file);
    expect(config.storage).toBe(path.join(dir, 'data'));
    expect(config.users).toBe(path.join(dir, 'users.json'));
    expect(config.certsDir).toBe(path.join(dir, 'certs'));
    expect(config.http?.port).toBe(0);
  });

  it('names the file when it is missing or not JSON', async () => {
    const missing = path.join(temp.dir, 'nope.json');
    await expect(loadConfigFile(missing)).rejects.toThrow(`${missing}: cannot read`);
    const broken = path.join(temp.dir, 'broken.json');
    await writeFile(broken, '{ "storage": ');
    await expect(loadConfigFile(broken)).rejects.toThrow(`${broken}: not valid JSON`);
  });

  it('names the file and field of a bad value', async () => {
    const file = path.join(temp.dir, 'bad.json');
    await writeFile(file, JSON.stringify({ users: [{ username: 'bob', password_hash: await hashPassword('x') }], ftp: { port: -1 } }));
    await expect(loadConfigFile(file)).rejects.toThrow(`${file}: field "ftp.port"`);
  });
});
