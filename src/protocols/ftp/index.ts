/** ftp adapter: placeholder until it is built. */
import type { FtpConfig } from '../../config.js';
import type { AdapterContext, RunningServer } from '../context.js';

export async function startFtpServer(_context: AdapterContext, _config: FtpConfig): Promise<RunningServer> {
  throw new Error('the ftp adapter is not built yet');
}
