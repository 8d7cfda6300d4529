/**
 * The HTTP adapter: a Files.com-compatible session API on Node's `http` module.
 * `/api/rest/v1/sessions` (POST logs in, DELETE logs out) and, with an admin token, the admin API
 * (`admin-api.ts`); everything else gets a Files.com-style JSON error. Resources are bounded: body size and time, header size and time, keep-alive lifetime,
 * connection count.
 */
import { randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HttpConfig } from '../../config.js';
import { Admission, type AdmissionTicket, type Logger } from '../../core/index.js';
import type { AdapterContext, RunningServer } from '../context.js';
import { proxyPolicy, readClientAddress } from '../proxy-protocol.js';
import { describeError } from '../error-map.js';
import { preferredLanguage } from './accept-language.js';
import { discardBody } from './body.js';
import { errorBody, sendError, type ErrorReply } from './replies.js';
import { RequestError, type RequestErrorKind } from './request-errors.js';
import { createSession, deleteSession, type ApiCall } from './sessions-api.js';
import { adminRoute, loggablePath, type Handler } from './admin-api.js';
import type { AdminToken } from './admin-auth.js';

/** path -> method -> handler (Maps: a request path or method never reaches Object.prototype). */
const ROUTES = new Map<string, Map<string, Handler>>([
  ['/api/rest/v1/sessions', new Map([['POST', createSession], ['DELETE', deleteSession]])],
]);

const HEADERS_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_MS = 5_000;
const MAX_REQUESTS_PER_SOCKET = 100;
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_LOGGED_PATH = 256;
const MAX_DISCARDED_BODY_BYTES = 1024 * 1024;

export interface HttpServerOptions {
  /** The admin API's token; without one the admin paths do not exist. */
  adminToken?: AdminToken;
}

