/**
 * Embedding filegate in your own daemon: your user source, your logger, your lifecycle.
 * Run: `npm run example:embed` (SFTP on a free 127.0.0.1 port; log in as "ada" / "lovelace").
 */
import { pino } from 'pino';
import { createGateway, hashPassword, userRecordSchema, type UserDirectory, type UserRecord } from '../src/index.js';

/** Stands in for your database: look users up however you like, return validated records. */
class InMemoryDirectory implements UserDirectory {
  private readonly users = new Map<string, UserRecord>();

  async add(username: string, password: string, flags: Partial<UserRecord> = {}): Promise<void> {
    const record = userRecordSchema.parse({ username, password_hash: await hashPassword(password), root_path: username, ...flags });
    this.users.set(username, record);
  }

  async findUser(username: string): Promise<UserRecord | undefined> {
    return this.users.get(username);
  }
}

const logger = pino({ level: 'info', base: { service: 'my-transfer-daemon' } });
const users = new InMemoryDirectory();
await users.add('ada', 'lovelace');
await users.add('auditor', 'read-only-please', { read_only: true, max_dir_listing_size: 100 });

const gateway = await createGateway(
  { storage: './data', certsDir: './certs', sftp: { host: '127.0.0.1', port: 0 } },
  { users, logger },
);
gateway.sessions.on('created', (session) => logger.info({ user: session.username, protocol: session.origin.protocol }, 'welcome'));
gateway.sessions.on('deleted', (session, reason) => logger.info({ user: session.username, reason }, 'goodbye'));
logger.info({ port: gateway.addresses.sftp?.port }, 'embedded SFTP gateway ready');

// Your daemon owns the process: it decides how to stop.
process.once('SIGINT', () => void gateway.close().then(() => process.exit(0)));
