/**
 * Errors about the shape of an HTTP request: bad JSON, a missing parameter, an unknown route. They
 * have no core error code because the core never sees such a request (login refusals and session
 * errors go through `error-map.ts`). Every type is one the files.com SDK knows, so it raises a
 * specific error class. The texts are for the developer of a client, in English like Files.com's.
 */
import type { HttpError } from '../error-map.js';
import type { ErrorReply } from './replies.js';

const REQUEST_ERRORS = {
  invalid_body: { status: 400, type: 'bad-request/invalid-body', title: 'Invalid Body' },
  body_too_large: { status: 413, type: 'bad-request/invalid-body', title: 'Invalid Body' },
  request_timeout: { status: 408, type: 'bad-request/invalid-body', title: 'Invalid Body' },
  params_required: { status: 400, type: 'bad-request/request-params-required', title: 'Request Params Required' },
  unsupported_media_type: { status: 415, type: 'bad-request/unsupported-media-type', title: 'Unsupported Media Type' },
  malformed_request: { status: 400, type: 'bad-request', title: 'Bad Request' },
  headers_too_large: { status: 431, type: 'bad-request', title: 'Bad Request' },
  not_found: { status: 404, type: 'not-found', title: 'Not Found' },
  method_not_allowed: { status: 405, type: 'bad-request/method-not-allowed', title: 'Method Not Allowed' },
  authentication_required: { status: 401, type: 'not-authenticated/authentication-required', title: 'Authentication Required' },
  too_many_connections: { status: 503, type: 'service-unavailable', title: 'Service Unavailable' },
} as const satisfies Record<string, HttpError>;

export type RequestErrorKind = keyof typeof REQUEST_ERRORS;

export class RequestError extends Error {
  readonly reply: HttpError;

  constructor(
    kind: RequestErrorKind,
    message: string,
    /** Extra response headers (`Allow` on 405). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'RequestError';
    this.reply = REQUEST_ERRORS[kind];
  }

  toReply(): ErrorReply {
    return { ...this.reply, message: this.message, data: {} };
  }
}
