/**
 * The gateway's Prometheus metrics: one prom-client Registry per gateway (never the global one), fed
 * by core events (logins, transfers and denials of the guarded filesystem) and by reading the session
 * table at scrape time. Label values are protocol, direction, outcome and error codes only: never a
 * username or a path, so the series count stays small and nothing personal is exported.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FsObserver, LoginOutcome, SessionManager, SessionSummary } from '../core/index.js';

const PROTOCOLS = ['sftp', 'ftp', 'http'] as const;

export class GatewayMetrics implements FsObserver {
  readonly registry = new Registry();
  private readonly logins: Counter<'protocol' | 'outcome' | 'reason'>;
  private readonly lockouts: Counter<'scope'>;
  private readonly bytes: Counter<'protocol' | 'direction'>;
  private readonly files: Counter<'protocol' | 'direction'>;
  private readonly durations: Histogram<'protocol' | 'direction'>;
  private readonly denials: Counter<'operation' | 'reason'>;
  private readonly lag: IntervalHistogram;

  constructor(private readonly sessions: SessionManager) {
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: L[]): Counter<L> => new Counter({ name, help, labelNames, registers });
    this.logins = counter('filegate_logins_total', 'Login attempts by protocol, outcome (success, failure) and refusal reason (an error code; "none" on success).', ['protocol', 'outcome', 'reason']);
    this.lockouts = counter('filegate_lockout_refusals_total', 'Logins refused because the username (scope "user") or the source address (scope "source") is locked out.', ['scope']);
    this.bytes = counter('filegate_transfer_bytes_total', 'Bytes of completed transfers by protocol and direction (upload, download).', ['protocol', 'direction']);
    this.files = counter('filegate_transfer_files_total', 'Completed file transfers by protocol and direction.', ['protocol', 'direction']);
    this.durations = new Histogram({
      name: 'filegate_transfer_duration_seconds',
      help: 'Duration of completed file transfers.',
      labelNames: ['protocol', 'direction'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers,
    });
    this.denials = counter('filegate_denied_operations_total', 'File operations refused by policy, by operation and reason (error code).', ['operation', 'reason']);
    this.perProtocol('filegate_sessions', 'Live sessions held by this process, by protocol.', () => 1);
    this.perProtocol('filegate_connections', 'Logged-in SFTP and FTP connections held by this process, by protocol.', (s) => s.connections);
    this.lag = monitorEventLoopDelay({ resolution: 10 });
    this.lag.enable();
    const lagGauge = new Gauge({
      name: 'filegate_event_loop_lag_seconds',
      help: 'Event-loop delay since the previous scrape: mean, p99 and max.',
      labelNames: ['stat'],
      registers,
      collect: () => {
        const seconds = (ns: number): number => (Number.isFinite(ns) ? ns / 1e9 : 0);
        lagGauge.set({ stat: 'mean' }, seconds(this.lag.mean));
        lagGauge.set({ stat: 'p99' }, seconds(this.lag.percentile(99)));
        lagGauge.set({ stat: 'max' }, seconds(this.lag.max));
        this.lag.reset();
      },
    });
    sessions.on('login', (outcome) => this.login(outcome));
  }

  transfer(protocol: string, direction: 'upload' | 'download', bytes: number, durationMs: number): void {
    this.bytes.inc({ protocol, direction }, bytes);
    this.files.inc({ protocol, direction });
    this.durations.observe({ protocol, direction }, durationMs / 1000);
  }

  denied(operation: string, reason: string): void {
    this.denials.inc({ operation, reason });
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    this.lag.disable();
  }

  private login(outcome: LoginOutcome): void {
    this.logins.inc({ protocol: outcome.protocol, outcome: outcome.reason ? 'failure' : 'success', reason: outcome.reason ?? 'none' });
    if (outcome.reason === 'LOCKED_OUT') this.lockouts.inc({ scope: 'user' });
    if (outcome.reason === 'RATE_LIMITED') this.lockouts.inc({ scope: 'source' });
  }

  /** A gauge by protocol, summed over this node's sessions at scrape time. */
  private perProtocol(name: string, help: string, count: (session: SessionSummary) => number): void {
    const gauge = new Gauge({
      name,
      help,
      labelNames: ['protocol'],
      registers: [this.registry],
      collect: async () => {
        const totals = new Map<string, number>(PROTOCOLS.map((p) => [p, 0]));
        for (const session of await this.sessions.list()) {
          // A shared store lists every node's sessions; this node reports its own.
          if (session.node === this.sessions.node) totals.set(session.protocol, (totals.get(session.protocol) ?? 0) + count(session));
        }
        for (const [protocol, value] of totals) gauge.set({ protocol }, value);
      },
    });
  }

}
