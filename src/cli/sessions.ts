/**
 * `filegate sessions list | end REF | end-user NAME`: the admin API from a shell. The token comes from
 * FILEGATE_ADMIN_TOKEN (never argv, where `ps` shows it); `--json` prints the API's answer for scripts.
 */
import { parseArgs } from 'node:util';

export const SESSIONS_HELP = `Usage:
  filegate sessions list [--json]          every live session (all nodes)
  filegate sessions end ID [--json]        end one session and its connections (ID as listed)
  filegate sessions end-user NAME [--json] end every session of a user
Options:
  --url URL   the gateway's HTTP listener (default http://127.0.0.1:8080)
The admin token is read from the FILEGATE_ADMIN_TOKEN environment variable.`;

const TIMEOUT_MS = 10_000;

interface AdminSession {
  id: string;
  username: string;
  protocol: string;
  remote_address: string;
  created_at: string;
  last_active_at: string;
  node: string;
  connections: number;
}

export async function sessionsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { url: { type: 'string', default: 'http://127.0.0.1:8080' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  const [action, target, ...extra] = positionals;
  if (values.help) {
    console.log(SESSIONS_HELP);
    return 0;
  }
  const needsTarget = action === 'end' || action === 'end-user';
  if (!(action === 'list' || needsTarget) || (needsTarget ? target === undefined || extra.length > 0 : target !== undefined)) {
    console.error(`filegate sessions: expected list, end ID or end-user NAME\n\n${SESSIONS_HELP}`);
    return 2;
  }
  const token = process.env.FILEGATE_ADMIN_TOKEN;
  if (!token) {
    console.error('filegate sessions: set FILEGATE_ADMIN_TOKEN to the gateway\'s admin token');
    return 2;
  }
  const path =
    action === 'list' ? 'sessions'
    : action === 'end' ? `sessions/${encodeURIComponent(target!)}`
    : `users/${encodeURIComponent(target!)}/sessions`;
  const answer = await call(values.url!, path, action === 'list' ? 'GET' : 'DELETE', token);
  if (!answer.ok) {
    console.error(`filegate sessions: ${answer.status} ${answer.message}`);
    return 1;
  }
  if (values.json) {
    console.log(JSON.stringify(answer.body, null, 2));
    return 0;
  }
  if (action === 'list') console.log(table(answer.body as AdminSession[]));
  else if (action === 'end') console.log(`ended session ${(answer.body as AdminSession).id} of ${(answer.body as AdminSession).username}`);
  else {
    const ended = (answer.body as { ended: AdminSession[] }).ended;
    console.log(`ended ${ended.length} session${ended.length === 1 ? '' : 's'} of ${target}`);
  }
  return 0;
}

type Answer = { ok: true; body: unknown } | { ok: false; status: number | string; message: string };

async function call(base: string, path: string, method: string, token: string): Promise<Answer> {
  let url: URL;
  try {
    url = new URL(`api/rest/v1/admin/${path}`, base.endsWith('/') ? base : `${base}/`);
  } catch {
    return { ok: false, status: 'bad --url', message: base };
  }
  let response: Response;
  try {
    response = await fetch(url, { method, headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { ok: false, status: 'no answer', message: `${url.origin}: ${cause ?? (err as Error).message}` };
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.ok) return { ok: true, body };
  const message = (body as { error?: string } | undefined)?.error ?? text.slice(0, 200);
  return { ok: false, status: response.status, message };
}

const COLUMNS = ['id', 'username', 'protocol', 'remote_address', 'created_at', 'last_active_at', 'node', 'connections'] as const;

/** Aligned columns with a header; times shortened to the second. */
function table(sessions: AdminSession[]): string {
  if (sessions.length === 0) return 'no live sessions';
  const rows = [
    COLUMNS.map((c) => c.toUpperCase().replace(/_/g, ' ')),
    ...sessions.map((s) => COLUMNS.map((c) => (c.endsWith('_at') ? String(s[c]).replace(/\.\d+Z$/, 'Z') : String(s[c])))),
  ];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
