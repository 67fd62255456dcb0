import type { Server as HttpServer } from 'node:http';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Broker } from '../core/Broker.js';
import { ConfigError } from '../config/ConfigError.js';
import type { BrokerConfig, Sections } from '../config/schema.js';
import { loadConfig } from '../config/loadConfig.js';
import { acquireLock } from '../config/lockFile.js';
import { configPathFrom, historyDirFor, journalDirFor, libDir } from '../config/paths.js';
import type { Logger } from '../log/Logger.js';
import { Registry } from '../store/embedded/Registry.js';
import { Snapshotter } from '../store/embedded/Snapshotter.js';
import type { Store } from '../core/Store.js';
import { openStore } from './openStore.js';
import { LiveSettings } from './LiveSettings.js';
import { startBackups } from '../app/backups.js';
import { loadOrCreateCertificate } from '../transport/certificate.js';
import { DiscoveryResponder } from '../transport/discovery.js';
import { createLegacyHttpServer } from '../transport/http/legacyHttpServer.js';
import { ConnectionLimit } from '../transport/connectionLimit.js';
import { StalledConnections } from '../transport/stalledConnections.js';
import { TlsListener } from '../transport/tlsListener.js';
import { createGrpcTransport, type GrpcTransport } from '../transport/grpc/createGrpcTransport.js';
import { createExtensionHost, type ExtensionHost } from '../extensions/ExtensionHost.js';
import { BrokerMetrics } from '../metrics/BrokerMetrics.js';
import { RecentErrors } from '../log/RecentErrors.js';
import type { BrokerOverview } from '../core/overview.js';
import { credentials as grpcServerCredentials } from './grpcCredentials.js';
import { apiSettings, backupSettings, grpcListenPort, grpcSettings, registrySettings, workerSettings } from './settings.js';
import { extensionStatuses } from './extensionStatus.js';
import { removeStatus, writeStatus } from './statusFile.js';

export interface BrokerServerOptions {
  home: string;
  configPath?: string | undefined;
  /** Command-line settings (`--port`, `--listen-ip`): used for this run, not written to the file. */
  overrides?: Sections | undefined;
  /** Development folders of extensions (`start --watch DIR`), served beside $BPBROKER_HOME/lib. */
  watchDirs?: string[] | undefined;
  /** Development mode (`start --dev`; `--watch` implies it): failed extension calls answer their stack too. */
  dev?: boolean | undefined;
  log: Logger;
  /** The log's warnings and errors, kept for the dashboard (createLogger's `problems`); none without it. */
  recentErrors?: RecentErrors | undefined;
}

/** The running pieces of a broker, stopped in reverse order of start. */
interface Parts {
  broker: Broker<BrokerConfig>;
  configPath: string;
  listenIp: string;
  /** bpbroker.json and its journal: the embedded store's entries, and the settings whatever the backend. */
  registry: Registry;
  /** Where entries are served from: the embedded registry, or etcd. */
  store: Store;
  snapshotter: Snapshotter;
  tls: TlsListener;
  http: HttpServer;
  discovery: DiscoveryResponder;
  grpc: GrpcTransport;
  extensions: ExtensionHost;
  backups: { stop(): void };
  /** The separate gRPC port when `grpc.listen_port` sets one; else the TLS port. */
  grpcPort: number;
  releaseLock: () => void;
  log: Logger;
}

/**
 * A running broker: the registry and its file, the core, and the transports on one port number
 * (TLS on TCP for HTTP/1.1 and h2, discovery on UDP).
 */
export class BrokerServer {
  private stopping: Promise<void> | undefined;
  private readonly startedAt = new Date();

  private readonly statusTimer: NodeJS.Timeout;

  private constructor(private readonly parts: Parts) {
    parts.snapshotter.onSnapshot = () => this.publishStatus();
    // Extensions reload without registry writes: refresh the status now and then too.
    this.statusTimer = setInterval(() => this.publishStatus(), 5000).unref();
  }

