/**
 * FTP replies: a protocol-level refusal a handler can throw (`FtpReply`, for what is not a core
 * error: sequence errors, syntax, no data connection), and the wire format of a reply.
 */

export class FtpReply extends Error {
  constructor(
    readonly code: number,
    readonly text: string,
  ) {
    super(`${code} ${text}`);
    this.name = 'FtpReply';
  }
}

/**
 * One reply, single- or multi-line (RFC 959 4.2): `code-first`, the middle lines as given (each
 * starting with a space, so none can pass for a final line), then `code last`. CR and LF never
 * reach the wire from a text (a file name could otherwise forge a reply).
 */
export function formatReply(code: number, lines: readonly string[]): string {
  const safe = lines.map((line) => line.replace(/[\r\n]/g, ' '));
  if (safe.length <= 1) return `${code} ${safe[0] ?? ''}\r\n`;
  const middle = safe.slice(1, -1).map((line) => (line.startsWith(' ') ? line : ` ${line}`));
  return [`${code}-${safe[0]}`, ...middle, `${code} ${safe[safe.length - 1]}`].join('\r\n') + '\r\n';
}

/** A path inside a 257 reply: enclosed in quotes, embedded quotes doubled (RFC 959 appendix II). */
export function quotePath(virtualPath: string): string {
  return `"${virtualPath.replace(/"/g, '""')}"`;
}
