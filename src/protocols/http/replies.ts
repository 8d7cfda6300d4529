/**
 * What goes on the wire: the flat JSON resource on success, and the Files.com error object
 * `{error, http-code, title, type, instance, data}` on failure (the files.com SDK picks its error class
 * from `type` and its message from `error`).
 */
import type { ServerResponse } from 'node:http';
import type { HttpError } from '../error-map.js';

export interface ErrorReply extends HttpError {
  /** Client-safe text: a catalog message or a request-shape explanation, never an internal message. */
  message: string;
  data: Record<string, unknown>;
}

export function errorBody(reply: ErrorReply, requestId: string): Record<string, unknown> {
  return {
    error: reply.message,
    'http-code': reply.status,
    title: reply.title,
    type: reply.type,
    instance: requestId,
    data: reply.data,
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(json.length),
    // Session replies carry a bearer credential; nothing here is worth caching anywhere.
    'Cache-Control': 'no-store',
  });
  res.end(json);
}

export function sendNoContent(res: ServerResponse): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(204);
  res.end();
}

export function sendError(res: ServerResponse, reply: ErrorReply, requestId: string, headers: Record<string, string> = {}): void {
  sendJson(res, reply.status, errorBody(reply, requestId), headers);
}
