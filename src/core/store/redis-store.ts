/**
 * The fleet store on Redis (node-redis). Races between nodes are settled inside Redis: the lockout
 * counters are Lua scripts, a partial login is taken with GETDEL, a claim is SET NX. Commands never
 * queue while Redis is unreachable (no offline queue, a command timeout): the caller gets
 * UNAVAILABLE at once, so logins fail closed and nothing piles up; the client reconnects by itself.
 *
 * Keys, under the configured prefix: `session:<id>` (JSON record, expires unless refreshed),
 * `sessions` (sorted set of ids by expiry, for listing), `partial:<id>`, `claim:<key>`,
 * `fail:<key>` / `open:<key>` (sorted sets of failure times and open reservations), `lock:<key>`.
 * End requests travel on the channel `end:<node>`.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import { RESERVATION_TTL_MS, type CounterRule, type LockoutCounters, type Reservation } from './counters.js';
import type { GatewayStore, SessionRecord } from './store.js';

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  logger: Logger;
}

type Client = ReturnType<typeof newClient>;

const COMMAND_TIMEOUT_MS = 2_000;
const MAX_RECONNECT_DELAY_MS = 2_000;

const RESERVE = `
local lock = redis.call('GET', KEYS[3])
if lock then return {'locked', lock} end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {'busy'} end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {'reserved'}`;

const SETTLE = `
if redis.call('ZREM', KEYS[2], ARGV[4]) == 0 or ARGV[5] ~= '1' then return 0 end
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[3], tostring(now + tonumber(ARGV[6])), 'PX', ARGV[6])
  redis.call('DEL', KEYS[1])
end
return 1`;

export class RedisStore implements GatewayStore {
  readonly counters: LockoutCounters;
  private readonly logger: Logger;

  private constructor(
    private readonly client: Client,
    private readonly subscriber: Client,
    private readonly prefix: string,
    logger: Logger,
  ) {
    this.logger = logger;
    const keys = (key: string): string[] => [`${prefix}fail:${key}`, `${prefix}open:${key}`, `${prefix}lock:${key}`];
    this.counters = {
      reserve: async (key: string, rule: CounterRule, now: number): Promise<Reservation> => {
        const token = randomBytes(8).toString('hex');
        const args = [String(now), String(rule.windowMs), String(rule.limit), token, String(RESERVATION_TTL_MS)];
        const reply = (await this.run((c) => c.sendCommand(['EVAL', RESERVE, '3', ...keys(key), ...args]))) as string[];
        if (reply[0] === 'locked') return { kind: 'locked', until: Number(reply[1]) };
        return reply[0] === 'busy' ? { kind: 'busy' } : { kind: 'reserved', token };
      },
      settle: async (key, token, failed, rule, now) => {
        const args = [String(now), String(rule.windowMs), String(rule.limit), token, failed ? '1' : '0', String(rule.lockMs)];
        await this.run((c) => c.sendCommand(['EVAL', SETTLE, '3', ...keys(key), ...args]));
      },
      clear: async (key) => {
        await this.run((c) => c.sendCommand(['DEL', `${prefix}fail:${key}`]));
      },
    };
  }

  /** Connects in the background: until Redis answers, every call fails with UNAVAILABLE. */
  static create(options: RedisStoreOptions): RedisStore {
    const logger = options.logger.child({ component: 'redis' });
    return new RedisStore(newClient(options.url, logger), newClient(options.url, logger), options.keyPrefix, logger);
  }

  async claimOnce(key: string, ttlMs: number): Promise<boolean> {
    const reply = await this.run((c) => c.sendCommand(['SET', `${this.prefix}claim:${key}`, '1', 'NX', 'PX', String(ttlMs)]));
    return reply !== null;
  }

  async putPartial(id: string, username: string, ttlMs: number): Promise<void> {
    await this.run((c) => c.sendCommand(['SET', `${this.prefix}partial:${id}`, username, 'PX', String(ttlMs)]));
  }

  async takePartial(id: string): Promise<string | undefined> {
    const reply = await this.run((c) => c.sendCommand(['GETDEL', `${this.prefix}partial:${id}`]));
    return typeof reply === 'string' ? reply : undefined;
  }

  async saveSessions(records: SessionRecord[], ttlMs: number): Promise<void> {
    if (records.length === 0) return;
    const expiresAt = Date.now() + ttlMs;
    await this.run((c) => {
      const multi = c.multi();
      for (const record of records) {
        multi.addCommand(['SET', this.sessionKey(record.fields.id), JSON.stringify(record), 'PX', String(ttlMs)]);
        multi.addCommand(['ZADD', `${this.prefix}sessions`, String(expiresAt), record.fields.id]);
      }
      return multi.exec();
    });
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const reply = await this.run((c) => c.sendCommand(['GET', this.sessionKey(id)]));
    return typeof reply === 'string' ? (JSON.parse(reply) as SessionRecord) : undefined;
  }

  async removeSession(id: string): Promise<SessionRecord | undefined> {
    const reply = await this.run((c) =>
      c.multi().addCommand(['GETDEL', this.sessionKey(id)]).addCommand(['ZREM', `${this.prefix}sessions`, id]).exec(),
    );
    const record = (reply as unknown[])[0];
    return typeof record === 'string' ? (JSON.parse(record) as SessionRecord) : undefined;
  }

  async listSessions(): Promise<SessionRecord[]> {
    const index = `${this.prefix}sessions`;
    const ids = await this.run(async (c) => {
      await c.sendCommand(['ZREMRANGEBYSCORE', index, '-inf', String(Date.now())]);
      return (await c.sendCommand(['ZRANGE', index, '0', '-1'])) as string[];
    });
    if (ids.length === 0) return [];
    const values = (await this.run((c) => c.sendCommand(['MGET', ...ids.map((id) => this.sessionKey(id))]))) as (string | null)[];
    return values.filter((v): v is string => typeof v === 'string').map((v) => JSON.parse(v) as SessionRecord);
  }

  async requestEnd(node: string, id: string, reason: string): Promise<void> {
    await this.run((c) => c.sendCommand(['PUBLISH', `${this.prefix}end:${node}`, JSON.stringify({ id, reason })]));
  }

  onEndRequest(node: string, handler: (id: string, reason: string) => void): void {
    // node-redis re-subscribes after a reconnect by itself.
    this.subscriber
      .subscribe(`${this.prefix}end:${node}`, (message: string) => {
        try {
          const { id, reason } = JSON.parse(message) as { id: string; reason: string };
          handler(id, reason);
        } catch (err) {
          this.logger.warn({ event: 'redis_bad_message', err }, 'unreadable end request');
        }
      })
      .catch((err: unknown) => this.logger.error({ event: 'redis_subscribe_failed', err }, 'cannot subscribe to end requests'));
  }

  /** Resolves when Redis answers; rejects with UNAVAILABLE otherwise (readiness). */
  async ping(): Promise<void> {
    await this.run((c) => c.sendCommand(['PING']));
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.client.close(), this.subscriber.close()]);
  }

  private sessionKey(id: string): string {
    return `${this.prefix}session:${id}`;
  }

  /** Runs Redis commands; any failure (down, timeout) becomes UNAVAILABLE. */
  private async run<T>(command: (client: Client) => Promise<T>): Promise<T> {
    try {
      return await command(this.client);
    } catch (err) {
      throw new GatewayError('UNAVAILABLE', `session store unreachable: ${(err as Error).message}`, { text: 'unavailable', cause: err });
    }
  }
}

function newClient(url: string, logger: Logger) {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    commandOptions: { timeout: COMMAND_TIMEOUT_MS },
    socket: {
      connectTimeout: COMMAND_TIMEOUT_MS,
      reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 5), MAX_RECONNECT_DELAY_MS),
    },
  });
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) logger.error({ event: 'redis_unreachable', err: err.message }, 'redis unreachable: logins fail closed');
    down = true;
  });
  client.on('ready', () => {
    if (down) logger.info({ event: 'redis_ready' }, 'redis reachable again');
    down = false;
  });
  client.connect().catch(() => {}); // reported by the error handler; reconnects by itself
  return client;
}
