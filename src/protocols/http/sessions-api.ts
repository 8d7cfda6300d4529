/**
 * The Session resource: `POST /api/rest/v1/sessions` logs in, `DELETE` logs out
 * (the wire format the files.com SDK speaks). Both only translate: the core's login pipeline decides.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError, type Language, type LoginRequest } from '../../core/index.js';
import type { AdapterContext } from '../context.js';
import { readJsonObject, type BodyLimits } from './body.js';
import { sendJson, sendNoContent } from './replies.js';
import { RequestError } from './request-errors.js';

export interface ApiCall {
  req: IncomingMessage;
  res: ServerResponse;
  remoteAddress: string;
  /** From Accept-Language: the user is not known yet, so refusals speak the client's language. */
  language: Language | undefined;
  limits: BodyLimits;
}

type Credentials = Pick<LoginRequest, 'username' | 'password' | 'otp' | 'partial_session_id'>;

export async function createSession(context: AdapterContext, call: ApiCall): Promise<void> {
  const { params, raw } = await readJsonObject(call.req, call.limits);
  const session = await context.sessions.create({
    ...credentials(params),
    protocol: 'http',
    remoteAddress: call.remoteAddress,
    transport: { kind: 'http' },
    language: call.language,
    // The SDK resends an identical POST after a network error: the same bytes from the same
    // address within the core's dedupe window count once toward the lockout.
    dedupeKey: createHash('sha256').update(call.remoteAddress).update('\0').update(raw).digest('hex'),
  });
  sendJson(call.res, 201, session);
}

export async function deleteSession(context: AdapterContext, call: ApiCall): Promise<void> {
  const id = call.req.headers['x-filesapi-auth'];
  if (typeof id !== 'string' || id === '') {
    throw new RequestError('authentication_required', 'Send the session id in the X-FilesAPI-Auth header.');
  }
  // get() first: a session past its idle time is gone even if the periodic sweep has not run yet.
  if (!(await context.sessions.get(id)) || !(await context.sessions.delete(id))) {
    throw new GatewayError('SESSION_ENDED', 'logout with an unknown or expired session id', { text: 'session_ended' });
  }
  sendNoContent(call.res);
}

/** username with password, or username with partial_session_id and otp; otp may ride along with the password. */
function credentials(params: Record<string, unknown>): Credentials {
  const username = stringParam(params, 'username');
  const password = stringParam(params, 'password');
  const otp = stringParam(params, 'otp');
  const partialSessionId = stringParam(params, 'partial_session_id');
  if (username === undefined) throw paramRequired('username');
  if (partialSessionId !== undefined) {
    if (otp === undefined) throw paramRequired('otp', 'with partial_session_id');
    return { username, otp, partial_session_id: partialSessionId };
  }
  if (password === undefined) throw paramRequired('password');
  return { username, password, otp };
}

/** A non-empty string, or undefined when absent, null or empty; any other type is refused. */
function stringParam(params: Record<string, unknown>, name: string): string | undefined {
  const value = params[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') {
    throw new RequestError('params_required', `Parameter "${name}" must be a string.`);
  }
  return value;
}

function paramRequired(name: string, context?: string): RequestError {
  return new RequestError('params_required', `Missing required parameter "${name}"${context ? ` ${context}` : ''}.`);
}
