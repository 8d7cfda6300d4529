/**
 * A session's life after login: delete (log out) ends every attached connection and emits 'deleted';
 * a session tied to its connection ends with it; an idle session with no connection expires.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  GatewayError,
  SessionManager,
  StaticUserDirectory,
  hashPassword,
  parseUserRecords,
  type ConnectionHandle,
  type ErrorCode,
  type LoginRequest,
  type Session,
  type UserRecord,
} from '../../../src/core/index.js';
import { manualClock } from './fixtures.js';

const IDLE_MS = 60_000;
let users: UserRecord[];
let manager: SessionManager | undefined;

beforeAll(async () => {
  users = parseUserRecords([{ username: 'alice', password_hash: await hashPassword('alice-pw') }], 'test');
});
afterEach(() => manager?.close());

function setup(idleTimeoutMs = IDLE_MS) {
  const clock = manualClock();
  const sessions = new SessionManager({ users: new StaticUserDirectory(users), idleTimeoutMs, clock: clock.now });
  manager = sessions;
  const deleted: Array<{ id: string; reason: ErrorCode }> = [];
  sessions.on('deleted', (session, reason) => deleted.push({ id: session.id, reason }));
  const login = (request: Partial<LoginRequest> = {}): Promise<Session> =>
    sessions.create({
      username: 'alice',
      password: 'alice-pw',
      protocol: 'library',
      remoteAddress: '10.0.0.1',
      transport: { kind: 'library' },
      ...request,
    });
  return { sessions, clock, deleted, login };
}

/** A connection handle that records why it was ended. */
function connection(): ConnectionHandle & { ended: GatewayError[] } {
  const ended: GatewayError[] = [];
  return { ended, end: (reason) => void ended.push(reason) };
}

describe('delete (log out)', () => {
  it('ends every attached connection with SESSION_ENDED and emits deleted once', async () => {
    const { sessions, deleted, login } = setup();
    const session = await login();
    const other = await login();
    const [a, b, bystander] = [connection(), connection(), connection()];
    sessions.attach(session.id, a);
    sessions.attach(session.id, b);
    sessions.attach(other.id, bystander);

    expect(await sessions.delete(session.id)).toBe(true);
    for (const handle of [a, b]) {
      expect(handle.ended).toHaveLength(1);
      expect(handle.ended[0]!.code).toBe('SESSION_ENDED');
      expect(handle.ended[0]!.text).toBe('session_ended');
    }
    expect(bystander.ended).toEqual([]);
    expect(deleted).toEqual([{ id: session.id, reason: 'SESSION_ENDED' }]);
    expect(await sessions.get(session.id)).toBeUndefined();
    expect(await sessions.get(other.id)).toBe(other);

    expect(await sessions.delete(session.id)).toBe(false);
    expect(deleted).toHaveLength(1);
    expect(a.ended).toHaveLength(1);
  });

  it('does not call a detached connection', async () => {
    const { sessions, login } = setup();
    const session = await login();
    const [kept, gone] = [connection(), connection()];
    sessions.attach(session.id, kept);
    const detach = sessions.attach(session.id, gone);
    detach();
    await sessions.delete(session.id);
    expect(kept.ended).toHaveLength(1);
    expect(gone.ended).toEqual([]);
  });

  it('ends a connection that attaches to a session already gone', async () => {
    const { sessions, login } = setup();
    const session = await login();
    await sessions.delete(session.id);
    const late = connection();
    sessions.attach(session.id, late);
    expect(late.ended.map((e) => e.code)).toEqual(['SESSION_ENDED']);
  });

  it('ends everything with SHUTTING_DOWN on close', async () => {
    const { sessions, deleted, login } = setup();
    const session = await login();
    const handle = connection();
    sessions.attach(session.id, handle);
    sessions.close();
    expect(handle.ended.map((e) => [e.code, e.text])).toEqual([['SHUTTING_DOWN', 'shutting_down']]);
    expect(deleted).toEqual([{ id: session.id, reason: 'SHUTTING_DOWN' }]);
    expect((await sessions.list())).toEqual([]);
  });
});

