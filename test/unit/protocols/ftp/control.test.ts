/**
 * The FTP control connection as a state machine, without sockets: command lines go in, replies and
 * effects (TLS switch, pause, end) come out of a recording wire. Logins go through a real core
 * (scrypt, sessions) and a real temporary tree.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../../src/config.js';
import { GuardedFs, SessionManager, StaticUserDirectory, hashPassword, parseUserRecords, silentLogger } from '../../../../src/core/index.js';
import { FtpControl, type ControlWire, type FtpServices } from '../../../../src/protocols/ftp/control.js';
import { PassivePorts } from '../../../../src/protocols/ftp/passive.js';
import { makeTempDir } from '../../core/fixtures.js';

const PASSWORD = 'control-secret';

/** A wire that records what the state machine does to it. */
class RecordingWire implements ControlWire {
  readonly remoteAddress = '127.0.0.1';
  readonly transportPeer = '127.0.0.1';
  readonly localAddress = '127.0.0.1';
  tlsVersion: string | null = null;
  readonly congested = false;
  /** Everything written, one entry per write. */
  readonly written: string[] = [];
  readonly effects: string[] = [];

  write(text: string): void {
    this.written.push(text);
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  pause(): void {
    this.effects.push('pause');
  }
  resume(): void {
    this.effects.push('resume');
  }
  async startTls(reply: string): Promise<void> {
    this.effects.push('startTls');
    this.written.push(reply);
    this.tlsVersion = 'TLSv1.3';
  }
  end(): void {
    this.effects.push('end');
  }
}

let temp: { dir: string; remove: () => Promise<void> };
let services: FtpServices;
let sessions: SessionManager;
const open: FtpControl[] = [];

beforeAll(async () => {
  temp = await makeTempDir();
  await mkdir(path.join(temp.dir, 'alice'));
  await writeFile(path.join(temp.dir, 'alice', 'five.txt'), '12345');
  const users = parseUserRecords([{ username: 'alice', password_hash: await hashPassword(PASSWORD), root_path: 'alice' }], 'test');
  sessions = new SessionManager({ users: new StaticUserDirectory(users), idleTimeoutMs: 60_000 });
  const config = parseConfig({ storage: temp.dir, ftp: { host: '127.0.0.1', port: 0 } });
  services = {
    context: { sessions, config, logger: silentLogger, openFs: (session) => GuardedFs.forSession(session, temp.dir) },
    config: config.ftp!,
    tls: { control: createSecureContext(), data: createSecureContext() },
    ports: new PassivePorts('127.0.0.1', config.ftp!.passivePorts),
    logger: silentLogger,
  };
});
afterEach(() => {
  for (const control of open.splice(0)) control.closed();
});
afterAll(async () => {
  await sessions.close();
  await temp.remove();
});

interface Harness {
  control: FtpControl;
  wire: RecordingWire;
  /** Sends a line; the reply (every line of it) it caused. */
  command(line: string): Promise<string>;
  /** Waits until `count` more writes have come since `from`. */
  replies(from: number, count: number): Promise<string[]>;
}

function connect(): Harness {
  const wire = new RecordingWire();
  const control = new FtpControl(services, wire);
  open.push(control);
  control.greet();
  const replies = async (from: number, count: number): Promise<string[]> => {
    const deadline = Date.now() + 5_000;
    while (wire.written.length < from + count) {
      if (Date.now() > deadline) throw new Error(`no reply; written: ${JSON.stringify(wire.written)}`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    return wire.written.slice(from, from + count);
  };
  const command = async (line: string): Promise<string> => {
    const from = wire.written.length;
    control.line(Buffer.from(line));
    return (await replies(from, 1))[0]!;
  };
  return { control, wire, command, replies };
}

async function loggedIn(): Promise<Harness> {
  const h = connect();
  expect(await h.command('USER alice')).toBe('331 Password required.\r\n');
  expect(await h.command(`PASS ${PASSWORD}`)).toBe('230 Login successful.\r\n');
  return h;
}

const code = (reply: string): number => Number(reply.slice(0, 3));

describe('FtpControl (socket-free)', () => {
  it('greets with 220 and logs in with USER then PASS', async () => {
    const h = connect();
    expect(h.wire.written).toEqual(['220 filegate FTP server ready.\r\n']);
    expect(await h.command('USER alice')).toBe('331 Password required.\r\n');
    expect(await h.command(`PASS ${PASSWORD}`)).toBe('230 Login successful.\r\n');
    expect(h.control.session?.username).toBe('alice');
    expect(await h.command('PWD')).toBe('257 "/" is the current directory.\r\n');
    expect(await h.command('USER alice')).toBe('503 Already logged in.\r\n');
  });

  it('PASS without USER is 503, and a failed PASS needs USER again', async () => {
    const h = connect();
    expect(await h.command('PASS anything')).toBe('503 Send USER first.\r\n');
    expect(await h.command('USER alice')).toBe('331 Password required.\r\n');
    expect(code(await h.command('PASS wrong'))).toBe(530);
    expect(await h.command(`PASS ${PASSWORD}`)).toBe('503 Send USER first.\r\n');
    expect(h.control.session).toBeUndefined();
  });

  it('answers 530 to commands that need a login, and runs the pre-login ones', async () => {
    const h = connect();
    for (const line of ['PWD', 'CWD /', 'LIST', 'RETR five.txt', 'STOR x', 'PASV', 'EPSV', 'MKD d', 'DELE five.txt', 'SIZE five.txt']) {
      expect(await h.command(line), line).toBe('530 Please log in with USER and PASS.\r\n');
    }
    expect(await h.command('NOOP')).toBe('200 NOOP ok.\r\n');
    expect(await h.command('SYST')).toBe('215 UNIX Type: L8\r\n');
    expect(await h.command('FEAT')).toMatch(/^211-Features:\r\n AUTH TLS\r\n[\s\S]* EPSV\r\n[\s\S]*211 End\r\n$/);
  });

  it('answers 502 to an unknown verb, before and after login, and 501 to a line that is not UTF-8', async () => {
    const h = connect();
    expect(await h.command('XYZZY plugh')).toBe('502 Command not implemented.\r\n');
    expect(await h.command('__proto__')).toBe('502 Command not implemented.\r\n');
    const from = h.wire.written.length;
    h.control.line(Buffer.from([0x4e, 0x4f, 0x4f, 0x50, 0x20, 0xc3, 0x28]));
    expect(await h.replies(from, 1)).toEqual(['501 Command is not valid UTF-8.\r\n']);
    const logged = await loggedIn();
    expect(await logged.command('XYZZY')).toBe('502 Command not implemented.\r\n');
  });

  it('answers 500 to a line that was too long and goes on serving', async () => {
    const h = connect();
    const from = h.wire.written.length;
    h.control.lineTooLong();
    expect(await h.replies(from, 1)).toEqual(['500 Command line too long.\r\n']);
    expect(await h.command('NOOP')).toBe('200 NOOP ok.\r\n');
  });

  it('answers pipelined commands in order, one reply each', async () => {
    const h = connect();
    const from = h.wire.written.length;
    for (const line of ['NOOP', 'USER alice', 'SYST', 'BOGUS']) h.control.line(Buffer.from(line));
    expect((await h.replies(from, 4)).map(code)).toEqual([200, 331, 215, 502]);
  });

  it('AUTH TLS answers 234, then switches the wire to TLS; commands queued behind it never run', async () => {
    const h = connect();
    expect(await h.command('PBSZ 0')).toBe('503 PBSZ needs AUTH TLS first.\r\n');
    expect(await h.command('PROT P')).toBe('503 PROT needs AUTH TLS first.\r\n');
    expect(await h.command('AUTH SSH')).toBe('504 Only AUTH TLS is supported.\r\n');
    // Pipelined: AUTH TLS and USER wait in the queue while NOOP runs.
    const from = h.wire.written.length;
    for (const line of ['NOOP', 'AUTH TLS', 'USER alice']) h.control.line(Buffer.from(line));
    expect(await h.replies(from, 2)).toEqual(['200 NOOP ok.\r\n', '234 AUTH TLS successful.\r\n']);
    expect(h.wire.effects).toEqual(['startTls']);
    expect(h.control.tlsVersion).toBe('TLSv1.3');
    expect(await h.command(`PASS ${PASSWORD}`)).toBe('503 Send USER first.\r\n');
    expect(await h.command('AUTH TLS')).toBe('503 TLS is already active.\r\n');
  });

  it('PBSZ and PROT after AUTH TLS: PROT P and C set data protection, S and E are refused', async () => {
    const h = connect();
    await h.command('AUTH TLS');
    expect(await h.command('PBSZ 0')).toBe('200 PBSZ=0\r\n');
    expect(await h.command('PROT P')).toBe('200 Protection level set to Private.\r\n');
    expect(h.control.dataProtected).toBe(true);
    expect(await h.command('PROT S')).toBe('536 Only PROT P and PROT C are supported.\r\n');
    expect(await h.command('PROT Q')).toBe('504 Unknown protection level.\r\n');
    expect(h.control.dataProtected).toBe(true);
    expect(await h.command('PROT C')).toBe('200 Protection level set to Clear.\r\n');
    expect(h.control.dataProtected).toBe(false);
  });

  it('REST holds for the transfer it prepares only: any other command in between drops it', async () => {
    const h = await loggedIn();
    // The core refuses an offset that is no safe integer at RETR (550), before any data connection is asked for.
    const huge = 'REST 100000000000000000000';
    expect(await h.command(huge)).toBe('350 Restarting next transfer at 100000000000000000000.\r\n');
    expect(await h.command('TYPE I')).toMatch(/^200 /);
    expect(code(await h.command('RETR five.txt'))).toBe(550);
    // Taken by the RETR: the next one starts at 0 and only lacks its data connection.
    expect(await h.command('RETR five.txt')).toBe('425 Use PASV, EPSV, PORT or EPRT first.\r\n');
    expect(await h.command(huge)).toMatch(/^350 /);
    expect(await h.command('NOOP')).toMatch(/^200 /);
    expect(await h.command('RETR five.txt')).toBe('425 Use PASV, EPSV, PORT or EPRT first.\r\n');
    expect(await h.command(huge)).toMatch(/^350 /);
    expect(await h.command('SIZE five.txt')).toBe('213 5\r\n');
    expect(await h.command('RETR five.txt')).toBe('425 Use PASV, EPSV, PORT or EPRT first.\r\n');
    expect(await h.command('REST -1')).toBe('501 REST needs a byte count of 0 or more.\r\n');
  });

  it('RNTO must come right after RNFR', async () => {
    const h = await loggedIn();
    expect(await h.command('RNTO six.txt')).toBe('503 RNFR must come right before RNTO.\r\n');
    expect(await h.command('RNFR five.txt')).toBe('350 Ready for RNTO.\r\n');
    expect(await h.command('NOOP')).toMatch(/^200 /);
    expect(await h.command('RNTO six.txt')).toBe('503 RNFR must come right before RNTO.\r\n');
    expect(await h.command('RNFR five.txt')).toMatch(/^350 /);
    expect(await h.command('RNTO six.txt')).toBe('250 Rename successful.\r\n');
    expect(await h.command('RNFR six.txt')).toMatch(/^350 /);
    expect(await h.command('RNTO five.txt')).toMatch(/^250 /);
  });

  it('after EPSV ALL, PASV, PORT and EPRT are refused', async () => {
    const h = await loggedIn();
    expect(await h.command('EPSV ALL')).toBe('200 EPSV ALL accepted: only EPSV from now on.\r\n');
    for (const line of ['PASV', 'PORT 127,0,0,1,4,1', 'EPRT |1|127.0.0.1|1025|']) {
      expect(await h.command(line), line).toBe('503 EPSV ALL is in effect: use EPSV.\r\n');
    }
    expect(await h.command('LIST')).toBe('425 Use EPSV first.\r\n');
  });

  it('PORT and EPRT reach only the client\'s own address and unprivileged ports', async () => {
    const h = await loggedIn();
    expect(await h.command('PORT 127,0,0,1,4,1')).toBe('200 Active data connection set.\r\n');
    expect(code(await h.command('PORT 127,0,0,2,4,1'))).toBe(504);
    expect(code(await h.command('PORT 127,0,0,1,0,22'))).toBe(504);
    expect(code(await h.command('EPRT |1|10.0.0.1|2000|'))).toBe(504);
    expect(await h.command('PORT 127,0,0,1,4,999')).toBe('501 Usage: PORT h1,h2,h3,h4,p1,p2.\r\n');
  });

  it('QUIT answers 221 and ends the connection; so do too many failed logins (421)', async () => {
    const h = connect();
    expect(await h.command('QUIT')).toBe('221 Goodbye.\r\n');
    expect(h.wire.effects).toEqual(['end']);
    expect(h.control.closing).toBe(true);
    const failing = connect();
    for (let attempt = 0; attempt < services.config.maxLoginFailuresPerConnection; attempt++) {
      await failing.command('USER alice');
      expect(code(await failing.command('PASS wrong'))).toBe(530);
    }
    expect(failing.wire.written.at(-1)).toBe('421 Too many failed logins: closing the connection.\r\n');
    expect(failing.wire.effects).toEqual(['end']);
  });

  it('the login deadline ends a connection that has not logged in, and only that', async () => {
    const h = connect();
    h.control.loginTimedOut();
    expect(h.wire.written.at(-1)).toBe('421 Login timeout: closing the control connection.\r\n');
    expect(h.wire.effects).toEqual(['end']);
    const logged = await loggedIn();
    logged.control.loginTimedOut();
    expect(logged.wire.effects).toEqual([]);
  });

  it('stops reading when the client queues too many commands, and reads again once they are answered', async () => {
    const h = connect();
    const from = h.wire.written.length;
    for (let i = 0; i < 20; i++) h.control.line(Buffer.from('NOOP'));
    expect(h.wire.effects).toEqual(['pause']);
    expect(await h.replies(from, 20)).toEqual(Array(20).fill('200 NOOP ok.\r\n'));
    expect(h.wire.effects).toEqual(['pause', 'resume']);
  });
});
