/**
 * A throwaway vsftpd on a loopback port, the FTP benchmark's reference peer. Its own config file,
 * certificate and log in a temporary directory, run in the foreground and stopped at the end.
 * Anonymous login with uploads enabled: vsftpd chroots anonymous users into `anon_root`, which must
 * not be writable, so files go to `pub/` (owned by the `ftp` user the Debian package creates).
 * With `localUsers`, it also logs in real local accounts with a password, the way a deployed vsftpd
 * does: each is a system user created for this run (random password, no shell, no home of its own
 * outside the run's directory) and deleted by stop(); vsftpd checks it through PAM's `other`
 * service (pam_unix against /etc/shadow), so the host's own PAM files stay as they are.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { createSelfSignedCertificate } from '../../src/crypto/tls-cert.js';
import { freePort, stopChild } from './helpers.js';

const VSFTPD = '/usr/sbin/vsftpd';
const START_TIMEOUT_MS = 10_000;

const execFileAsync = promisify(execFile);
/** Accounts this module creates: the prefix, the creating process's pid, the hash method. */
const LOCAL_USER = /^fgbench(\d+)[a-z]$/;

/** crypt(3) methods for a local account's password (chpasswd names). */
export type CryptMethod = 'YESCRYPT' | 'SHA512';

export interface LocalUser {
  name: string;
  password: string;
  method: CryptMethod;
  /** Its home, where its login lands: `ftp://name:password@…/X` is `${home}/X`. */
  home: string;
}

export interface VsftpdServer {
  port: number;
  /** Directory the anonymous user uploads to; `ftp://…/pub/NAME` is `${uploadDir}/NAME`. */
  uploadDir: string;
  localUsers: LocalUser[];
  stop(): Promise<void>;
}

export async function startVsftpd(dir: string, passivePorts: [number, number], localUsers: CryptMethod[] = []): Promise<VsftpdServer> {
  const root = path.join(dir, 'root');
  const uploadDir = path.join(root, 'pub');
  await mkdir(uploadDir, { recursive: true });
  const ftpUser = userInfo({ encoding: 'utf8' }).uid === 0 ? await lookupUser('ftp') : undefined;
  if (ftpUser) await chown(uploadDir, ftpUser.uid, ftpUser.gid);
  const { cert, key } = createSelfSignedCertificate('vsftpd-bench');
  await writeFile(path.join(dir, 'cert.pem'), cert);
  await writeFile(path.join(dir, 'key.pem'), key, { mode: 0o600 });
  await removeStaleUsers();
  const users: LocalUser[] = [];
  const removeUsers = async (): Promise<void> => {
    for (const user of users.splice(0)) await execFileAsync('userdel', [user.name]).catch(() => {});
  };
  try {
    for (const [i, method] of localUsers.entries()) users.push(await createLocalUser(dir, `fgbench${process.pid}${'abcdefgh'[i]}`, method));
  } catch (err) {
    await removeUsers();
    throw err;
  }
  const port = await freePort();
  const config = path.join(dir, 'vsftpd.conf');
  await writeFile(
    config,
    [
      'listen=YES',
      'listen_ipv6=NO',
      'listen_address=127.0.0.1',
      `listen_port=${port}`,
      'background=NO',
      'anonymous_enable=YES',
      'no_anon_password=YES',
      `anon_root=${root}`,
      'write_enable=YES',
      'anon_upload_enable=YES',
      'anon_other_write_enable=YES',
      'anon_umask=022',
      `local_enable=${users.length > 0 ? 'YES' : 'NO'}`,
      'local_umask=022',
      // No such PAM service file: PAM uses "other" (pam_unix), not Debian's vsftpd file with its shell check.
      'pam_service_name=filegate-bench',
      'pasv_enable=YES',
      `pasv_min_port=${passivePorts[0]}`,
      `pasv_max_port=${passivePorts[1]}`,
      'ssl_enable=YES',
      'allow_anon_ssl=YES',
      'force_anon_logins_ssl=NO',
      'force_anon_data_ssl=NO',
      'force_local_logins_ssl=NO',
      'force_local_data_ssl=NO',
      'require_ssl_reuse=NO',
      'ssl_ciphers=HIGH',
      `rsa_cert_file=${path.join(dir, 'cert.pem')}`,
      `rsa_private_key_file=${path.join(dir, 'key.pem')}`,
      'xferlog_enable=NO',
      'syslog_enable=NO',
      `vsftpd_log_file=${path.join(dir, 'vsftpd.log')}`,
      // Containers often forbid the namespaces and seccomp filter vsftpd would set up.
      'isolate=NO',
      'isolate_network=NO',
      'seccomp_sandbox=NO',
      '',
    ].join('\n'),
  );
  const child = spawn(VSFTPD, [config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  try {
    await waitForGreeting(port, child, () => stderr);
  } catch (err) {
    await removeUsers();
    throw err;
  }
  return {
    port,
    uploadDir,
    localUsers: users,
    async stop() {
      await stopChild(child);
      await removeUsers();
    },
  };
}

/** A system account with a random password hashed by `method`, its home in `dir`, no login shell. */
async function createLocalUser(dir: string, name: string, method: CryptMethod): Promise<LocalUser> {
  const home = path.join(dir, name);
  await mkdir(home);
  const password = randomBytes(12).toString('base64url');
  await execFileAsync('useradd', ['--no-create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', '--no-user-group', '--gid', 'nogroup', name]);
  const user: LocalUser = { name, password, method, home };
  try {
    await new Promise<void>((resolve, reject) => {
      const child = execFile('chpasswd', ['--crypt-method', method], (err) => (err ? reject(err) : resolve()));
      child.stdin!.end(`${name}:${password}\n`);
    });
    const { uid, gid } = await lookupUser(name);
    await chown(home, uid, gid);
  } catch (err) {
    await execFileAsync('userdel', [name]).catch(() => {});
    throw err;
  }
  return user;
}

/** Accounts left by a benchmark run that was killed (its process is gone). */
async function removeStaleUsers(): Promise<void> {
  for (const line of (await readFile('/etc/passwd', 'utf8')).split('\n')) {
    const pid = LOCAL_USER.exec(line.split(':')[0]!)?.[1];
    if (pid === undefined || Number(pid) === process.pid || isAlive(Number(pid))) continue;
    await execFileAsync('userdel', [line.split(':')[0]!]).catch(() => {});
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function lookupUser(name: string): Promise<{ uid: number; gid: number }> {
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`vsftpd needs the "${name}" user (the Debian vsftpd package creates it)`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Waits for vsftpd's "220" greeting (it refuses with "500 OOPS" when the config is unusable). */
async function waitForGreeting(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`vsftpd exited (${child.exitCode}): ${stderr()}`);
    last = await new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('data', (data) => (socket.destroy(), resolve(data.toString())));
      socket.once('error', () => resolve(''));
    });
    if (last.startsWith('220')) return;
    if (last.startsWith('500')) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stopChild(child);
  throw new Error(`vsftpd did not greet on ${port}: ${last.trim() || stderr()}`);
}
