/** The FTPS certificate: from config, or a self-signed one made with node-forge into certsDir once. */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import forge from 'node-forge';
import { publishOnce, readWhenPublished } from './publish-once.js';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

const CERT_FILE = 'ftps-cert.pem';
const KEY_FILE = 'ftps-key.pem';

/** A self-signed certificate for 127.0.0.1 and localhost, valid for ten years. */
export function createSelfSignedCertificate(commonName = 'filegate'): { cert: string; key: string } {
  // Node's native keygen is much faster than forge's pure-JS one; forge builds and signs the certificate.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 24 * 3600_000);
  const attrs = [{ name: 'commonName', value: commonName }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
  ]);
  cert.sign(forgeKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

export async function loadOrCreateTlsMaterial(configured: { cert: string; key: string } | undefined, certsDir: string): Promise<TlsMaterial> {
  if (configured) {
    const read = (file: string, field: string): Promise<Buffer> =>
      readFile(file).catch((err: Error) => {
        throw new Error(`ftp.tls.${field}: cannot read ${file} (${err.message})`);
      });
    return { cert: await read(configured.cert, 'cert'), key: await read(configured.key, 'key') };
  }
  const certPath = path.join(certsDir, CERT_FILE);
  const keyPath = path.join(certsDir, KEY_FILE);
  const [cert, key] = await Promise.all([readFile(certPath).catch(() => undefined), readFile(keyPath).catch(() => undefined)]);
  if (cert && key) return { cert, key };
  await mkdir(certsDir, { recursive: true });
  const made = createSelfSignedCertificate();
  // The key decides the race: whoever published it publishes the matching certificate next.
  const publishedKey = await publishOnce(keyPath, made.key, 0o600);
  if (!publishedKey.equals(Buffer.from(made.key))) return { cert: await readWhenPublished(certPath), key: publishedKey };
  return { cert: await publishOnce(certPath, made.cert, 0o644), key: publishedKey };
}