  get broker(): Broker {
    return this.parts.broker;
  }

  get configPath(): string {
    return this.parts.configPath;
  }

  get grpcPort(): number {
    return this.parts.grpcPort;
  }

  static async start(opts: BrokerServerOptions): Promise<BrokerServer> {
    const recentErrors = opts.recentErrors ?? new RecentErrors();
    const log = opts.log;
    // The lock first, then the file: a configure or restore that finished just before must be read, not overwritten.
    const configPath = configPathFrom(opts.home, opts.configPath);
    mkdirSync(dirname(configPath), { recursive: true, mode: 0o755 });
    const lock = await acquireLock(configPath, 'broker');
    const releaseLock = (): void => lock.release();
    const cleanups: Array<() => Promise<void> | void> = [releaseLock];
    try {
      // A first start, or a mistyped --config: either way it should be visible where the registry will live.
      if (!existsSync(configPath) && !existsSync(journalDirFor(configPath))) log.info(`creating a new configuration at ${configPath}`);
      const loaded = loadConfig({ home: opts.home, configPath: opts.configPath, overrides: opts.overrides });
      for (const warning of loaded.warnings) log.warn(warning);
      const api = apiSettings(loaded.sections);
      const history = registrySettings(loaded.sections);
      // Rows of the request tables are made only for calls the broker serves: known once the core exists.
      let knownCall = (_namespace: string, _method: string): boolean => false;
      const metrics = new BrokerMetrics((namespace, method) => knownCall(namespace, method));
      const registry = await Registry.open({
        journalDir: journalDirFor(loaded.path),
        snapshot: { revision: loaded.revision, entries: loaded.entries.values() },
        history: { dir: historyDirFor(loaded.path), maxRevisions: history.historyRevisions, maxBytes: history.historyBytes },
        log,
        onTornTail: (file, bytes) => log.warn('dropped a torn journal tail left by a crash', { file, bytes }),
        onJournalFailure: (err) => log.error('journal cannot be written; refusing writes until it can', { err: err.message }),
        onJournalBatch: (seconds) => metrics.journalFsync.observe(seconds),
      });
      cleanups.push(() => registry.close());
      // The file's sections as this run last changed them (`bpbroker configure` while running: LiveSettings).
      let fileSections = (): Sections => loaded.fileSections;
      const snapshotter = new Snapshotter(loaded.path, registry, () => fileSections(), log, { fileRevision: loaded.upToDate ? loaded.revision : undefined });
      registry.startLeases(loaded.lapsed);
      registry.onChange = () => snapshotter.schedule();
      snapshotter.onDuration = (seconds) => metrics.snapshot.observe(seconds);
      // Fold any journal left by the last run into the file, which then also holds every default. A file
      // that already holds all of it is not rewritten: with 100,000 entries that write was a quarter of start-up.
      if (!loaded.upToDate || registry.revision !== loaded.revision) await snapshotter.writeNow();

      const store = await openStore(loaded.sections, loaded.path, registry, log);
      if (store.kind === 'etcd') cleanups.push(() => store.close());
      const broker = new Broker(store, loaded.sections, api);
      const live = new LiveSettings(loaded.fileSections, opts.overrides, broker, () => snapshotter.writeNow(), log);
      fileSections = () => live.fileSections;
      knownCall = (namespace, method) => broker.isKnownCall(namespace, method);
      const worker = workerSettings(loaded.sections, dirname(loaded.path));
      if (opts.dev) log.warn('development mode: failed extension calls answer their stack to the caller (never use it in production)');
      let republish = (): void => undefined;
      const extensions = await createExtensionHost({
        broker,
        // A folder under development (--watch) wins over an installed copy of the same name (a warning says so).
        dirs: [...(opts.watchDirs ?? []).map((d) => resolve(d)), libDir(opts.home), ...worker.extensionDirs],
        watch: true,
        defaultTimeoutMs: worker.timeoutMs,
        memoryMb: worker.memoryMb,
        dev: opts.dev === true,
        openDirs: (opts.watchDirs ?? []).map((d) => resolve(d)),
        observer: {
          called: (namespace, method, outcome) => {
            metrics.extensionCalls.inc({ namespace, method });
            if (outcome !== 'ok') metrics.extensionErrors.inc({ namespace, method });
            if (outcome === 'timeout') metrics.extensionTimeouts.inc({ namespace, method });
          },
          loaded: (namespace, ok) => {
            metrics.extensionReloads.inc({ namespace, result: ok ? 'ok' : 'failed' });
            // `bpbroker status` shows a reload, or why it failed, at once.
            republish();
          },
          checked: () => republish(),
        },
        log,
      });
      broker.attachExtensions(extensions);
      cleanups.push(() => extensions.close());
      const tlsMaterial = await loadOrCreateCertificate(opts.home, loaded.sections.api, log);
      // Filled in once the ports are bound; the dashboard is served only after that.
      const overview: BrokerOverview = { pid: process.pid, startedAt: new Date().toISOString(), config: loaded.path, listenIp: api.host, port: 0, grpcPort: 0 };
      const http = createLegacyHttpServer(broker, api, log, {
        stats: metrics.protocols.legacy,
        operations: {
          metrics,
          notReady: () => broker.notReady(),
          registry: () => ({ backend: store.kind, problem: store.problem }),
          adminKey: api.adminKey,
          reconfigure: (input, inputName) => live.apply(input, inputName),
          dashboard: { broker, overview: () => overview, extensions: () => extensions.list(), recentErrors: () => recentErrors.list() },
        },
      });

      // One budget for every TLS connection, on the API port and on a separate gRPC port; on both, a client
      // that leaves answers unread past the response timeout loses its connection.
      const connections = new ConnectionLimit(api.maxConnections, log);
      const stalled = new StalledConnections(api.responseTimeoutMs, log);
      cleanups.push(() => stalled.close());
      const grpc = createGrpcTransport(broker, log, {
        idleTimeoutMs: api.idleTimeoutMs,
        maxConcurrentStreams: grpcSettings(loaded.sections).maxConcurrentStreams,
        requestTimeoutMs: api.requestTimeoutMs,
        responseTimeoutMs: api.responseTimeoutMs,
        connections,
        stalled,
        stats: metrics.protocols.grpc,
      });
      cleanups.push(() => grpc.close());
      const separateGrpcPort = grpcListenPort(loaded.sections);
      const { tls, discovery } = await bindPorts(api.port, (port) =>
        TlsListener.listen({
          host: api.host,
          port,
          cert: tlsMaterial.cert,
          key: tlsMaterial.key,
          handshakeTimeoutMs: api.headersTimeoutMs,
          log,
          connections,
          stalled,
          onHttp1: (socket) => http.emit('connection', socket),
          onH2: separateGrpcPort === undefined ? (socket) => grpc.inject(socket) : undefined,
        }),
        (port) => DiscoveryResponder.bind(broker, api.host, port, log, metrics.protocols.udp),
      );
      cleanups.push(() => tls.close(), () => discovery.close());
      const grpcPort =
        separateGrpcPort === undefined
          ? tls.port
          : await grpc.listenSeparate(api.host, separateGrpcPort, grpcServerCredentials(tlsMaterial));
      overview.port = tls.port;
      overview.grpcPort = grpcPort;
      metrics.attach({
        entries: () => store.size,
        registryBytes: () => store.budget?.totalBytes,
        openConnections: () => connections.count,
        watchers: () => store.watchersWaiting,
        leases: () => store.leaseCount,
        extensionsLoaded: () => extensions.list().filter((e) => e.methods.length > 0).length,
        storageAvailable: () => store.problem === undefined,
      });
      log.info('broker listening', { address: api.host || '*', port: tls.port, grpcPort, config: loaded.path, registry: store.kind, entries: store.size });
      const backups = startBackups({ configPath: loaded.path, ...backupSettings(loaded.sections), log });
      const server = new BrokerServer({ broker, configPath: loaded.path, listenIp: api.host, registry, store, snapshotter, tls, http, discovery, grpc, extensions, backups, grpcPort, releaseLock, log });
      server.publishStatus();
      republish = () => server.publishStatus();
      return server;
    } catch (err) {
      for (const c of cleanups.reverse()) await c();
      throw err;
    }
  }

