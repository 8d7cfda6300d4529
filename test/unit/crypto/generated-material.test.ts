/**
 * Generated host keys and the self-signed FTPS certificate when several processes start on one empty
 * certs directory at once (`--workers N`): every one must end up with the same, whole, matching
 * material. The starts interleave here through the event loop, file operation by file operation.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateHostKeys } from '../../../src/crypto/host-keys.js';
import { loadOrCreateTlsMaterial } from '../../../src/crypto/tls-cert.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'filegate-certs-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('generated key material under concurrent starts', () => {
  it('host keys: every start gets the same usable keys, and no temporary file is left', async () => {
    const starts = await Promise.all(Array.from({ length: 4 }, () => loadOrCreateHostKeys([], dir)));
    for (const keys of starts) {
      expect(keys.map((k) => k.toString())).toEqual(starts[0]!.map((k) => k.toString()));
      for (const key of keys) expect(ssh2.utils.parseKey(key)).not.toBeInstanceOf(Error);
    }
    expect((await readdir(dir)).sort()).toEqual(['ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub', 'ssh_host_rsa_key', 'ssh_host_rsa_key.pub']);
    expect((await loadOrCreateHostKeys([], dir)).map(String)).toEqual(starts[0]!.map(String));
  });

  it('FTPS certificate: every start gets one certificate that matches its key', async () => {
    const starts = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateTlsMaterial(undefined, dir)));
    for (const { cert, key } of starts) {
      expect(cert.toString()).toBe(starts[0]!.cert.toString());
      expect(key.toString()).toBe(starts[0]!.key.toString());
      expect(new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))).toBe(true);
    }
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});
