/** Shared test set-up: a gateway on 127.0.0.1 port 0 with temporary storage and known users. */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/gateway.js';
import type { GatewayConfigInput } from '../../src/config.js';
import { hashPassword, type UserRecordInput } from '../../src/core/index.js';

export const TOTP_SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

/** A user record with a scrypt hash of `password` and the given flags. */
export async function user(username: string, password: string, flags: Partial<UserRecordInput> = {}): Promise<UserRecordInput> {
  return { username, password_hash: await hashPassword(password), root_path: username, ...flags };
}

export interface TestGateway {
  gateway: Gateway;
  /** Real path of the storage root (user trees are `${storage}/${root_path}`). */
  storage: string;
  /** Temporary directory for this gateway (storage and certs live under it). */
  dir: string;
  close(): Promise<void>;
}

/** Starts a gateway; `config` overrides the defaults (no listener unless asked for). */
export async function startGateway(config: Partial<GatewayConfigInput>, options: GatewayOptions = {}): Promise<TestGateway> {
  const dir = await mkdtemp(path.join(tmpdir(), 'filegate-test-'));
  const storage = path.join(dir, 'data');
  const gateway = await createGateway({ storage, certsDir: path.join(dir, 'certs'), ...config }, options).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  return {
    gateway,
    storage,
    dir,
    async close() {
      await gateway.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Whether a command-line client is installed. Outside CI a missing client skips its tests; in CI
 * (CI=true) a missing client is a failure, never a silent skip.
 */
export function hasCommand(name: string): boolean {
  let found = true;
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
  } catch {
    found = false;
  }
  if (!found && process.env.CI === 'true') throw new Error(`CI needs the "${name}" command-line client; .ci/run installs it`);
  return found;
}