describe('a session that ends with its connection (SFTP, FTP logins)', () => {
  it('is deleted when its last connection detaches, not before', async () => {
    const { sessions, deleted, login } = setup();
    const session = await login({ endWithConnection: true });
    const detachFirst = sessions.attach(session.id, connection());
    const detachSecond = sessions.attach(session.id, connection());
    detachFirst();
    expect(await sessions.get(session.id)).toBe(session);
    detachSecond();
    expect(await sessions.get(session.id)).toBeUndefined();
    expect(deleted).toEqual([{ id: session.id, reason: 'SESSION_ENDED' }]);
    detachSecond(); // a second detach is harmless
    expect(deleted).toHaveLength(1);
  });

  it('an HTTP-style session outlives its connections', async () => {
    const { sessions, login } = setup();
    const session = await login();
    sessions.attach(session.id, connection())();
    expect(await sessions.get(session.id)).toBe(session);
  });
});

describe('idle expiry (HTTP logins)', () => {
  it('ends a session unused for longer than the idle time; each use restarts the clock', async () => {
    const { sessions, clock, deleted, login } = setup();
    const session = await login();
    clock.advance(IDLE_MS - 1_000);
    expect(await sessions.get(session.id)).toBe(session); // a use: the idle time starts again
    clock.advance(IDLE_MS - 1_000);
    expect(await sessions.get(session.id)).toBe(session);
    clock.advance(IDLE_MS + 1);
    // The lookup itself refuses it, without waiting for the periodic sweep.
    expect(await sessions.get(session.id)).toBeUndefined();
    expect((await sessions.list())).toEqual([]);
    expect(deleted).toEqual([{ id: session.id, reason: 'SESSION_ENDED' }]);
  });

  it('never expires a session while a connection is attached', async () => {
    const { sessions, clock, login } = setup();
    const session = await login();
    const handle = connection();
    const detach = sessions.attach(session.id, handle);
    clock.advance(10 * IDLE_MS);
    expect(await sessions.get(session.id)).toBe(session);
    expect(handle.ended).toEqual([]);
    detach(); // detaching counts as a use
    clock.advance(IDLE_MS - 1_000);
    expect(await sessions.get(session.id)).toBe(session);
  });

  it('the periodic sweep ends idle sessions nobody looks up', async () => {
    const idleMs = 50; // the sweep runs every min(60 s, idle time) of real time
    const { sessions, clock, login } = setup(idleMs);
    const idle = await login();
    const busy = await login();
    sessions.attach(busy.id, connection());
    const ended = new Promise<string>((resolve) => sessions.once('deleted', (s) => resolve(s.id)));
    clock.advance(idleMs + 1);
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('no sweep within 2 s'), 2_000).unref());
    expect(await Promise.race([ended, timeout])).toBe(idle.id);
    expect((await sessions.list()).map((s) => s.id)).toEqual([busy.id]);
  });
});

describe('sessions per user are bounded', () => {
  it('a login past maxSessionsPerUser ends the least recently used session without a connection', async () => {
    const clock = manualClock();
    const sessions = new SessionManager({ users: new StaticUserDirectory(users), maxSessionsPerUser: 3, clock: clock.now });
    manager = sessions;
    const login = (): Promise<Session> =>
      sessions.create({ username: 'alice', password: 'alice-pw', protocol: 'http', remoteAddress: '10.0.0.1', transport: { kind: 'http' } });
    const busy = await login();
    const live = connection();
    sessions.attach(busy.id, live);
    clock.advance(1000);
    const older = await login();
    clock.advance(1000);
    const newer = await login();
    clock.advance(1000);
    await sessions.get(older.id); // used: now newer is the least recently used idle one
    clock.advance(1000);
    const fourth = await login();
    expect((await sessions.list()).map((s) => s.id).sort()).toEqual([busy.id, older.id, fourth.id].sort());
    expect(await sessions.get(newer.id)).toBeUndefined();
    expect(live.ended).toEqual([]); // a session with a live connection is never evicted
  });
});
