/**
 * The deployment examples, checked as far as this machine can: the systemd unit by
 * `systemd-analyze verify`, every example config by the loader `filegate serve` uses, the compose
 * file's references (files, addresses HAProxy names) and the Dockerfile's promises. Building the
 * image needs a Docker engine, which the test machines do not have; the compose fleet itself runs in
 * network namespaces in compose-fleet.test.ts.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { configSchema, loadConfigFile } from '../../src/config.js';
import { hasCommand } from '../helpers/gateway.js';

const EXAMPLES = path.resolve('examples');
const read = (file: string) => readFile(path.join(EXAMPLES, file), 'utf8');

describe('deployment examples', () => {
  it.skipIf(!hasCommand('systemd-analyze'))('the systemd unit passes systemd-analyze verify and keeps its hardening', async () => {
    const result = await promisify(execFile)('systemd-analyze', ['verify', path.join(EXAMPLES, 'systemd/filegate.service')]).then(
      ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, output: err.stdout + err.stderr }),
    );
    expect(result).toEqual({ code: 0, output: '' });
    const unit = await read('systemd/filegate.service');
    for (const line of ['Environment=MALLOC_MMAP_THRESHOLD_=4194304', 'DynamicUser=yes', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE', 'AmbientCapabilities=CAP_NET_BIND_SERVICE', 'ExecReload=/bin/kill -HUP $MAINPID']) {
      expect(unit.split('\n')).toContain(line);
    }
  });

  // The fleet configs use the `redis` block, which arrives with the shared session store.
  const fleet = 'redis' in configSchema.shape ? ['compose/node-a.json', 'compose/node-b.json'] : [];
  it.each(['systemd/filegate.json', ...fleet])('%s is a valid config', async (file) => {
    const config = await loadConfigFile(path.join(EXAMPLES, file));
    expect(config.metrics).toBeDefined();
    expect(config.http?.adminTokenFile).toBe('/etc/filegate/admin-token');
  });

  it('the compose file refers to files that exist and to the addresses examples/haproxy.cfg names', async () => {
    const compose = await read('compose/compose.yaml');
    const haproxy = await read('haproxy.cfg');
    // admin-token is the operator's to create (the file's first instruction); everything else ships.
    const mounted = [...compose.matchAll(/- (\.{1,2}\/[\w./-]+):/g)].map((m) => m[1]!).filter((file) => file !== './admin-token');
    expect(mounted.length).toBeGreaterThan(4);
    for (const file of mounted) expect(existsSync(path.join(EXAMPLES, 'compose', file)), file).toBe(true);
    expect(existsSync(path.resolve(/dockerfile: (\S+)/.exec(compose)![1]!))).toBe(true);
    const servers = [...haproxy.matchAll(/^\s+server \w+ (10\.0\.0\.\d+)/gm)].map((m) => m[1]!);
    expect(new Set(servers)).toEqual(new Set(['10.0.0.21', '10.0.0.22']));
    for (const address of servers) expect(compose).toContain(`ipv4_address: ${address}`);
    for (const node of ['a', 'b']) {
      const config = JSON.parse(await read(`compose/node-${node}.json`)) as { redis: { url: string }; trustedProxies: string[] };
      expect(compose).toContain(`ipv4_address: ${new URL(config.redis.url).hostname}`);
      expect(config.trustedProxies).toEqual(['10.0.0.10/32']);
    }
  });

  it('the Dockerfile installs production dependencies only, runs unprivileged and checks health', async () => {
    const dockerfile = await read('docker/Dockerfile');
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev /m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^ENV MALLOC_MMAP_THRESHOLD_=4194304$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n.*\/readyz/m);
    for (const [, source] of dockerfile.matchAll(/^COPY (?!--from)([^\n]+) \S+$/gm)) {
      for (const file of source!.split(' ')) expect(existsSync(path.resolve(file))).toBe(true);
    }
  });
});
