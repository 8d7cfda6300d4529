/** SSH host keys: read from the configured paths, or generated into certsDir once and reused. */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';
import { publishOnce } from './publish-once.js';

const GENERATED = [
  { file: 'ssh_host_ed25519_key', generate: () => usableKeyPair(() => ssh2.utils.generateKeyPairSync('ed25519')) },
  { file: 'ssh_host_rsa_key', generate: () => usableKeyPair(() => ssh2.utils.generateKeyPairSync('rsa', { bits: 3072 })) },
];

/**
 * ssh2 1.17's generator drops a leading zero byte of an ed25519 key (about 1 key in 500), and then
 * cannot parse its own output: such a key would stop the server from starting. Generate again.
 */
function usableKeyPair(generate: () => { private: string; public: string }): { private: string; public: string } {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = generate();
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair;
  }
  throw new Error('could not generate a usable SSH host key');
}

/** Private host keys (PEM/OpenSSH text) for the SFTP server. */
export async function loadOrCreateHostKeys(configured: string[], certsDir: string): Promise<Buffer[]> {
  if (configured.length > 0) {
    return Promise.all(
      configured.map(async (file) => {
        const key = await readFile(file).catch((err: Error) => {
          throw new Error(`sftp.hostKeys: cannot read ${file} (${err.message})`);
        });
        const parsed = ssh2.utils.parseKey(key);
        if (parsed instanceof Error) throw new Error(`sftp.hostKeys: ${file} is not a usable private key (${parsed.message})`);
        return key;
      }),
    );
  }
  await mkdir(certsDir, { recursive: true });
  return Promise.all(
    GENERATED.map(async ({ file, generate }) => {
      const keyPath = path.join(certsDir, file);
      const existing = await readFile(keyPath).catch(() => undefined);
      if (existing) return existing;
      const { private: privateKey, public: publicKey } = generate();
      const published = await publishOnce(keyPath, privateKey, 0o600);
      if (published.equals(Buffer.from(privateKey))) await publishOnce(`${keyPath}.pub`, `${publicKey}\n`, 0o644);
      return published;
    }),
  );
}
