/** Reads a JSON request body: content type checked, size limited, with a deadline. */
import type { IncomingMessage } from 'node:http';
import { RequestError } from './request-errors.js';

export interface BodyLimits {
  maxBytes: number;
  timeoutMs: number;
}

export interface JsonBody {
  params: Record<string, unknown>;
  /** The bytes as sent: identical retries of one request have identical bytes. */
  raw: Buffer;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as a JSON object; no body at all (the SDK sends none without parameters) is `{}`. */
export async function readJsonObject(req: IncomingMessage, limits: BodyLimits): Promise<JsonBody> {
  const length = req.headers['content-length'];
  const hasBody = length === undefined ? req.headers['transfer-encoding'] !== undefined : length !== '0';
  if (!hasBody) return { params: {}, raw: Buffer.alloc(0) };
  checkContentType(req.headers['content-type']);
  if (length !== undefined && Number(length) > limits.maxBytes) throw tooLarge(limits.maxBytes);

  const raw = await readRaw(req, limits);
  if (raw.length === 0) return { params: {}, raw };
  let params: unknown;
  try {
    params = JSON.parse(utf8.decode(raw));
  } catch {
    throw new RequestError('invalid_body', 'The request body is not valid UTF-8 JSON.');
  }
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new RequestError('invalid_body', 'The request body must be a JSON object.');
  }
  return { params: params as Record<string, unknown>, raw };
}

function checkContentType(header: string | undefined): void {
  const [mediaType, ...params] = (header ?? '').split(';').map((p) => p.trim().toLowerCase());
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  if (mediaType !== 'application/json' || (charset !== undefined && charset !== 'utf-8')) {
    throw new RequestError('unsupported_media_type', 'Send the request body as JSON with "Content-Type: application/json".');
  }
}

function tooLarge(maxBytes: number): RequestError {
  return new RequestError('body_too_large', `The request body is larger than ${maxBytes} bytes.`);
}

function readRaw(req: IncomingMessage, { maxBytes, timeoutMs }: BodyLimits): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      const seconds = Math.round(timeoutMs / 1000);
      // A client this slow gets the connection closed, not more of our time to finish its body.
      finish(new RequestError('request_timeout', `The request body did not arrive within ${seconds} seconds.`, { Connection: 'close' }));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) finish(tooLarge(maxBytes));
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish();
    // The client went away: nobody reads the reply, but the handler must still settle.
    const onGone = (): void => finish(new RequestError('invalid_body', 'The request body was cut off.'));
    function finish(error?: RequestError): void {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onGone).off('close', onGone);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, size));
    }
    req.on('data', onData).on('end', onEnd).on('error', onGone).on('close', onGone);
  });
}

/**
 * Reads and drops what is left of a body we did not want (refused as too large, or a route that
 * takes none). Closing with unread data would make the kernel send a TCP reset, which can destroy
 * our reply before the client reads it. A client that keeps sending past `maxBytes` is cut off.
 */
export function discardBody(req: IncomingMessage, maxBytes: number): void {
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > maxBytes) req.socket.destroy();
  });
  req.resume();
}
