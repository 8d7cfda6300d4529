/**
 * The admin API's bearer token. Compared as SHA-256 digests with `timingSafeEqual`: equal lengths
 * whatever was sent, and the time taken says nothing about how much of the token matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { HttpConfig } from '../../config.js';
import { ConfigError } from '../../config.js';

const MIN_TOKEN_LENGTH = 16;

/** The current token; none means the admin API is off (its paths do not exist). */
export class AdminToken {
  private digest: Buffer | undefined;

  constructor(token?: string) {
    this.replace(token);
  }

  /** From `http.adminToken` or `http.adminTokenFile`. */
  static async fromConfig(config: HttpConfig | undefined): Promise<AdminToken> {
    return new AdminToken(await readAdminToken(config));
  }

  get enabled(): boolean {
    return this.digest !== undefined;
  }

  /** A new token, or none (reload); requests after this call need it. */
  replace(token: string | undefined): void {
    this.digest = token === undefined ? undefined : digestOf(token);
  }

  /** Whether an `Authorization` header carries this token as `Bearer <token>`. */
  accepts(authorization: string | undefined): boolean {
    if (!this.digest) return false;
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
