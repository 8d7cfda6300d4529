/**
 * SFTP test clients: the ssh2 client (every SFTP request by hand, status codes visible) and the
 * OpenSSH `sftp` command line (sshpass for passwords, SSH_ASKPASS for a second prompt, `-i` keys).
 */
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli, type CliResult } from './cli.js';
import { Client, utils, type Algorithms, type ClientChannel, type NegotiatedAlgorithms, type SFTPWrapper } from 'ssh2';

export interface SshLogin {
  username: string;
  password?: string;
  /** Answer to an "Authentication code" keyboard-interactive prompt. */
  otp?: string;
  privateKey?: Buffer | string;
  /** The auth methods the client tries, in order (default: password, publickey, keyboard-interactive as configured). */
  methods?: ('none' | 'password' | 'publickey' | 'keyboard-interactive')[];
  algorithms?: Algorithms;
  /** Collects the keyboard-interactive prompts the server asked. */
  prompts?: string[];
  /** SSH keepalive requests every this many ms (transport traffic only). */
  keepaliveInterval?: number;
}

export interface SshSession {
  client: Client;
  sftp: SFTPWrapper;
  /** Auth banners the server sent (refusal texts). */
  banners: string[];
  /** The algorithms of the latest key exchange. */
  negotiated: NegotiatedAlgorithms;
  /** Resolves when the connection has closed. */
  closed: Promise<void>;
  end(): void;
}

/** A login that failed: the client error plus any banners the server sent before refusing. */
export class LoginFailed extends Error {
  constructor(
    error: Error,
    readonly banners: string[],
  ) {
    super(`login failed: ${error.message}; banners: ${JSON.stringify(banners)}`, { cause: error });
  }
}

/** Logs in and opens the SFTP subsystem; rejects with LoginFailed when the server refuses. */
export async function sshLogin(port: number, login: SshLogin): Promise<SshSession> {
  const client = new Client();
  const banners: string[] = [];
  client.on('banner', (text) => banners.push(text));
  client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => {
    login.prompts?.push(...prompts.map((p) => p.prompt));
    finish(prompts.map((p) => (/code/i.test(p.prompt) ? (login.otp ?? '') : (login.password ?? ''))));
  });
  let negotiated: NegotiatedAlgorithms | undefined;
  client.on('handshake', (algorithms) => (negotiated = algorithms));
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', (err) => reject(new LoginFailed(err, banners)));
    client.connect({
      host: '127.0.0.1',
      port,
      username: login.username,
      password: login.password,
      privateKey: login.privateKey,
      tryKeyboard: true,
      ...(login.methods ? { authHandler: login.methods } : {}),
      algorithms: login.algorithms,
      keepaliveInterval: login.keepaliveInterval,
      readyTimeout: 10_000,
    });
  });
  client.on('error', () => {}); // a later disconnect (logout, idle) is what some tests wait for
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
  return { client, sftp, banners, negotiated: negotiated!, closed, end: () => client.end() };
}

type Callback<T> = (err: Error | null | undefined, value?: T) => void;

/** Promisifies one ssh2 callback call: `await call<Stats>((cb) => sftp.stat('/x', cb))`. */
export function call<T = void>(run: (done: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value as T))));
}

/** The SFTP status code of a failed request (ssh2 puts it on `err.code`). */
export async function statusOf(promise: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as Error & { code?: number };
    return { code: e.code ?? -1, message: e.message };
  }
  throw new Error('expected the SFTP request to fail');
}

// LogLevel stays at its default (INFO): OpenSSH shows auth banners, our refusal texts, only from INFO up.
const SSH_OPTIONS = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];

export interface CliLogin {
  username: string;
  password?: string;
  /** With a password: answered through SSH_ASKPASS (both prompts) instead of sshpass. */
  otp?: string;
  identity?: string;
  /** Extra `sftp` arguments, e.g. ['-c', 'aes128-cbc'] or ['-p'] style options. */
  args?: string[];
  /** A directory for the askpass script. */
  workDir: string;
}

/** Runs OpenSSH `sftp -b -` with `commands` on stdin; never hangs longer than `timeoutMs`. */
export async function runSftpCli(port: number, login: CliLogin, commands: string[], timeoutMs = 20_000): Promise<CliResult> {
  const sftpArgs = ['-P', String(port), ...SSH_OPTIONS, '-o', 'NumberOfPasswordPrompts=1', ...(login.args ?? [])];
  const env = { ...process.env };
  let command = 'sftp';
  let args: string[];
  if (login.identity) {
    args = [...sftpArgs, '-i', login.identity, '-o', 'IdentitiesOnly=yes', '-o', 'PreferredAuthentications=publickey,keyboard-interactive'];
  } else if (login.otp !== undefined) {
    // Two prompts: SSH_ASKPASS answers each by its text (sshpass only knows "password").
    const askpass = path.join(login.workDir, 'askpass.sh');
    await writeFile(askpass, '#!/bin/sh\ncase "$1" in *ode*) printf "%s\\n" "$FG_OTP";; *) printf "%s\\n" "$FG_PASSWORD";; esac\n');
    await chmod(askpass, 0o700);
    Object.assign(env, { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', FG_OTP: login.otp, FG_PASSWORD: login.password ?? '' });
    args = [...sftpArgs, '-o', 'BatchMode=no', '-o', 'PreferredAuthentications=keyboard-interactive'];
  } else {
    command = 'sshpass';
    args = ['-p', login.password ?? '', 'sftp', ...sftpArgs, '-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no'];
  }
  // `-b` implies BatchMode=yes unless an earlier -o said otherwise (the first value wins), so it comes last.
  args.push('-b', '-', `${login.username}@127.0.0.1`);
  return runCli(command, args, { env, input: `${commands.join('\n')}\n`, timeoutMs });
}

/** Runs curl; resolves with its exit code and output. */
export function runCurl(args: string[], timeoutMs = 20_000): Promise<CliResult> {
  return runCli('curl', ['-s', '-S', '-k', ...args], { timeoutMs });
}

/** A client key pair (OpenSSH formats); ssh2 sometimes emits an ed25519 key it cannot parse, so retry. */
export function clientKeyPair(): { privateKey: string; publicKey: string } {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment: 'test@filegate' });
    if (!(utils.parseKey(pair.private) instanceof Error)) return { privateKey: pair.private, publicKey: pair.public };
  }
  throw new Error('no usable key pair');
}

/** SFTP v3 wire pieces, for requests the ssh2 client would never send (pipelined floods, races). */
export const sftpWire = {
  u32(n: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  },
  u64(n: bigint): Buffer {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(n);
    return b;
  },
  str(s: string | Buffer): Buffer {
    const bytes = Buffer.from(s);
    return Buffer.concat([sftpWire.u32(bytes.length), bytes]);
  },
  packet(type: number, ...fields: Buffer[]): Buffer {
    const body = Buffer.concat(fields);
    return Buffer.concat([sftpWire.u32(body.length + 1), Buffer.from([type]), body]);
  },
};

/** The sftp subsystem as a plain channel (INIT already sent): raw packets out, raw bytes in. */
export async function rawSftpChannel(client: Client): Promise<ClientChannel> {
  const channel = await call<ClientChannel>((cb) => client.subsys('sftp', cb));
  channel.write(sftpWire.packet(1, sftpWire.u32(3)));
  return channel;
}
