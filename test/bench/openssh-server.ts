/**
 * A throwaway OpenSSH sshd + sftp-server on a loopback port, the benchmark's reference peer. It must
 * not change the host: it runs in its own mount namespace (`unshare -m`) with a private tmpfs on
 * /run (sshd wants /run/sshd), with its own config, host key, pid file and authorized_keys in a
 * temporary directory. It authenticates the current user (root on the bench machine) by a key that
 * exists only in that directory.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort, stopChild } from './helpers.js';

const SSHD = '/usr/sbin/sshd';
const START_TIMEOUT_MS = 10_000;

export interface OpenSshServer {
  port: number;
  stop(): Promise<void>;
}

/** Starts sshd in `dir`; `clientPublicKey` is the one key it accepts. */
export async function startOpenSshServer(dir: string, clientPublicKey: string): Promise<OpenSshServer> {
  const hostKey = path.join(dir, 'sshd_host_ed25519_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  await writeFile(path.join(dir, 'authorized_keys'), `${clientPublicKey.trim()}\n`, { mode: 0o600 });
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UsePAM no',
      // In-process sftp-server: an external one is started through the user's shell, and bash run by
      // sshd reads ~/.bashrc (on the bench machine root's runs pyenv: a second per session).
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );
  const child = spawn(
    'unshare',
    ['-m', 'sh', '-c', `mount -t tmpfs tmpfs /run && mkdir -p /run/sshd && exec ${SSHD} -D -e -f ${config}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  await waitForPort(port, child, () => stderr);
  return { port, stop: () => stopChild(child) };
}

async function waitForPort(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${stderr()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stopChild(child);
  throw new Error(`sshd did not listen on ${port} within ${START_TIMEOUT_MS} ms: ${stderr()}`);
}
