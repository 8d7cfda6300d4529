/**
 * SIGHUP for `filegate serve`: re-read the config file and reload the gateway, the way sshd and
 * ProFTPD do. A refused reload is reported with the same message start-up would print, on stderr and
 * in the log, and the gateway keeps running as it was.
 */
import { workerConfig } from '../cluster.js';
import { loadConfigFile } from '../config.js';
import type { Gateway } from '../gateway.js';
import type { Logger } from '../core/index.js';

export function reloadOnSighup(starting: Promise<Gateway>, configFile: string | undefined, logger: Logger): void {
  process.on('SIGHUP', () => {
    logger.info({ event: 'reload', signal: 'SIGHUP' }, 'reloading');
    void (async () => {
      try {
        const gateway = await starting;
        // A worker compares with what it runs: its share of the passive ports, not the whole range.
        await gateway.reload(configFile === undefined ? undefined : workerConfig(await loadConfigFile(configFile)));
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        logger.error({ event: 'reload', outcome: 'refused', error: message }, 'reload refused; the previous configuration stays');
        process.stderr.write(`filegate: reload refused: ${message}\n`);
      }
    })();
  });
}