export async function startHttpServer(context: AdapterContext, config: HttpConfig, options: HttpServerOptions = {}): Promise<RunningServer> {
  const logger = context.logger.child({ component: 'http' });
  const requestTimeoutMs = config.requestTimeoutSeconds * 1000;
  const limits = { maxBytes: config.maxBodyBytes, timeoutMs: requestTimeoutMs };
  const server = createServer(
    {
      requestTimeout: requestTimeoutMs,
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, requestTimeoutMs),
      keepAliveTimeout: KEEP_ALIVE_MS,
      maxHeaderSize: MAX_HEADER_BYTES,
      // Node checks the two timeouts above on this interval (default 30 s, which would let a slow
      // client hold a socket for that much longer).
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => void handle(context, logger, limits, options.adminToken, tickets.get(req.socket), req, res),
  );
  server.maxRequestsPerSocket = MAX_REQUESTS_PER_SOCKET;
  /** Each admitted socket's ticket: its client address, and its deadline for a first request. */
  const tickets = new WeakMap<Socket, AdmissionTicket>();
  // HTTP has no login per connection: the deadline is a backstop for a first request, after Node's
  // own header and request timeouts (which answer 408) have had their turn. Between requests, Node's
  // keep-alive timeout is HTTP's idle timeout.
  const admission = new Admission(
    { maxConnections: config.maxConnections, maxConnectionsPerSource: config.maxConnectionsPerSource, loginTimeoutMs: 2 * requestTimeoutMs, idleTimeoutMs: 0 },
    { logger },
  );
  const proxy = proxyPolicy(config.proxyProtocol, context.config.trustedProxies);
  /** Sockets still waiting for their PROXY header (Node's HTTP server does not know them yet). */
  const awaitingHeader = new Set<Socket>();
  interceptConnections(server, (socket, parse) => {
    awaitingHeader.add(socket);
    readClientAddress(socket, proxy).then(
      (client) => {
        awaitingHeader.delete(socket);
        const admitted = admission.admit(client.remoteAddress, { loginDeadline: () => socket.destroy() });
        if (!admitted.ok) {
          answerRaw(socket, new RequestError('too_many_connections', 'Too many connections; try again later.'));
          return;
        }
        tickets.set(socket, admitted.ticket);
        socket.once('close', () => admitted.ticket.release());
        parse(socket);
      },
      (err: Error) => {
        awaitingHeader.delete(socket);
        logger.warn({ event: 'proxy_header_refused', peer: socket.remoteAddress, reason: err.message }, 'connection closed: PROXY header');
        socket.destroy();
      },
    );
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(logger, err, socket));

  await listen(server, config.host, config.port);
  server.on('error', (err) => logger.error({ event: 'http_server_error', err }, 'http server error'));
  return {
    addresses: { http: server.address() as AddressInfo },
    close: () => {
      for (const socket of awaitingHeader) socket.destroy();
      return closeServer(server);
    },
  };
}

/**
 * Puts `accept` between the listener and Node's HTTP parser, so a connection is admitted (and, behind
 * a proxy, its client address read from the PROXY header) before a byte of it is parsed. Node's parser is the server's one
 * `connection` listener; `accept` calls it for the sockets it lets through.
 */
function interceptConnections(server: Server, accept: (socket: Socket, parse: (socket: Socket) => void) => void): void {
  const listeners = server.listeners('connection');
  if (listeners.length !== 1) throw new Error(`http: expected Node's one connection listener, found ${listeners.length}`);
  const parser = listeners[0] as (socket: Socket) => void;
  server.removeListener('connection', parser);
  server.on('connection', (socket: Socket) => accept(socket, (admitted) => parser.call(server, admitted)));
}

async function handle(
  context: AdapterContext,
  logger: Logger,
  limits: ApiCall['limits'],
  adminToken: AdminToken | undefined,
  ticket: AdmissionTicket | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const started = performance.now();
  const requestId = randomUUID();
  const path = pathOf(req.url);
  ticket?.authenticated(); // a request arrived in time: from here Node's request and keep-alive timeouts rule
  const call: ApiCall = {
    req,
    res,
    remoteAddress: ticket?.source ?? 'unknown',
    language: preferredLanguage(req.headers['accept-language']),
    limits,
  };
  res.setHeader('X-Request-Id', requestId);
  // The access log: no bodies and no headers, so no password, code or session id.
  res.on('close', () =>
    logger.info(
      {
        event: 'http_request',
        request: requestId,
        method: req.method,
        path: loggablePath(path).slice(0, MAX_LOGGED_PATH),
        status: res.statusCode,
        completed: res.writableFinished,
        ms: Math.round(performance.now() - started),
        remote: call.remoteAddress,
      },
      'http request',
    ),
  );
  try {
    const route = ROUTES.get(path) ?? adminRoute(path, adminToken);
    if (!route) throw new RequestError('not_found', 'No such API endpoint.');
    const handler = route.get(req.method ?? '');
    if (!handler) {
      const allow = [...route.keys()].join(', ');
      throw new RequestError('method_not_allowed', `Method ${req.method} is not allowed here; use ${allow}.`, { Allow: allow });
    }
    await handler(context, call);
  } catch (err) {
    const { reply, headers } = errorReply(err, call.language);
    if (reply.status >= 500) logger.error({ event: 'http_request_failed', request: requestId, err }, 'request failed');
    sendError(res, reply, requestId, headers);
  } finally {
    if (!req.complete) discardBody(req, MAX_DISCARDED_BODY_BYTES);
  }
}

function errorReply(err: unknown, language: string | undefined): { reply: ErrorReply; headers: Record<string, string> } {
  if (err instanceof RequestError) return { reply: err.toReply(), headers: err.headers };
  const described = describeError(err, language);
  return { reply: { ...described.http, message: described.message, data: described.data }, headers: {} };
}

/** The path without query string; a target that is not a path never matches a route. */
function pathOf(url: string | undefined): string {
  const path = (url ?? '').split('?', 1)[0]!;
  return path.startsWith('/') ? path : '';
}

/**
 * Requests Node's parser refuses (malformed, headers too large or too slow) get the same JSON error
 * shape instead of Node's bare status line.
 */
function answerClientError(logger: Logger, err: NodeJS.ErrnoException, socket: Duplex): void {
  logger.info({ event: 'http_client_error', code: err.code }, 'malformed or slow http request');
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const kind: RequestErrorKind =
    err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large'
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout'
    : 'malformed_request';
  answerRaw(socket, new RequestError(kind, kind === 'request_timeout' ? 'The request did not arrive in time.' : 'The HTTP request is malformed.'));
}

/** A whole HTTP error response written straight to the socket, which is then closed. */
function answerRaw(socket: Duplex, error: RequestError): void {
  const body = JSON.stringify(errorBody(error.toReply(), randomUUID()));
  socket.end(
    `HTTP/1.1 ${error.reply.status} ${STATUS_CODES[error.reply.status]}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
