/**
 * The metrics listener: `GET /metrics` (Prometheus text), `/healthz` (the process answers) and
 * `/readyz` (every readiness check passes: the listeners are up, and whatever else the gateway
 * registers, such as a shared store being reachable). Nothing else; no request body is read.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsConfig } from '../config.js';
import type { RunningServer } from '../protocols/context.js';
import type { GatewayMetrics } from './gateway-metrics.js';

/** Resolves with undefined when ready, or a short reason why not (shown by /readyz). */
export type ReadinessCheck = () => Promise<string | undefined>;

const CHECK_TIMEOUT_MS = 2_000;

export async function startMetricsServer(config: MetricsConfig, metrics: GatewayMetrics, checks: Record<string, ReadinessCheck>): Promise<RunningServer> {
  const server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 }, (req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    const reply = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' }).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'text/plain; charset=utf-8', 'GET only\n');
    if (path === '/healthz') return reply(200, 'text/plain; charset=utf-8', 'ok\n');
    if (path === '/readyz') {
      void readiness(checks).then((failures) =>
        reply(failures.length === 0 ? 200 : 503, 'application/json; charset=utf-8', `${JSON.stringify({ ready: failures.length === 0, failures })}\n`),
      );
      return;
    }
    if (path === '/metrics') {
      metrics.text().then(
        (text) => reply(200, metrics.registry.contentType, text),
        () => reply(500, 'text/plain; charset=utf-8', 'metrics collection failed\n'),
      );
      return;
    }
    reply(404, 'text/plain; charset=utf-8', 'not found: try /metrics, /healthz or /readyz\n');
  });
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: config.host, port: config.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { addresses: { metrics: server.address() as AddressInfo }, close: () => closeServer(server) };
}

/** The names and reasons of the checks that fail (or take too long). */
async function readiness(checks: Record<string, ReadinessCheck>): Promise<{ check: string; reason: string }[]> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([check, run]) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('timed out'), CHECK_TIMEOUT_MS)));
      const reason = await Promise.race([run().catch((err: unknown) => (err instanceof Error ? err.message : String(err))), timeout]);
      clearTimeout(timer);
      return reason === undefined ? undefined : { check, reason };
    }),
  );
  return results.filter((r) => r !== undefined);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
