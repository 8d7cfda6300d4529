/**
 * The admin API's bearer token. Compared as SHA-256 digests with `timingSafeEqual`: equal lengths
 * whatever was sent, and the time taken says nothing about how much of the token matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { HttpConfig } from '../../config.js';
import { ConfigError } from '../../config.js';

const MIN_TOKEN_LENGTH = 16;

export class AdminToken {
  private digest: Buffer;

  constructor(token: string) {
    this.digest = digestOf(token);
  }

  /** The token from `http.adminToken` or `http.adminTokenFile`; undefined when neither is set (API off). */
  static async fromConfig(config: HttpConfig | undefined): Promise<AdminToken | undefined> {
    const token = await readAdminToken(config);
    return token === undefined ? undefined : new AdminToken(token);
  }

  /** A new token (reload); requests after this call need it. */
  replace(token: string): void {
    this.digest = digestOf(token);
  }

  /** Whether an `Authorization` header carries this token as `Bearer <token>`. */
  accepts(authorization: string | undefined): boolean {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    // Always one comparison, also without a header: a missing token takes the time of a wrong one.
    const equal = timingSafeEqual(digestOf(match?.[1] ?? ''), this.digest);
    return equal && match !== null;
  }
}

/** Reads the configured token; a token file's first line, trimmed. Errors name the file. */
export async function readAdminToken(config: HttpConfig | undefined): Promise<string | undefined> {
  if (config?.adminToken !== undefined) return config.adminToken;
  const file = config?.adminTokenFile;
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: field "http.adminTokenFile": cannot read the admin token: ${(err as Error).message}`);
  }
  const token = text.split(/\r?\n/, 1)[0]!.trim();
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new ConfigError(`${file}: field "http.adminTokenFile": the admin token must be at least ${MIN_TOKEN_LENGTH} characters`);
  }
  return token;
}

function digestOf(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
