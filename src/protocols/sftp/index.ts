/** sftp adapter: placeholder until it is built. */
import type { SftpConfig } from '../../config.js';
import type { AdapterContext, RunningServer } from '../context.js';

export async function startSftpServer(_context: AdapterContext, _config: SftpConfig): Promise<RunningServer> {
  throw new Error('the sftp adapter is not built yet');
}
