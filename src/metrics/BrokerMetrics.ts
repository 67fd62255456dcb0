import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LATENCY_BUCKETS, ProtocolStats } from './RequestStats.js';

/** Disk write durations (seconds): an fsync on a fast SSD to a large snapshot on a slow disk. */
const DISK_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the gauges read when scraped: the running broker's parts. */
export interface MetricSources {
  entries(): number;
  /** undefined: not counted by this store (etcd bounds its own size). */
  registryBytes(): number | undefined;
  openConnections(): number;
  watchers(): number;
  /** undefined: not counted by this store (etcd's leases are shared by every broker). */
  leases(): number | undefined;
  extensionsLoaded(): number;
  storageAvailable(): boolean;
}

export type Protocol = 'legacy' | 'grpc' | 'udp';

/**
 * The broker's Prometheus metrics, on a registry of its own (not prom-client's global one). Requests are
 * counted by each transport's entry point in cheap tables (ProtocolStats) and rendered at scrape time; the rest
 * (disk writes, extension calls) are rarer than requests and go straight to prom-client.
 */
export class BrokerMetrics {
  readonly registry = new Registry();
  readonly protocols: Record<Protocol, ProtocolStats>;
  readonly journalFsync: Histogram;
  readonly snapshot: Histogram;
  readonly extensionCalls: Counter<'namespace' | 'method'>;
  readonly extensionErrors: Counter<'namespace' | 'method'>;
  readonly extensionTimeouts: Counter<'namespace' | 'method'>;
  readonly extensionReloads: Counter<'namespace' | 'result'>;
  private sources: MetricSources | undefined;

  constructor(known: (namespace: string, method: string) => boolean) {
    const reg = this.registry;
    this.protocols = { legacy: new ProtocolStats('legacy', known), grpc: new ProtocolStats('grpc', known), udp: new ProtocolStats('udp', () => true) };
    collectDefaultMetrics({ register: reg });
    const stats = Object.values(this.protocols);
    reg.registerMetric(requestCounter(stats) as never);
    reg.registerMetric(requestHistogram(stats) as never);
    this.journalFsync = new Histogram({ name: 'bpbroker_journal_fsync_duration_seconds', help: 'Journal write and fsync of one batch of registry changes', buckets: DISK_BUCKETS, registers: [reg] });
    this.snapshot = new Histogram({ name: 'bpbroker_snapshot_duration_seconds', help: 'Writing the whole registry to bpbroker.json, fsync included', buckets: DISK_BUCKETS, registers: [reg] });
    const byCall = ['namespace', 'method'] as const;
    this.extensionCalls = new Counter({ name: 'bpbroker_extension_calls_total', help: 'Extension method calls', labelNames: byCall, registers: [reg] });
    this.extensionErrors = new Counter({ name: 'bpbroker_extension_errors_total', help: 'Extension calls that failed (threw, crashed, timed out or answered 5xx)', labelNames: byCall, registers: [reg] });
    this.extensionTimeouts = new Counter({ name: 'bpbroker_extension_timeouts_total', help: 'Extension calls cut off at their time limit', labelNames: byCall, registers: [reg] });
    this.extensionReloads = new Counter({ name: 'bpbroker_extension_reloads_total', help: 'Extension loads and reloads, by result (ok, failed)', labelNames: ['namespace', 'result'] as const, registers: [reg] });
    const gauge = (name: string, help: string, read: (s: MetricSources) => number | undefined): void => {
      const self = this;
      new Gauge({
        name,
        help,
        registers: [reg],
        collect() {
          const value = self.sources && read(self.sources);
          if (value !== undefined) this.set(value);
        },
      });
    };
    gauge('bpbroker_entries', 'Entries in the registry', (s) => s.entries());
    gauge('bpbroker_registry_bytes', 'UTF-8 bytes of all names and entries (api.max_registry_bytes bounds it)', (s) => s.registryBytes());
    gauge('bpbroker_open_connections', 'TLS connections open now (every port; api.max_connections bounds it)', (s) => s.openConnections());
    gauge('bpbroker_watchers', 'Watches waiting for a change now (long-polls, gRPC streams, extensions)', (s) => s.watchers());
    gauge('bpbroker_leases', 'Entries holding a lease (a TTL)', (s) => s.leases());
    gauge('bpbroker_extensions_loaded', 'Extension namespaces with a loaded version', (s) => s.extensionsLoaded());
    gauge('bpbroker_storage_available', '1 while the registry can be written (its files, or etcd), 0 while writes are refused', (s) => (s.storageAvailable() ? 1 : 0));
  }

  /** The gauges read these from now on. */
  attach(sources: MetricSources): void {
    this.sources = sources;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/** A metric prom-client's registry renders: it only calls get() and reads name and type. */
function customMetric(name: string, help: string, type: 'counter' | 'histogram', values: () => MetricValue[]) {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get: () => ({ name, help, type, aggregator: 'sum', values: values() }),
    reset: () => {},
  };
}

function requestCounter(protocols: ProtocolStats[]) {
  return customMetric('bpbroker_requests_total', 'API requests answered, by protocol, namespace, method and status', 'counter', () => {
    const out: MetricValue[] = [];
    for (const p of protocols)
      for (const [namespace, methods] of p.rows)
        for (const [method, row] of methods)
          for (const [status, n] of row.statuses) out.push({ value: n, labels: { protocol: p.protocol, namespace, method, status: String(status) } });
    return out;
  });
}

function requestHistogram(protocols: ProtocolStats[]) {
  const name = 'bpbroker_request_duration_seconds';
  return customMetric(name, 'API request latency, from the request read to the answer handed to the connection (a watch: its whole wait)', 'histogram', () => {
    const out: MetricValue[] = [];
    for (const p of protocols)
      for (const [namespace, methods] of p.rows)
        for (const [method, row] of methods) {
          if (row.count === 0) continue; // a row made in advance (gRPC, UDP) for calls not made yet
          const labels = { protocol: p.protocol, namespace, method };
          let acc = 0;
          LATENCY_BUCKETS.forEach((le, i) => {
            acc += row.buckets[i]!;
            out.push({ value: acc, labels: { ...labels, le }, metricName: `${name}_bucket` });
          });
          out.push({ value: row.count, labels: { ...labels, le: '+Inf' }, metricName: `${name}_bucket` });
          out.push({ value: row.sum, labels, metricName: `${name}_sum` });
          out.push({ value: row.count, labels, metricName: `${name}_count` });
        }
    return out;
  });
}
