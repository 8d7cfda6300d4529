/**
 * The admin API: list live sessions of every node and end them, by session or by user. Off unless an
 * admin token is configured. Every request is audited (event `admin`), refused ones included. Sessions
 * are named by their ref (the non-secret handle the logs show), so neither responses nor logs carry a
 * session id that could be replayed as `X-FilesAPI-Auth`.
 */
import { sessionRef, type SessionSummary } from '../../core/index.js';
import type { AdapterContext } from '../context.js';
import type { AdminToken } from './admin-auth.js';
import { sendJson } from './replies.js';
import { RequestError } from './request-errors.js';
import type { ApiCall } from './sessions-api.js';

export type Handler = (context: AdapterContext, call: ApiCall) => Promise<void>;

const PREFIX = '/api/rest/v1/admin/';
const SESSION_PATH = /^sessions\/([^/]+)$/;
const REF = /^[0-9a-f]{12}$/;
const USER_SESSIONS_PATH = /^users\/([^/]+)\/sessions$/;

/** What the admin API shows of a session. */
export type AdminSession = SessionSummary;

/** The handlers of an admin path by method; undefined when the path is not one (or the API is off). */
export function adminRoute(path: string, token: AdminToken | undefined): Map<string, Handler> | undefined {
  if (!token?.enabled || !path.startsWith(PREFIX)) return undefined;
  const rest = path.slice(PREFIX.length);
  if (rest === 'sessions') return new Map([['GET', guarded(token, 'list-sessions', undefined, listSessions)]]);
  const session = SESSION_PATH.exec(rest);
  if (session) return new Map([['DELETE', guarded(token, 'end-session', session[1]!, endSession)]]);
  const user = USER_SESSIONS_PATH.exec(rest);
  if (user) return new Map([['DELETE', guarded(token, 'end-user-sessions', user[1]!, endUserSessions)]]);
  return undefined;
}

type Action = (context: AdapterContext, call: ApiCall, target: string) => Promise<Record<string, unknown>>;

/** Token check, path parameter decoding and the audit line around one action. */
function guarded(token: AdminToken, action: string, rawTarget: string | undefined, run: Action): Handler {
  return async (context, call) => {
    const audit = { event: 'admin', action, remote: call.remoteAddress };
    const logger = context.logger.child({ component: 'admin' });
    if (!token.accepts(call.req.headers.authorization)) {
      logger.warn({ ...audit, outcome: 'unauthorized' }, 'admin request refused');
      throw new RequestError('authentication_required', 'Send a valid admin token: "Authorization: Bearer <token>".', {
        'WWW-Authenticate': 'Bearer realm="filegate-admin"',
      });
    }
    let target = '';
    try {
      target = rawTarget === undefined ? '' : decodeURIComponent(rawTarget);
    } catch {
      logger.warn({ ...audit, outcome: 'bad-request' }, 'admin request refused');
      throw new RequestError('params_required', 'The path parameter is not valid percent-encoding.');
    }
    try {
      const result = await run(context, call, target);
      logger.info({ ...audit, outcome: 'ok', ...result }, 'admin request');
    } catch (err) {
      logger.warn({ ...audit, outcome: 'failed', target: action === 'end-session' ? loggable(target) : target, reason: err instanceof Error ? err.message : String(err) }, 'admin request failed');
      throw err;
    }
  };
}

async function listSessions(context: AdapterContext, call: ApiCall): Promise<Record<string, unknown>> {
  const sessions = (await context.sessions.list()).map(forAdmin);
  sendJson(call.res, 200, sessions);
  return { count: sessions.length };
}

async function endSession(context: AdapterContext, call: ApiCall, target: string): Promise<Record<string, unknown>> {
  const found = REF.test(target) ? (await context.sessions.list()).find((s) => sessionRef(s.id) === target) : undefined;
  if (!found || !(await context.sessions.delete(found.id, 'SESSION_ENDED'))) {
    throw new RequestError('not_found', 'No live session with this id.');
  }
  sendJson(call.res, 200, forAdmin(found));
  return { session: sessionRef(found.id), username: found.username };
}

async function endUserSessions(context: AdapterContext, call: ApiCall, username: string): Promise<Record<string, unknown>> {
  const mine = (await context.sessions.list()).filter((s) => s.username === username);
  const ended: AdminSession[] = [];
  for (const session of mine) if (await context.sessions.delete(session.id, 'SESSION_ENDED')) ended.push(forAdmin(session));
  sendJson(call.res, 200, { username, ended });
  return { username, count: ended.length };
}

/**
 * A path as the access log may show it: a session segment that is not a ref could be a session id
 * sent by mistake, a bearer credential.
 */
export function loggablePath(path: string): string {
  const session = path.startsWith(PREFIX) ? SESSION_PATH.exec(path.slice(PREFIX.length)) : null;
  return session ? `${PREFIX}sessions/${loggable(session[1]!)}` : path;
}

/** A session path segment that is not a ref is never logged. */
function loggable(segment: string): string {
  return REF.test(segment) ? segment : '[redacted]';
}

/** The summary with the ref in place of the id. */
function forAdmin(session: SessionSummary): AdminSession {
  return { ...session, id: sessionRef(session.id) };
}
