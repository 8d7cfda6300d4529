/** http adapter: placeholder until it is built. */
import type { HttpConfig } from '../../config.js';
import type { AdapterContext, RunningServer } from '../context.js';

export async function startHttpServer(_context: AdapterContext, _config: HttpConfig): Promise<RunningServer> {
  throw new Error('the http adapter is not built yet');
}