  get port(): number {
    return this.parts.tls.port;
  }

  /** Rewrites the status file `bpbroker status` reads; failures only cost the status display. */
  publishStatus(): void {
    const { store, log } = this.parts;
    if (this.stopping) return;
    void writeStatus(this.configPath, {
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      config: this.configPath,
      listenIp: this.parts.listenIp,
      port: this.port,
      grpcPort: this.grpcPort,
      entries: store.size,
      revision: store.revision,
      registry: {
        backend: store.kind,
        ...(store.kind === 'etcd' ? { etcd: { endpoints: this.parts.broker.settings.registry.etcd_endpoints, prefix: this.parts.broker.settings.registry.etcd_prefix } } : {}),
        ...(store.problem !== undefined ? { problem: store.problem } : {}),
      },
      extensions: extensionStatuses(this.parts.extensions.list(), this.parts.broker.settings),
    }).catch((err: unknown) => log.debug('cannot write the status file', { err }));
  }

  /**
   * Graceful stop: stop accepting, let requests in flight finish (up to `graceMs`), write the file, release.
   */
  stop(graceMs = 10_000): Promise<void> {
    this.stopping ??= this.doStop(graceMs);
    return this.stopping;
  }

  private async doStop(graceMs: number): Promise<void> {
    const { tls, http, discovery, grpc, extensions, snapshotter, registry, store, log } = this.parts;
    log.info('broker stopping');
    clearInterval(this.statusTimer);
    this.parts.backups.stop();
    grpc.setServing(false);
    const closed = tls.close();
    await discovery.close();
    const grpcClosed = grpc.close();
    const idle = setInterval(() => http.closeIdleConnections(), 50);
    http.closeIdleConnections();
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([Promise.all([closed, grpcClosed]), deadline]);
    clearInterval(idle);
    tls.destroyAll();
    await extensions.close();
    let saved: unknown;
    await snapshotter.close().catch((err: unknown) => (saved = err ?? new Error('unknown error')));
    if (store.kind === 'etcd') await store.close();
    await registry.close();
    removeStatus(this.configPath);
    this.parts.releaseLock();
    if (saved !== undefined) {
      // What is on disk is left as it is: the journal and the last bpbroker.json still hold what they held.
      const reason = saved instanceof Error ? saved.message : String(saved);
      log.error('broker stopped without saving the registry', { file: this.configPath, err: reason });
      throw new ConfigError(`The registry could not be saved to ${this.configPath} on stop (${reason}); the files on disk were left as they were.`);
    }
    log.info('broker stopped');
  }
}

/**
 * TCP and UDP share one port number. With port 0 (tests, several brokers on one host) the TCP port is
 * chosen by the system and UDP takes the same number, retrying when that number is taken on UDP.
 */
async function bindPorts<T extends { port: number; close(): Promise<void> }, U>(
  port: number,
  tcp: (port: number) => Promise<T>,
  udp: (port: number) => Promise<U>,
): Promise<{ tls: T; discovery: U }> {
  for (let attempt = 0; ; attempt++) {
    const tls = await tcp(port);
    try {
      return { tls, discovery: await udp(tls.port) };
    } catch (err) {
      await tls.close();
      if (port !== 0 || attempt >= 20) throw err;
    }
  }
}
